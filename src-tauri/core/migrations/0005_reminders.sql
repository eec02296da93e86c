-- Heartbeat and deadline reminders: the owner's "I opened it", and reminder bookkeeping.

ALTER TABLE reminder ADD COLUMN title TEXT;
-- A reminder made pointless before it fired (the phone app was opened, the sync was requested).
ALTER TABLE reminder ADD COLUMN cancelled_at INTEGER;
-- Fired late together with a newer one of its series (the computer was off): recorded, not shown.
ALTER TABLE reminder ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
CREATE INDEX reminder_due ON reminder (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;

-- Signs that the phone app was used, other than echoes (which are messages already).
CREATE TABLE heartbeat (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    source  TEXT NOT NULL CHECK (source IN ('ack', 'connect'))
);

CREATE INDEX message_phone_recent ON message (timestamp) WHERE origin = 'phone';

-- How the app reaches the owner and where the receiver listens (for `coexist doctor`).
CREATE TABLE runtime (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL,
    at     INTEGER NOT NULL
);
