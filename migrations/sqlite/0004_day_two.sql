-- Day-two operations: a store can be upgraded (another engine version, or new options such as
-- its size), suspended and resumed. New statuses: upgrading, suspending, suspended, resuming;
-- new job kinds: upgrade, suspend, resume. SQLite cannot change a CHECK constraint, so
-- `stores` and `jobs` are rebuilt with the same columns and indexes. The order keeps every
-- foreign key satisfied throughout (foreign keys stay on): the new jobs table refers to the new
-- stores table, the old child goes before the old parent, and renaming the new stores table
-- renames the reference with it (SQLite 3.26 and later).

CREATE TABLE stores_rebuilt (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    engine          TEXT NOT NULL,
    options         TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL CHECK (status IN ('requested', 'provisioning', 'ready', 'failed',
                        'upgrading', 'suspending', 'suspended', 'resuming', 'deleting', 'deleted')),
    version         BIGINT NOT NULL DEFAULT 1,
    plugin_version  TEXT,
    plugin_digest   TEXT,
    endpoints       TEXT NOT NULL DEFAULT '[]',
    failure_reason  TEXT,
    retry_count     INTEGER NOT NULL DEFAULT 0,
    current_step    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    ready_at        TEXT,
    deleted_at      TEXT,
    progress        TEXT NOT NULL DEFAULT '{}',
    step_started_at TEXT
);
INSERT INTO stores_rebuilt SELECT * FROM stores;

CREATE TABLE jobs_rebuilt (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id          TEXT NOT NULL REFERENCES stores_rebuilt (id),
    kind              TEXT NOT NULL CHECK (kind IN ('provision', 'delete', 'upgrade', 'suspend', 'resume')),
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    step              TEXT,
    step_index        INTEGER NOT NULL DEFAULT 0,
    attempt           INTEGER NOT NULL DEFAULT 0,
    run_after         TEXT NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  TEXT,
    last_error        TEXT,
    request_id        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deadline_at       TEXT
);
INSERT INTO jobs_rebuilt SELECT * FROM jobs;

DROP TABLE jobs;
DROP TABLE stores;
ALTER TABLE stores_rebuilt RENAME TO stores;
ALTER TABLE jobs_rebuilt RENAME TO jobs;
CREATE UNIQUE INDEX stores_owner_live_name ON stores (owner_id, name) WHERE status <> 'deleted';
CREATE INDEX stores_owner_created ON stores (owner_id, created_at DESC);
CREATE INDEX stores_status ON stores (status);
CREATE UNIQUE INDEX jobs_one_open_per_store ON jobs (store_id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_claimable ON jobs (run_after) WHERE state = 'queued';
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
