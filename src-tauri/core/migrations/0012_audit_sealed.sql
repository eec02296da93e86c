-- Entries sealed with the workspace's audit key (an HMAC with a key kept in the OS keyring), so
-- rewriting the chain needs the key, not only the database file.
ALTER TABLE audit ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
