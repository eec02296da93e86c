-- Full-text search over message text (FTS5). Contentless (the text lives in `message`), filled by
-- an indexer that catches up by message id before each search, so the webhook path and the
-- history import pay nothing for it. Edited and revoked messages are queued for re-indexing.
CREATE VIRTUAL TABLE message_fts USING fts5(text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');

CREATE TABLE search_dirty (
    message_id  INTEGER PRIMARY KEY
);
