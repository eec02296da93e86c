-- Rate cards from 2026-10-01 may carry a `service` column (it prices service messages; without it
-- they cost the utility rate). SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE rate_new (
    card_id   INTEGER NOT NULL REFERENCES rate_card (id) ON DELETE CASCADE,
    market    TEXT NOT NULL,
    category  TEXT NOT NULL
              CHECK (category IN ('marketing', 'utility', 'authentication', 'authentication_international', 'service')),
    price     TEXT NOT NULL,
    PRIMARY KEY (card_id, market, category)
);
INSERT INTO rate_new (card_id, market, category, price) SELECT card_id, market, category, price FROM rate;
DROP TABLE rate;
ALTER TABLE rate_new RENAME TO rate;
