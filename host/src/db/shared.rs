//! The [`Db`] methods whose SQL both dialects accept, written once: `$n` placeholders (which
//! sqlx's SQLite driver accepts too), `CAST($n AS TEXT) IS NULL` where PostgreSQL must be told
//! a parameter's type, `TRUE` for booleans. [`shared_db!`] implements them for a backend; what
//! really differs stays in `sqlite.rs` and `postgres.rs`: connecting, migrations, the change
//! feed, the id-list query, and how an owner's creates are serialized
//! (`serialize_creates_of`).

/// Settings key claimed by the first user ever created.
pub(super) const BOOTSTRAP_KEY: &str = "bootstrap_admin";

/// Implements [`Db`](super::Db) for backend `$db` on driver `$driver`, with the methods in
/// `{ … }` written by the backend itself. `$db` has a `pool`, a `begin_write()` transaction
/// and `serialize_creates_of(tx, owner)`; the invoking module has `is_unique_violation`, the
/// `db` prelude and the row types in scope. Also defines the module's `insert_audit`,
/// `insert_job` and `apply_transition`, which jobs and rollouts share.
macro_rules! shared_db {
    ($db:ty, $driver:ty, { $($own:tt)* }) => {
        pub(super) async fn insert_audit(tx: &mut sqlx::Transaction<'_, $driver>, event: &NewAudit) -> Result<()> {
            sqlx::query(
                "INSERT INTO audit_events (created_at, actor_id, store_id, store_owner, action, from_status, to_status, \
                 message, request_id, ip, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(Utc::now())
            .bind(event.context.actor_id.as_ref().map(|id| id.0.as_str()))
            .bind(event.store_id.as_ref().map(StoreId::as_str))
            .bind(event.store_owner.as_ref().map(|id| id.0.as_str()))
            .bind(&event.action)
            .bind(event.from_status.map(StoreStatus::as_str))
            .bind(event.to_status.map(StoreStatus::as_str))
            .bind(&event.message)
            .bind(event.context.request_id.as_deref())
            .bind(event.context.ip.as_deref())
            .bind(event.details.to_string())
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn insert_job(
            tx: &mut sqlx::Transaction<'_, $driver>,
            store: &StoreId,
            kind: JobKind,
            request_id: Option<&str>,
        ) -> Result<()> {
            let now = Utc::now();
            sqlx::query(
                "INSERT INTO jobs (store_id, kind, state, run_after, request_id, created_at, updated_at) \
                 VALUES ($1, $2, 'queued', $3, $4, $3, $3)",
            )
            .bind(store.as_str())
            .bind(kind.as_str())
            .bind(now)
            .bind(request_id)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// The compare-and-set UPDATE of a transition with its job cancellation, audit event and new
        /// job, inside `tx`; `None` when the store is not in (status, version). A cancelled job keeps
        /// its lease until its worker lets go, so a delete job waits for that worker (see `jobs`).
        pub(super) async fn apply_transition(
            tx: &mut sqlx::Transaction<'_, $driver>,
            t: &Transition,
            now: chrono::DateTime<Utc>,
        ) -> Result<Option<Store>> {
            let sql = format!(
                "UPDATE stores SET status = $4, version = version + 1, updated_at = $5, \
                     failure_reason = CASE WHEN $6 THEN $7 ELSE failure_reason END, \
                     endpoints = COALESCE($8, endpoints), \
                     retry_count = retry_count + CASE WHEN $9 THEN 1 ELSE 0 END, \
                     ready_at = CASE WHEN $4 = 'ready' AND $2 = 'provisioning' THEN $5 ELSE ready_at END, \
                     options = COALESCE($10, options), progress = COALESCE($11, progress), \
                     deleted_at = CASE WHEN $4 = 'deleted' THEN $5 ELSE deleted_at END, \
                     current_step = CASE WHEN $4 IN ('ready', 'suspended', 'deleted') THEN NULL ELSE current_step END, \
                     step_started_at = CASE WHEN $4 IN ('ready', 'failed', 'suspended', 'deleted') THEN NULL ELSE step_started_at END \
                     WHERE id = $1 AND status = $2 AND version = $3 RETURNING {STORE_COLUMNS}"
            );
            let row: Option<StoreRow> = sqlx::query_as(&sql)
                .bind(t.store_id.as_str())
                .bind(t.from.as_str())
                .bind(t.expected_version)
                .bind(t.to.as_str())
                .bind(now)
                .bind(t.patch.failure_reason.is_some())
                .bind(t.patch.failure_reason.clone().flatten())
                .bind(t.patch.endpoints.as_ref().map(ToString::to_string))
                .bind(t.patch.increment_retry)
                .bind(t.patch.options.as_ref().map(ToString::to_string))
                .bind(t.patch.progress.as_ref().map(ToString::to_string))
                .fetch_optional(&mut **tx)
                .await
                .map_err(DbError::from)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let store = Store::try_from(row)?;
            if t.cancel_open_job {
                sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', updated_at = $2 \
                         WHERE store_id = $1 AND state IN ('queued', 'running')",
                )
                .bind(t.store_id.as_str())
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(DbError::from)?;
            }
            let mut audit = t.audit.clone();
            audit.store_id = Some(store.id.clone());
            audit.store_owner = Some(store.owner_id.clone());
            audit.from_status = Some(t.from);
            audit.to_status = Some(t.to);
            insert_audit(tx, &audit).await?;
            if let Some(kind) = t.enqueue {
                insert_job(tx, &store.id, kind, audit.context.request_id.as_deref()).await?;
            }
            Ok(Some(store))
        }

        #[async_trait::async_trait]
        impl Db for $db {
                $($own)*

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn create_user(
                &self,
                user: NewUser,
                force_admin: bool,
                audit: AuditContext,
            ) -> Result<User, CreateUserError> {
                let mut tx = self.begin_write().await?;
                let now = Utc::now();
                // The first user to commit this row is the bootstrap admin: SQLite serializes
                // writers; on PostgreSQL concurrent registrations wait on the row and find it taken.
                let claimed = sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
                )
                .bind(super::shared::BOOTSTRAP_KEY)
                .bind(&user.id.0)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(DbError::from)?
                .rows_affected()
                    == 1;
                let role = if claimed || force_admin {
                    Role::Admin
                } else {
                    Role::Tenant
                };
                let inserted = sqlx::query(
                    "INSERT INTO users (id, email, username, password_hash, role, active, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6)",
                )
                .bind(&user.id.0)
                .bind(user.email.as_str())
                .bind(user.username.as_str())
                .bind(&user.password_hash)
                .bind(role.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(err) if is_unique_violation(&err) => return Err(CreateUserError::Exists),
                    other => other.map_err(DbError::from)?,
                };
                let mut event = NewAudit::new(
                    AuditContext {
                        actor_id: Some(user.id.clone()),
                        ..audit
                    },
                    "auth.register",
                    format!(
                        "user {} registered as {}",
                        user.username.as_str(),
                        role.as_str()
                    ),
                );
                event.details = serde_json::json!({ "email": user.email.as_str(), "role": role.as_str() });
                insert_audit(&mut tx, &event).await?;
                tx.commit().await.map_err(DbError::from)?;
                Ok(User {
                    id: user.id,
                    email: user.email.as_str().to_owned(),
                    username: user.username.as_str().to_owned(),
                    password_hash: user.password_hash,
                    role,
                    active: true,
                    created_at: now,
                })
            }

            async fn user_by_id(&self, id: &UserId) -> Result<Option<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                let row: Option<UserRow> = sqlx::query_as(&sql)
                    .bind(&id.0)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(User::try_from).transpose()
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
                let row: Option<UserRow> = sqlx::query_as(&sql)
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(User::try_from).transpose()
            }

            async fn list_users(&self, limit: u32, offset: u32) -> Result<Page<UserSummary>> {
                let rows: Vec<UserSummaryRow> = sqlx::query_as(&list_users_sql("LIMIT $1 OFFSET $2"))
                    .bind(i64::from(limit))
                    .bind(i64::from(offset))
                    .fetch_all(&self.pool)
                    .await?;
                let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await?;
                let items = rows
                    .into_iter()
                    .map(UserSummary::try_from)
                    .collect::<Result<_>>()?;
                Ok(Page { items, total })
            }

            async fn set_user_active(
                &self,
                id: &UserId,
                active: bool,
                audit: NewAudit,
            ) -> Result<Option<User>> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "UPDATE users SET active = $2, updated_at = $3 WHERE id = $1 AND active <> $2 \
                     RETURNING {USER_COLUMNS}"
                );
                let changed: Option<UserRow> = sqlx::query_as(&sql)
                    .bind(&id.0)
                    .bind(active)
                    .bind(Utc::now())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = changed else {
                    tx.rollback().await?;
                    return self.user_by_id(id).await;
                };
                insert_audit(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(Some(User::try_from(row)?))
            }

            async fn create_store(
                &self,
                store: NewStore,
                limits: StoreLimits,
                audit: AuditContext,
            ) -> Result<Store, CreateStoreError> {
                let mut tx = self.begin_write().await?;
                Self::serialize_creates_of(&mut tx, &store.owner_id).await?;
                let (active, last): (i64, Option<chrono::DateTime<Utc>>) = sqlx::query_as(
                    "SELECT COALESCE(SUM(CASE WHEN status <> 'deleted' THEN 1 ELSE 0 END), 0), MAX(created_at) \
                     FROM stores WHERE owner_id = $1",
                )
                .bind(&store.owner_id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(DbError::from)?;
                if active >= i64::from(limits.max_active) {
                    return Err(CreateStoreError::LimitExceeded {
                        limit: limits.max_active,
                    });
                }
                let now = Utc::now();
                if let Some(retry_after) = cooldown_remaining(last, limits.cooldown, now) {
                    return Err(CreateStoreError::Cooldown { retry_after });
                }
                let sql = format!(
                    "INSERT INTO stores (id, owner_id, name, engine, options, status, version, plugin_version, plugin_digest, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'requested', 1, $6, $7, $8, $8) RETURNING {STORE_COLUMNS}"
                );
                let inserted: Result<StoreRow, sqlx::Error> = sqlx::query_as(&sql)
                    .bind(store.id.as_str())
                    .bind(&store.owner_id.0)
                    .bind(store.name.as_str())
                    .bind(&store.engine)
                    .bind(store.options.to_string())
                    .bind(store.plugin_version.as_deref())
                    .bind(store.plugin_digest.as_deref())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await;
                let row = match inserted {
                    Err(err) if is_unique_violation(&err) => return Err(CreateStoreError::NameTaken),
                    other => other.map_err(DbError::from)?,
                };
                let created = Store::try_from(row)?;
                let mut event = NewAudit::new(
                    audit,
                    "store.create",
                    format!("store {} requested", created.name),
                );
                event.store_id = Some(created.id.clone());
                event.store_owner = Some(created.owner_id.clone());
                event.to_status = Some(StoreStatus::Requested);
                event.details = serde_json::json!({ "engine": created.engine, "pluginVersion": created.plugin_version });
                insert_audit(&mut tx, &event).await?;
                insert_job(
                    &mut tx,
                    &created.id,
                    JobKind::Provision,
                    event.context.request_id.as_deref(),
                )
                .await?;
                tx.commit().await.map_err(DbError::from)?;
                Ok(created)
            }

            async fn store(&self, id: &StoreId) -> Result<Option<Store>> {
                let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = $1");
                let row: Option<StoreRow> = sqlx::query_as(&sql)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(Store::try_from).transpose()
            }

            async fn list_stores(&self, filter: &StoreFilter) -> Result<Page<Store>> {
                // NULL parameters switch a condition off, so one statement serves every filter.
                let condition = "(CAST($1 AS TEXT) IS NULL OR owner_id = $1) \
                     AND ((CAST($2 AS TEXT) IS NULL AND status <> 'deleted') OR status = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR engine = $3)";
                let owner = filter.owner.as_ref().map(|o| o.0.as_str());
                let status = filter.status.map(StoreStatus::as_str);
                let engine = filter.engine.as_deref();
                let sql = format!(
                    "SELECT {STORE_COLUMNS}, COUNT(*) OVER () AS total FROM stores WHERE {condition} \
                     ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
                );
                let rows: Vec<CountedStoreRow> = sqlx::query_as(&sql)
                    .bind(owner)
                    .bind(status)
                    .bind(engine)
                    .bind(i64::from(filter.limit))
                    .bind(i64::from(filter.offset))
                    .fetch_all(&self.pool)
                    .await?;
                let count = async {
                    let sql = format!("SELECT COUNT(*) FROM stores WHERE {condition}");
                    let total: i64 = sqlx::query_scalar(&sql)
                        .bind(owner)
                        .bind(status)
                        .bind(engine)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(total)
                };
                store_page(rows, filter.offset, count).await
            }

            async fn transition_store(&self, t: Transition) -> Result<Store, TransitionError> {
                if !t.from.can_become(t.to) {
                    return Err(TransitionError::Invalid {
                        from: t.from,
                        to: t.to,
                    });
                }
                let mut tx = self.begin_write().await?;
                let now = Utc::now();
                let Some(store) = apply_transition(&mut tx, &t, now).await? else {
                    drop(tx);
                    return Err(match self.store(&t.store_id).await? {
                        None => TransitionError::NotFound,
                        Some(current) => TransitionError::Conflict {
                            current: current.status,
                        },
                    });
                };
                tx.commit().await.map_err(DbError::from)?;
                Ok(store)
            }

            async fn set_store_pinned(
                &self,
                id: &StoreId,
                pinned: bool,
                audit: NewAudit,
            ) -> Result<Option<Store>> {
                let mut tx = self.begin_write().await?;
                let row: Option<StoreRow> = sqlx::query_as(&format!(
                    "UPDATE stores SET pinned = $2, updated_at = $3 WHERE id = $1 RETURNING {STORE_COLUMNS}"
                ))
                .bind(id.as_str())
                .bind(pinned)
                .bind(Utc::now())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let store = Store::try_from(row)?;
                let mut audit = audit;
                audit.store_id = Some(store.id.clone());
                audit.store_owner = Some(store.owner_id.clone());
                insert_audit(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(Some(store))
            }

            async fn count_stores_by_status(&self) -> Result<Vec<(StoreStatus, i64)>> {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT status, COUNT(*) FROM stores GROUP BY status")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(s, n)| StoreStatus::parse(&s).map(|s| (s, n)))
                    .collect())
            }

            async fn record_audit(&self, event: NewAudit) -> Result<()> {
                let mut tx = self.begin_write().await?;
                insert_audit(&mut tx, &event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_audit(&self, filter: &AuditFilter) -> Result<Page<AuditEvent>> {
                let condition = "(CAST($1 AS TEXT) IS NULL OR actor_id = $1 OR store_owner = $1) \
                     AND (CAST($2 AS TEXT) IS NULL OR store_id = $2) AND (CAST($3 AS TEXT) IS NULL OR action = $3) \
                     AND (CAST($4 AS TEXT) IS NULL OR actor_id = $4)";
                let visible = filter.visible_to.as_ref().map(|u| u.0.as_str());
                let store = filter.store_id.as_ref().map(StoreId::as_str);
                let action = filter.action.as_deref();
                let actor = filter.actor.as_ref().map(|u| u.0.as_str());
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE {condition} ORDER BY id DESC LIMIT $5 OFFSET $6"
                );
                let rows: Vec<AuditRow> = sqlx::query_as(&sql)
                    .bind(visible)
                    .bind(store)
                    .bind(action)
                    .bind(actor)
                    .bind(i64::from(filter.limit))
                    .bind(i64::from(filter.offset))
                    .fetch_all(&self.pool)
                    .await?;
                let total: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM audit_events WHERE {condition}"
                ))
                .bind(visible)
                .bind(store)
                .bind(action)
                .bind(actor)
                .fetch_one(&self.pool)
                .await?;
                Ok(Page {
                    items: rows
                        .into_iter()
                        .map(AuditEvent::try_from)
                        .collect::<Result<_>>()?,
                    total,
                })
            }

            async fn count_jobs(&self) -> Result<Vec<(String, String, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn open_job(&self, store: &StoreId) -> Result<Option<Job>> {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE store_id = $1 AND state IN ('queued', 'running')"
                );
                let row: Option<JobRow> = sqlx::query_as(&sql)
                    .bind(store.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Job::from))
            }

            async fn save_plugin(&self, plugin: NewPlugin) -> Result<()> {
                sqlx::query(
                    "INSERT INTO plugins (engine, version, digest, wasm, state, uploaded_by, created_at) \
                     VALUES ($1, $2, $3, $4, 'registered', $5, $6) ON CONFLICT (engine, version) DO NOTHING",
                )
                .bind(&plugin.engine)
                .bind(&plugin.version)
                .bind(&plugin.digest)
                .bind(&plugin.wasm)
                .bind(plugin.uploaded_by.as_ref().map(|u| u.0.as_str()))
                .bind(Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn mark_plugin_active(&self, engine: &str, version: &str) -> Result<bool> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE plugins SET state = 'registered' WHERE engine = $1 AND state = 'active'",
                )
                .bind(engine)
                .execute(&mut *tx)
                .await?;
                let done =
                    sqlx::query("UPDATE plugins SET state = 'active' WHERE engine = $1 AND version = $2")
                        .bind(engine)
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                if done.rows_affected() == 1 {
                    tx.commit().await?;
                    Ok(true)
                } else {
                    Ok(false) // not stored (a built-in): roll back, leave the stored active version alone
                }
            }

            async fn list_plugins(&self) -> Result<Vec<PluginRecord>> {
                let rows: Vec<PluginRow> = sqlx::query_as(
                    "SELECT engine, version, digest, wasm, state, uploaded_by, created_at FROM plugins ORDER BY engine, created_at",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(PluginRecord::from).collect())
            }

            async fn find_plugin(
                &self,
                digest: &str,
                engine: &str,
                version: &str,
            ) -> Result<Option<PluginRecord>> {
                let row: Option<PluginRow> = sqlx::query_as(
                    "SELECT engine, version, digest, wasm, state, uploaded_by, created_at FROM plugins \
                     WHERE digest = $1 OR (engine = $2 AND version = $3) LIMIT 1",
                )
                .bind(digest)
                .bind(engine)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(PluginRecord::from))
            }

            async fn setting(&self, key: &str) -> Result<Option<String>> {
                Ok(
                    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
                sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .bind(Utc::now())
                    .execute(&self.pool)
                    .await?;
                let stored: Option<String> = self.setting(key).await?;
                stored.ok_or_else(|| DbError(format!("setting {key} vanished")))
            }

            async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

pub(super) use shared_db;
