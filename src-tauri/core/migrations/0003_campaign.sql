-- Campaigns: a template to a frozen audience with frozen parameters.

CREATE TABLE campaign (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    template_name   TEXT NOT NULL,
    language        TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'draft'
                    CHECK (state IN ('draft', 'running', 'paused', 'cancelled', 'stopped')),
    audience        TEXT NOT NULL,      -- how the audience was chosen, for the record
    scheduled_at    INTEGER,            -- unix seconds; none: as soon as launched
    created_at      INTEGER NOT NULL,
    launched_at     INTEGER,
    stopped_reason  TEXT
);

CREATE TABLE campaign_recipient (
    campaign_id  INTEGER NOT NULL REFERENCES campaign (id),
    contact_id   INTEGER NOT NULL REFERENCES contact (id),
    params       TEXT NOT NULL DEFAULT '[]',   -- [[key, value], …], frozen at creation
    outbox_id    INTEGER REFERENCES outbox (id),
    PRIMARY KEY (campaign_id, contact_id)
);
