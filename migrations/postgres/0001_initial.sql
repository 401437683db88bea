-- storeplane schema, PostgreSQL dialect. Invariants the database can hold live here:
-- unique e-mails and usernames, one live store name per owner, one open job per store,
-- valid statuses, and the version column every transition compares and sets.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('tenant', 'admin')),
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE stores (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    engine          TEXT NOT NULL,
    options         TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL CHECK (status IN ('requested', 'provisioning', 'ready', 'failed', 'deleting', 'deleted')),
    version         BIGINT NOT NULL DEFAULT 1,
    plugin_version  TEXT,
    plugin_digest   TEXT,
    endpoints       TEXT NOT NULL DEFAULT '[]',
    failure_reason  TEXT,
    retry_count     INTEGER NOT NULL DEFAULT 0,
    current_step    TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    ready_at        TIMESTAMPTZ,
    deleted_at      TIMESTAMPTZ
);
-- A name is unique per owner among stores that are not deleted: a deleted name can be reused.
CREATE UNIQUE INDEX stores_owner_live_name ON stores (owner_id, name) WHERE status <> 'deleted';
CREATE INDEX stores_owner_created ON stores (owner_id, created_at DESC);
CREATE INDEX stores_status ON stores (status);

CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    created_at   TIMESTAMPTZ NOT NULL,
    actor_id     TEXT,
    store_id     TEXT,
    store_owner  TEXT,
    action       TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT,
    message      TEXT NOT NULL DEFAULT '',
    request_id   TEXT,
    ip           TEXT,
    details      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_store ON audit_events (store_id, id DESC);
CREATE INDEX audit_owner ON audit_events (store_owner, id DESC);
CREATE INDEX audit_actor ON audit_events (actor_id, id DESC);

CREATE TABLE jobs (
    id                BIGSERIAL PRIMARY KEY,
    store_id          TEXT NOT NULL REFERENCES stores (id),
    kind              TEXT NOT NULL CHECK (kind IN ('provision', 'delete')),
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    step              TEXT,
    step_index        INTEGER NOT NULL DEFAULT 0,
    attempt           INTEGER NOT NULL DEFAULT 0,
    run_after         TIMESTAMPTZ NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  TIMESTAMPTZ,
    last_error        TEXT,
    request_id        TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
-- At most one open job per store: a delete cancels the provision job in the same transaction.
CREATE UNIQUE INDEX jobs_one_open_per_store ON jobs (store_id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_claimable ON jobs (run_after) WHERE state = 'queued';

CREATE TABLE plugins (
    engine       TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    wasm         BYTEA NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('registered', 'active')),
    uploaded_by  TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (engine, version)
);
-- One active version per engine.
CREATE UNIQUE INDEX plugins_one_active ON plugins (engine) WHERE state = 'active';

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
