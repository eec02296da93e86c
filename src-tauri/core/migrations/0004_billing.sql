-- Billing: rate cards, the calling-code map, volume tiers, billing settings and the ledger.
-- Amounts are exact decimals stored as text (never REAL).

CREATE TABLE rate_card (
    id           INTEGER PRIMARY KEY,
    currency     TEXT NOT NULL,
    effective    TEXT NOT NULL,      -- YYYY-MM-DD (UTC) from which the card applies
    source       TEXT NOT NULL,      -- file name, or 'sample' for the card shipped with the app
    sample       INTEGER NOT NULL DEFAULT 0,
    imported_at  INTEGER NOT NULL,
    UNIQUE (currency, effective)
);

-- One price per market and category; a missing row means "not offered".
CREATE TABLE rate (
    card_id   INTEGER NOT NULL REFERENCES rate_card (id) ON DELETE CASCADE,
    market    TEXT NOT NULL,
    category  TEXT NOT NULL CHECK (category IN ('marketing', 'utility', 'authentication', 'authentication_international')),
    price     TEXT NOT NULL,
    PRIMARY KEY (card_id, market, category)
);

CREATE TABLE volume_tier (
    card_id   INTEGER NOT NULL REFERENCES rate_card (id) ON DELETE CASCADE,
    market    TEXT NOT NULL,
    category  TEXT NOT NULL,
    from_n    INTEGER NOT NULL,
    to_n      INTEGER,               -- none: no upper bound
    price     TEXT NOT NULL,
    PRIMARY KEY (card_id, market, category, from_n)
);

CREATE TABLE market_map (
    calling_code  TEXT PRIMARY KEY,
    market        TEXT NOT NULL
);

CREATE TABLE setting (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- One row per outbound API or phone message: its charge under the rules of its date.
CREATE TABLE ledger (
    message_id         INTEGER PRIMARY KEY REFERENCES message (id),
    at                 INTEGER NOT NULL,   -- when it counts: delivery for charged templates, else sent
    month              TEXT NOT NULL,      -- YYYY-MM of `at` (UTC), for volume tiers
    contact_id         INTEGER,
    origin             TEXT NOT NULL CHECK (origin IN ('api', 'phone')),
    market             TEXT NOT NULL,
    category           TEXT NOT NULL,      -- Meta's reported category where there is one
    pricing_model      TEXT NOT NULL,
    pricing_type       TEXT NOT NULL,
    charged            INTEGER NOT NULL,   -- counts in the bill
    amount             TEXT NOT NULL,      -- card price when charged, else 0 (volume tiers apply in reports)
    tiered             INTEGER NOT NULL DEFAULT 0,
    savings            TEXT NOT NULL DEFAULT '0',  -- phone messages: what the API would have cost
    currency           TEXT NOT NULL,
    card_id            INTEGER,
    rule               TEXT NOT NULL,
    conversation_key   TEXT,               -- CBP: the conversation this message opened or joined
    computed_billable  INTEGER NOT NULL,
    computed_category  TEXT NOT NULL,
    computed_type      TEXT NOT NULL,
    reported           INTEGER NOT NULL,
    disagreement       TEXT
);
CREATE INDEX ledger_month ON ledger (month, market, category) WHERE charged = 1 AND tiered = 1;
CREATE INDEX ledger_disagreement ON ledger (at) WHERE disagreement IS NOT NULL;

-- The ledger summed per UTC day and group, kept in step with it by the refresh (old row out,
-- new row in, same transaction), so a monthly report reads a few hundred rows, not a million.
CREATE TABLE ledger_day (
    day            INTEGER NOT NULL,   -- unix day number (at / 86400)
    origin         TEXT NOT NULL,
    category       TEXT NOT NULL,
    market         TEXT NOT NULL,
    charged        INTEGER NOT NULL,
    tiered         INTEGER NOT NULL,
    amount         TEXT NOT NULL,
    savings        TEXT NOT NULL,
    month          TEXT NOT NULL,
    n              INTEGER NOT NULL,
    disagreements  INTEGER NOT NULL,
    PRIMARY KEY (day, origin, category, market, charged, tiered, amount, savings)
) WITHOUT ROWID;
CREATE INDEX ledger_cbp ON ledger (contact_id, at) WHERE pricing_model = 'CBP';

-- Messages whose charge must be (re)computed. New API and phone messages and late customer
-- messages are marked by the code that writes them (`billing::mark_*`); status and pricing changes
-- by the trigger below. No INSERT trigger on `message`: it would slow the history import, which
-- never needs pricing. A trigger tests for presence instead of INSERT OR IGNORE, because an outer
-- UPSERT's conflict handling would override the trigger's.
CREATE TABLE ledger_dirty (
    message_id  INTEGER PRIMARY KEY
);

CREATE TRIGGER ledger_dirty_status AFTER UPDATE OF status, delivered_at, pricing_billable, pricing_category,
    pricing_type, conversation_id, template_category ON message
WHEN NEW.origin IN ('api', 'phone')
BEGIN
    INSERT INTO ledger_dirty (message_id)
        SELECT NEW.id WHERE NOT EXISTS (SELECT 1 FROM ledger_dirty WHERE message_id = NEW.id);
END;

CREATE INDEX message_conversation ON message (conversation_id) WHERE conversation_id IS NOT NULL;
