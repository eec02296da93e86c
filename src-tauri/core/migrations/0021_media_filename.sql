-- A document's own name as the customer or the phone sent it ("invoice-7.pdf"), kept apart from
-- its caption so the window can show it and "Save a copy" can use it.
ALTER TABLE message ADD COLUMN media_filename TEXT;

-- Before, a document without a caption showed its name as its text: take that as its name.
UPDATE message SET media_filename = text
WHERE type = 'document' AND media_filename IS NULL AND text LIKE '%_.__%' AND text NOT LIKE '% %';
