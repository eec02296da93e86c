-- A queued send held back for the owner to review (after a restore from a backup: what was
-- queued when the backup was taken may have gone out since). The dispatcher leaves it alone.
ALTER TABLE outbox ADD COLUMN held_reason TEXT;
