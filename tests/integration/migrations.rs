//! Upgrading the control plane keeps its data: a database made by the release before day-two
//! operations (migrations up to stores' step times), holding a user, stores and their jobs, is
//! migrated by the current host; every row is still there and readable, the new statuses and
//! job kinds are accepted, and (SQLite, whose tables are rebuilt) every foreign key holds and
//! points at the rebuilt tables.

use std::borrow::Cow;

use sqlx::migrate::Migrator;
use storeplane::db::{AuditContext, JobKind, NewAudit, StorePatch, Transition};
use storeplane::domain::{StoreId, StoreStatus};
use storeplane_tests::app::{Backend, TestDatabase};

/// The migrations of the release before day-two operations.
fn before_day_two(all: Migrator, last: i64) -> Migrator {
    Migrator {
        migrations: Cow::Owned(
            all.migrations
                .iter()
                .filter(|m| m.version <= last)
                .cloned()
                .collect(),
        ),
        ..all
    }
}

const STORE: &str = "0123456789ab";

/// Rows the release before day two wrote: a user, a ready store with a finished provision
/// job, and a failed store whose retry is queued.
fn old_rows(timestamp: &str) -> Vec<String> {
    vec![
        format!(
            "INSERT INTO users (id, email, username, password_hash, role, created_at, updated_at) \
             VALUES ('u1', 'old@example.com', 'old', 'x', 'tenant', {timestamp}, {timestamp})"
        ),
        format!(
            "INSERT INTO stores (id, owner_id, name, engine, status, plugin_version, created_at, updated_at, progress) \
             VALUES ('{STORE}', 'u1', 'old-shop', 'woocommerce', 'ready', '0.1.0', {timestamp}, {timestamp}, '{{}}')"
        ),
        format!(
            "INSERT INTO stores (id, owner_id, name, engine, status, created_at, updated_at) \
             VALUES ('ba9876543210', 'u1', 'broken', 'medusa', 'failed', {timestamp}, {timestamp})"
        ),
        format!(
            "INSERT INTO jobs (store_id, kind, state, run_after, created_at, updated_at) \
             VALUES ('{STORE}', 'provision', 'done', {timestamp}, {timestamp}, {timestamp})"
        ),
        format!(
            "INSERT INTO jobs (store_id, kind, state, run_after, created_at, updated_at) \
             VALUES ('ba9876543210', 'provision', 'queued', {timestamp}, {timestamp}, {timestamp})"
        ),
    ]
}

async fn migrate_a_populated_database(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    match backend {
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = database
                .url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .expect("url")
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
            before_day_two(sqlx::migrate!("../migrations/sqlite"), 3)
                .run(&pool)
                .await
                .expect("the old migrations");
            for sql in old_rows("'2026-01-01T00:00:00Z'") {
                sqlx::query(&sql).execute(&pool).await.expect("old rows");
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.expect("open");
            before_day_two(sqlx::migrate!("../migrations/postgres"), 4)
                .run(&pool)
                .await
                .expect("the old migrations");
            for sql in old_rows("now()") {
                sqlx::query(&sql).execute(&pool).await.expect("old rows");
            }
            pool.close().await;
        }
    }

    // The current host migrates it.
    let db = storeplane::db::connect(&database.url)
        .await
        .expect("connect");
    db.migrate()
        .await
        .expect("day-two migrations on a populated database");
    let id = StoreId::parse(STORE).expect("id");
    let store = db
        .store(&id)
        .await
        .expect("read")
        .expect("the store is kept");
    assert_eq!(
        (store.name.as_str(), store.status),
        ("old-shop", StoreStatus::Ready)
    );
    assert!(!store.pinned);
    let broken = StoreId::parse("ba9876543210").expect("id");
    let job = db
        .open_job(&broken)
        .await
        .expect("read")
        .expect("the queued job is kept");
    assert_eq!(job.kind, JobKind::Provision.as_str());
    assert_eq!(
        db.count_jobs()
            .await
            .expect("count")
            .iter()
            .map(|(_, _, n)| n)
            .sum::<i64>(),
        2
    );
    // The new status and job kind are accepted.
    let upgrading = db
        .transition_store(Transition {
            store_id: id.clone(),
            from: StoreStatus::Ready,
            expected_version: store.version,
            to: StoreStatus::Upgrading,
            patch: StorePatch::default(),
            audit: NewAudit::new(
                AuditContext::default(),
                "store.upgrade_requested",
                "upgrade",
            ),
            cancel_open_job: false,
            enqueue: Some(JobKind::Upgrade),
        })
        .await
        .expect("ready -> upgrading with an upgrade job");
    assert_eq!(upgrading.status, StoreStatus::Upgrading);
    db.close().await;

    if backend == Backend::Sqlite {
        let pool = sqlx::SqlitePool::connect(&database.url)
            .await
            .expect("open");
        let broken: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(&pool)
            .await
            .expect("check");
        assert!(broken.is_empty(), "foreign keys hold: {broken:?}");
        let jobs: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'jobs'")
            .fetch_one(&pool)
            .await
            .expect("schema");
        assert!(
            jobs.contains("REFERENCES \"stores\"") && !jobs.contains("rebuilt"),
            "jobs refer to the rebuilt stores table by its name: {jobs}"
        );
        pool.close().await;
    }
}

#[tokio::test]
async fn a_populated_sqlite_database_migrates_to_day_two() {
    migrate_a_populated_database(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_populated_postgres_database_migrates_to_day_two() {
    migrate_a_populated_database(Backend::Postgres).await;
}
