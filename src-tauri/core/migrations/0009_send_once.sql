-- Nothing twice (issue 14).

-- A recipient the launch could not queue (opted out since the campaign was created, known only by
-- a username, …) is recorded with the reason instead of aborting the launch.
ALTER TABLE campaign_recipient ADD COLUMN skipped_reason TEXT;

-- The database itself refuses a second outbox row for one recipient of one campaign, whatever
-- races above it (two launches at once from the window and the CLI). A trigger rather than a
-- unique index, so that a mirror which already holds such duplicates still opens.
CREATE INDEX outbox_campaign_contact ON outbox (campaign_id, contact_id) WHERE campaign_id IS NOT NULL;
CREATE TRIGGER outbox_once_per_campaign_recipient BEFORE INSERT ON outbox
WHEN NEW.campaign_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM outbox WHERE campaign_id = NEW.campaign_id AND contact_id IS NEW.contact_id)
BEGIN
    SELECT RAISE(ABORT, 'this campaign already has a message for this recipient');
END;
