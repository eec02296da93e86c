-- The local mirror of one WhatsApp Business number in coexistence mode.
-- Times are unix seconds (UTC). Migrations are additive only.

CREATE TABLE account (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    waba_id             TEXT,
    phone_number_id     TEXT,
    display_number      TEXT,
    country             TEXT,
    throughput_cap      INTEGER NOT NULL DEFAULT 20,
    onboarded_at        INTEGER,
    link_state          TEXT NOT NULL DEFAULT 'connected'
                        CHECK (link_state IN ('connected', 'dropped', 'offboarded')),
    link_reason         TEXT,
    link_changed_at     INTEGER,
    history_state       TEXT NOT NULL DEFAULT 'none'
                        CHECK (history_state IN ('none', 'in_progress', 'complete', 'declined')),
    history_progress    INTEGER NOT NULL DEFAULT 0,
    history_error       TEXT
);
INSERT INTO account (id) VALUES (1);

-- Sync requests (state sync, history): recorded before the call, never retried blindly.
CREATE TABLE sync_request (
    id          INTEGER PRIMARY KEY,
    sync_type   TEXT NOT NULL CHECK (sync_type IN ('smb_app_state_sync', 'history')),
    intent_at   INTEGER NOT NULL,
    request_id  TEXT,
    result      TEXT
);

-- Every webhook body exactly as received. Written once, never updated or deleted by the applier.
CREATE TABLE journal (
    seq          INTEGER PRIMARY KEY,
    received_at  INTEGER NOT NULL,
    sha256       TEXT NOT NULL UNIQUE,
    body         BLOB NOT NULL,
    signature    TEXT NOT NULL CHECK (signature IN ('valid', 'imported'))
);

-- What the applier made of each journaled body, in journal order. Kept apart from the body so
-- recording an outcome never rewrites a (possibly megabytes large) body.
CREATE TABLE journal_apply (
    seq          INTEGER PRIMARY KEY REFERENCES journal (seq),
    outcome      TEXT NOT NULL CHECK (outcome IN ('applied', 'failed', 'skipped')),
    applied_at   INTEGER NOT NULL,
    error        TEXT
);

-- History chunks seen, so progress and completeness do not depend on arrival order.
CREATE TABLE history_chunk (
    phase        INTEGER NOT NULL,
    chunk_order  INTEGER NOT NULL,
    progress     INTEGER NOT NULL,
    PRIMARY KEY (phase, chunk_order)
);

CREATE TABLE contact (
    id            INTEGER PRIMARY KEY,
    wa_id         TEXT UNIQUE,
    bsuid         TEXT UNIQUE,
    name          TEXT,          -- from the owner's address book (state sync) or typed by staff
    profile_name  TEXT,          -- the customer's own WhatsApp profile name
    username      TEXT,
    country       TEXT,
    vip           INTEGER NOT NULL DEFAULT 0,
    tags          TEXT NOT NULL DEFAULT '[]',
    assignee      TEXT,
    source        TEXT NOT NULL CHECK (source IN ('history', 'state_sync', 'message', 'manual')),
    created_at    INTEGER NOT NULL,
    removed_at    INTEGER,
    CHECK (wa_id IS NOT NULL OR bsuid IS NOT NULL)
);

-- Append-only consent events.
CREATE TABLE consent (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contact (id),
    kind        TEXT NOT NULL CHECK (kind IN ('opt_in', 'opt_out')),
    source      TEXT NOT NULL CHECK (source IN ('keyword', 'user_preferences', 'import', 'manual')),
    source_ref  TEXT UNIQUE,     -- e.g. the wamid that carried the keyword: applying twice adds nothing
    detail      TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX consent_contact ON consent (contact_id, at);

CREATE TABLE conversation (
    contact_id               INTEGER PRIMARY KEY REFERENCES contact (id),
    last_message_at          INTEGER,
    last_message_id          INTEGER,
    last_inbound_at          INTEGER,   -- customer-service window = last_inbound_at + 24 h
    free_entry_until         INTEGER,   -- 72 h free entry point after an ad / CTA referral
    unread                   INTEGER NOT NULL DEFAULT 0,
    assignee                 TEXT,
    automation_paused_until  INTEGER
);
CREATE INDEX conversation_recent ON conversation (last_message_at DESC);

CREATE TABLE message (
    id                 INTEGER PRIMARY KEY,
    wamid              TEXT NOT NULL UNIQUE,
    contact_id         INTEGER REFERENCES contact (id),
    direction          TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    origin             TEXT NOT NULL CHECK (origin IN ('customer', 'phone', 'api', 'history')),
    type               TEXT NOT NULL,
    text               TEXT,
    media_id           TEXT,
    media_mime         TEXT,
    media_sha256       TEXT,
    media_available    INTEGER NOT NULL DEFAULT 0,
    timestamp          INTEGER NOT NULL,
    status             TEXT CHECK (status IN ('sent', 'delivered', 'read', 'played', 'failed')),
    status_at          INTEGER,
    delivered_at       INTEGER,
    error_code         INTEGER,
    error              TEXT,
    edited             INTEGER NOT NULL DEFAULT 0,
    revoked            INTEGER NOT NULL DEFAULT 0,
    content_known      INTEGER NOT NULL DEFAULT 1,
    referral_source    TEXT,
    template_name      TEXT,
    template_category  TEXT,
    pricing_billable   INTEGER,
    pricing_model      TEXT,
    pricing_type       TEXT,
    pricing_category   TEXT,
    conversation_id    TEXT,
    conversation_origin TEXT,
    callback_data      TEXT,
    outbox_id          INTEGER
);
CREATE INDEX message_thread ON message (contact_id, timestamp DESC, id DESC);
CREATE INDEX message_time ON message (timestamp);

-- Edits and revokes, kept as events so the history of an edit survives and an edit that arrives
-- before its original still lands once the original does.
CREATE TABLE message_edit (
    wamid          TEXT PRIMARY KEY,     -- the edit/revoke event's own id
    original_wamid TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('edit', 'revoke')),
    new_text       TEXT,
    previous_text  TEXT,
    at             INTEGER NOT NULL,
    applied        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX message_edit_original ON message_edit (original_wamid);

CREATE TABLE reminder (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    urgency          TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('normal', 'urgent')),
    source_ref       TEXT UNIQUE,
    detail           TEXT,
    due_at           INTEGER NOT NULL,
    fired_at         INTEGER,
    acknowledged_at  INTEGER
);
