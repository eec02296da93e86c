-- The journal also keeps what Coexist itself sent through the API (a record per accepted send),
-- so a replay rebuilds API messages, their text, template and category, and so their bill.
-- `meta`: a body Meta (or a file) delivered; `sent`: our own record of an accepted send.
ALTER TABLE journal ADD COLUMN source TEXT NOT NULL DEFAULT 'meta' CHECK (source IN ('meta', 'sent'));
