-- The calling-code → market map has effective dates: Meta moves countries between markets (nine
-- got their own rates on 2026-10-01; Zimbabwe joined "Rest of Africa" on 2025-10-01), and a
-- message is priced with the map of its date. effective_from 0: in force from the beginning.
CREATE TABLE market_map_dated (
    calling_code    TEXT NOT NULL,
    market          TEXT NOT NULL,
    effective_from  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (calling_code, effective_from)
);
INSERT INTO market_map_dated (calling_code, market) SELECT calling_code, market FROM market_map;
DROP TABLE market_map;
ALTER TABLE market_map_dated RENAME TO market_map;
-- A workspace that already holds a map learns the 2026-10-01 moves (Meta's pricing page).
INSERT OR IGNORE INTO market_map (calling_code, market, effective_from)
SELECT column1, column2, 1790812800 FROM (VALUES
    ('880', 'Bangladesh'), ('964', 'Iraq'), ('977', 'Nepal'), ('94', 'Sri Lanka'),
    ('76', 'Kazakhstan'), ('77', 'Kazakhstan'), ('965', 'Kuwait'), ('212', 'Morocco'),
    ('968', 'Oman'), ('380', 'Ukraine'))
WHERE EXISTS (SELECT 1 FROM market_map);
