-- Numbers with No Storage: Meta keeps their media for 1 hour, not 7 days. The owner says so in
-- Settings (setting `media.no_storage` = '1'); a download's deadline follows it.
DROP TRIGGER media_enqueue_insert;
DROP TRIGGER media_enqueue_update;

CREATE TRIGGER media_enqueue_insert AFTER INSERT ON message WHEN NEW.media_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO media_download (message_id, media_id, expires_at, updated_at)
    VALUES (NEW.id, NEW.media_id,
            NEW.timestamp + CASE WHEN (SELECT value FROM setting WHERE key = 'media.no_storage') = '1'
                                 THEN 3600 ELSE 7 * 86400 END,
            NEW.timestamp);
END;

CREATE TRIGGER media_enqueue_update AFTER UPDATE OF media_id ON message
WHEN NEW.media_id IS NOT NULL AND NEW.media_id IS NOT OLD.media_id
BEGIN
    INSERT INTO media_download (message_id, media_id, expires_at, updated_at)
    VALUES (NEW.id, NEW.media_id,
            NEW.timestamp + CASE WHEN (SELECT value FROM setting WHERE key = 'media.no_storage') = '1'
                                 THEN 3600 ELSE 7 * 86400 END,
            NEW.timestamp)
    ON CONFLICT (message_id) DO UPDATE SET media_id = excluded.media_id, expires_at = excluded.expires_at,
        state = 'queued', attempts = 0, next_attempt_ms = 0, error = NULL;
END;
