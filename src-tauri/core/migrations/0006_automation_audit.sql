-- Automation with human takeover, the hash-chained audit log, and desk profiles.

-- Append-only and hash-chained: each entry's hash covers its content and the previous hash, so an
-- edited, deleted or reordered entry breaks the chain (`coexist audit verify`).
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT,
    details    TEXT NOT NULL DEFAULT '{}',
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Who works at this desktop: one owner, any number of front-desk profiles.
CREATE TABLE profile (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'desk')),
    created_at  INTEGER NOT NULL
);

-- Where an API send came from, and who asked for it.
ALTER TABLE outbox ADD COLUMN source TEXT NOT NULL DEFAULT 'desk';
ALTER TABLE outbox ADD COLUMN actor TEXT;

-- Each live customer message automation has looked at, once (a crash never answers twice).
CREATE TABLE automation_seen (
    message_id  INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL
);

-- "No reply in N hours → send template X", cancelled as soon as anyone writes in the chat.
CREATE TABLE follow_up (
    id               INTEGER PRIMARY KEY,
    contact_id       INTEGER NOT NULL REFERENCES contact (id),
    rule             TEXT NOT NULL,
    template_name    TEXT NOT NULL,
    language         TEXT NOT NULL,
    after_message_id INTEGER NOT NULL,
    after_at         INTEGER NOT NULL,
    due_at           INTEGER NOT NULL,
    state            TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'sent', 'cancelled', 'failed')),
    outbox_id        INTEGER,
    detail           TEXT,
    UNIQUE (rule, after_message_id)
);
CREATE INDEX follow_up_waiting ON follow_up (due_at) WHERE state = 'waiting';

-- When the away message was last sent to a contact (once per period, not per message).
CREATE TABLE away_sent (
    contact_id  INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL
);
