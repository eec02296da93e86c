-- A parent BSUID (`US.ENT.…`, Meta's id of one person across linked business portfolios): echoes
-- to username-only customers may carry it beside `to_user_id`. It finds the customer's one
-- contact; it is not unique in Meta's model, so it is only indexed.
ALTER TABLE contact ADD COLUMN parent_bsuid TEXT;
CREATE INDEX contact_parent_bsuid ON contact (parent_bsuid) WHERE parent_bsuid IS NOT NULL;

-- A file's words are its caption only: a caption-less document used to take its name as its text,
-- which mixed file names into search, exports and reports. Its name stays in media_filename (or
-- in media_upload for the files the desk sent).
INSERT OR IGNORE INTO search_dirty (message_id)
SELECT id FROM message
WHERE type = 'document' AND text IS NOT NULL
  AND (text = media_filename
       OR text = (SELECT u.filename FROM media_upload u WHERE u.sha256 = message.media_sha256 LIMIT 1));
UPDATE message SET text = NULL
WHERE type = 'document' AND text IS NOT NULL
  AND (text = media_filename
       OR text = (SELECT u.filename FROM media_upload u WHERE u.sha256 = message.media_sha256 LIMIT 1));

-- Edits in Meta's documented shape (`edit.message`) were read as having no text and blanked their
-- message. The words before the first such edit are still in the edit's history: put them back
-- (a replay of the journal then brings the edited words too).
INSERT OR IGNORE INTO search_dirty (message_id)
SELECT id FROM message
WHERE edited = 1 AND text IS NULL
  AND NOT EXISTS (SELECT 1 FROM message_edit e WHERE e.original_wamid = message.wamid AND e.kind = 'edit'
                  AND e.new_text IS NOT NULL);
UPDATE message SET text = (SELECT e.previous_text FROM message_edit e
                           WHERE e.original_wamid = message.wamid AND e.kind = 'edit' AND e.previous_text IS NOT NULL
                           ORDER BY e.at, e.wamid LIMIT 1)
WHERE edited = 1 AND text IS NULL
  AND NOT EXISTS (SELECT 1 FROM message_edit e WHERE e.original_wamid = message.wamid AND e.kind = 'edit'
                  AND e.new_text IS NOT NULL);

-- History's `ERROR` and `PENDING` are statuses of their own (DESIGN §4): `pending` = the phone never
-- sent it, `error` = it failed there. The CHECK of message.status is widened in place: SQLite's
-- documented way for a change that no stored row can violate (rebuilding the table would rewrite
-- every message). RESET makes this connection read the new schema at once; the index created
-- above bumps the schema cookie, so every other connection reads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'status IN (''sent'', ''delivered'', ''read'', ''played'', ''failed'')',
                       'status IN (''sent'', ''delivered'', ''read'', ''played'', ''failed'', ''error'', ''pending'')')
WHERE type = 'table' AND name = 'message';
PRAGMA writable_schema = RESET;
