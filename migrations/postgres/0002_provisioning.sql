-- Provisioning pipeline: each store keeps its provisioning record (the pinned plan and the
-- steps already done), so a crashed, restarted or retried job resumes at the first unfinished
-- step; each provision job carries its end-to-end deadline (extended while the cluster's
-- circuit breaker is open, so an outage delays stores instead of failing them).
ALTER TABLE stores ADD COLUMN progress TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN deadline_at TIMESTAMPTZ;
-- Claims look for due queued jobs and for running jobs whose lease expired.
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
