-- Day-two operations: a store can be upgraded (another engine version, or new options such as
-- its size), suspended and resumed. New statuses: upgrading, suspending, suspended, resuming;
-- new job kinds: upgrade, suspend, resume.
ALTER TABLE stores DROP CONSTRAINT stores_status_check;
ALTER TABLE stores ADD CONSTRAINT stores_status_check CHECK (status IN ('requested', 'provisioning',
    'ready', 'failed', 'upgrading', 'suspending', 'suspended', 'resuming', 'deleting', 'deleted'));
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('provision', 'delete', 'upgrade',
    'suspend', 'resume'));
