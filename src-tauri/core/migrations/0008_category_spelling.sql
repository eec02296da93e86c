-- One spelling per pricing category: statuses journaled before categories were normalised on entry
-- may hold Meta's hyphenated or upper-case spellings (`authentication-international`). Updating
-- them marks the messages for repricing through the ledger_dirty_status trigger.
UPDATE message
SET pricing_category = lower(replace(replace(trim(pricing_category), '-', '_'), ' ', '_'))
WHERE pricing_category IS NOT NULL
  AND pricing_category != lower(replace(replace(trim(pricing_category), '-', '_'), ' ', '_'));
