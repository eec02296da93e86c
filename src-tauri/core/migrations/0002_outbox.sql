-- Sending: every API send is an outbox row written before any network call.

CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY,
    contact_id        INTEGER REFERENCES contact (id),
    recipient         TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('text', 'template', 'image', 'document')),
    payload           TEXT NOT NULL,   -- the Graph API request body, callback token included
    text              TEXT,            -- what the thread shows for it
    template_name     TEXT,
    template_category TEXT,
    campaign_id       INTEGER,
    state             TEXT NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'dispatching', 'accepted', 'failed', 'uncertain', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms   INTEGER NOT NULL,
    wamid             TEXT,
    last_error_code   INTEGER,
    last_error        TEXT,
    callback_token    TEXT UNIQUE,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_ms);
CREATE INDEX outbox_wamid ON outbox (wamid);

-- Message templates as synced from the WhatsApp Business Account.
CREATE TABLE template (
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    language    TEXT NOT NULL,
    category    TEXT NOT NULL,
    status      TEXT NOT NULL,
    components  TEXT NOT NULL DEFAULT '[]',
    synced_at   INTEGER NOT NULL,
    PRIMARY KEY (name, language)
);

-- One dispatcher per workspace: whoever holds the lease sends; others only queue.
CREATE TABLE lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
);
