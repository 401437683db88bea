-- A store its owner pinned to its engine version: rollouts pass it by unless the administrator
-- includes pinned stores (a security fix).
ALTER TABLE stores ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT 0;

-- Rollouts: an engine version taken to existing stores in waves (a canary, then batches),
-- each member store's state kept here so the rollout survives restarts and is shared by
-- replicas (one drives it at a time, under a lease; the upgrades themselves are jobs).
CREATE TABLE rollouts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    engine           TEXT NOT NULL,
    version          TEXT NOT NULL,
    digest           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('running', 'paused', 'aborting', 'stopped', 'aborted', 'completed')),
    settings         TEXT NOT NULL DEFAULT '{}',
    reason           TEXT,
    created_by       TEXT,
    next_batch_at    TEXT,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
-- One rollout at a time per engine (a stopped, aborted or completed one no longer counts).
CREATE UNIQUE INDEX rollouts_one_active_per_engine ON rollouts (engine) WHERE state IN ('running', 'paused', 'aborting');

CREATE TABLE rollout_stores (
    rollout_id   INTEGER NOT NULL REFERENCES rollouts (id),
    store_id     TEXT NOT NULL REFERENCES stores (id),
    position     INTEGER NOT NULL,
    batch        INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'upgrading', 'upgraded', 'failed', 'skipped', 'reverting', 'reverted')),
    from_version TEXT NOT NULL,
    from_digest  TEXT NOT NULL,
    detail       TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (rollout_id, store_id)
);
CREATE INDEX rollout_stores_order ON rollout_stores (rollout_id, position);
