-- Files the desk uploaded to send: Meta's media id, and the stored copy it came from, so the sent
-- message in the mirror shows the file without downloading it back.
CREATE TABLE media_upload (
    media_id     TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL REFERENCES media_file (sha256),
    mime         TEXT NOT NULL,
    filename     TEXT,
    uploaded_at  INTEGER NOT NULL
);
