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
CREATE INDEX ledger_report ON ledger (at, origin, category, market, charged, amount, savings, tiered);
CREATE INDEX ledger_cbp ON ledger (contact_id, at) WHERE pricing_model = 'CBP';

-- Messages whose charge must be (re)computed. Filled by triggers so every path that writes a
-- message (live webhook, replay, dispatcher) is covered; history rows never enter it.
CREATE TABLE ledger_dirty (
    message_id  INTEGER PRIMARY KEY
);

CREATE TRIGGER ledger_dirty_new AFTER INSERT ON message
WHEN NEW.origin IN ('api', 'phone')
BEGIN
    INSERT OR IGNORE INTO ledger_dirty (message_id) VALUES (NEW.id);
END;

CREATE TRIGGER ledger_dirty_known AFTER UPDATE OF origin ON message
WHEN NEW.origin IN ('api', 'phone') AND OLD.origin IS NOT NEW.origin
BEGIN
    INSERT OR IGNORE INTO ledger_dirty (message_id) VALUES (NEW.id);
END;

CREATE TRIGGER ledger_dirty_status AFTER UPDATE OF status, delivered_at, pricing_billable, pricing_category,
    pricing_type, conversation_id, template_category ON message
WHEN NEW.origin IN ('api', 'phone')
BEGIN
    INSERT OR IGNORE INTO ledger_dirty (message_id) VALUES (NEW.id);
END;

-- A customer message opens windows for what follows it (24 h service, 72 h free entry): when one
-- arrives late, the charges of the outbound messages after it are recomputed.
CREATE TRIGGER ledger_dirty_window AFTER INSERT ON message
WHEN NEW.origin = 'customer' AND NEW.contact_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO ledger_dirty (message_id)
        SELECT id FROM message
        WHERE contact_id = NEW.contact_id AND direction = 'outbound'
          AND timestamp >= NEW.timestamp AND timestamp <= NEW.timestamp + 259200;
END;

CREATE INDEX message_conversation ON message (conversation_id) WHERE conversation_id IS NOT NULL;
