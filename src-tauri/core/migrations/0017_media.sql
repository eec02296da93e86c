-- Media bytes kept in the workspace: Meta lets a media id be downloaded for 7 days only, so every
-- media message is queued for download as it enters the mirror, whichever way it came.
CREATE TABLE media_download (
    message_id       INTEGER PRIMARY KEY REFERENCES message (id),
    media_id         TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'downloading', 'done', 'expired', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL DEFAULT 0,
    -- Meta's 7 days from the message's time; a download is not tried after it.
    expires_at       INTEGER NOT NULL,
    error            TEXT,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX media_download_due ON media_download (state, next_attempt_ms);

-- Files stored once per content (sha256), under media/<first two hex>/<sha256>.
CREATE TABLE media_file (
    sha256     TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    mime       TEXT,
    stored_at  INTEGER NOT NULL
);

CREATE TRIGGER media_enqueue_insert AFTER INSERT ON message WHEN NEW.media_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO media_download (message_id, media_id, expires_at, updated_at)
    VALUES (NEW.id, NEW.media_id, NEW.timestamp + 7 * 86400, NEW.timestamp);
END;

-- A history placeholder whose real media arrives later (same wamid), or a changed media id.
CREATE TRIGGER media_enqueue_update AFTER UPDATE OF media_id ON message
WHEN NEW.media_id IS NOT NULL AND NEW.media_id IS NOT OLD.media_id
BEGIN
    INSERT INTO media_download (message_id, media_id, expires_at, updated_at)
    VALUES (NEW.id, NEW.media_id, NEW.timestamp + 7 * 86400, NEW.timestamp)
    ON CONFLICT (message_id) DO UPDATE SET media_id = excluded.media_id, state = 'queued', attempts = 0,
        next_attempt_ms = 0, error = NULL;
END;

-- Media messages already in the mirror: queued too (those past Meta's 7 days become expired,
-- with the reason, without a request).
INSERT OR IGNORE INTO media_download (message_id, media_id, expires_at, updated_at)
SELECT id, media_id, timestamp + 7 * 86400, timestamp FROM message WHERE media_id IS NOT NULL;
