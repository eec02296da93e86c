-- The portfolio's messaging limit (unique customers reached with templates outside a service
-- window per rolling 24 h), as Meta last reported it; NULL: unlimited, or not known yet.
ALTER TABLE account ADD COLUMN messaging_limit INTEGER;
ALTER TABLE account ADD COLUMN messaging_limit_tier TEXT;
ALTER TABLE account ADD COLUMN messaging_limit_at INTEGER;
-- When a send counted toward that limit (claimed as a template to a customer outside any window,
-- not reached in the 24 h before): the dispatcher's budget is the distinct recipients counted.
ALTER TABLE outbox ADD COLUMN limit_counted_at INTEGER;
CREATE INDEX outbox_limit_counted ON outbox (limit_counted_at) WHERE limit_counted_at IS NOT NULL;
