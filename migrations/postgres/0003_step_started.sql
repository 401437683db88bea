-- When the store's current provisioning or deletion step began, so that every viewer (and a
-- reloaded dashboard) shows the same elapsed time. Cleared when the store leaves the pipeline
-- (ready, failed, deleted); a retry starts its first step afresh.
ALTER TABLE stores ADD COLUMN step_started_at TIMESTAMPTZ;
