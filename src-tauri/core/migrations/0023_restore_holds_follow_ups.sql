-- A follow-up waiting in a restored backup may have gone out since the backup was taken: it comes
-- back held, like a queued send, until the owner checks the chat and releases it.
ALTER TABLE follow_up ADD COLUMN held_reason TEXT;
