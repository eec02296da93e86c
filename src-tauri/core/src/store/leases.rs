//! Leases: a named row one process renews while it runs something only one may run at a time
//! (the workspace's engine, its dispatcher). Written once for both backends: the upsert takes a
//! free or expired lease, or renews one's own, in one statement, so two processes racing for it
//! on SQLite or on PostgreSQL get exactly one winner.

use super::db::{Db, Sql};
use crate::error::Result;

/// Takes (or keeps) lease `name` for `holder` until `now_ms + ttl_ms`; false while another
/// holder's lease has not expired.
pub async fn take(db: &Db, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
    let q = Sql::new(
        "INSERT INTO lease (name, holder, expires_ms) VALUES ($1, $2, $3)
         ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
         WHERE lease.holder = excluded.holder OR lease.expires_ms < $4",
    )
    .bind(name)
    .bind(holder)
    .bind(now_ms + ttl_ms)
    .bind(now_ms);
    Ok(db.execute(&q).await? > 0)
}

/// Who holds a lease that has not expired, and until when (unix milliseconds).
pub async fn holder(db: &Db, name: &str, now_ms: i64) -> Result<Option<(String, i64)>> {
    db.fetch_optional(
        &Sql::new("SELECT holder, expires_ms FROM lease WHERE name = $1 AND expires_ms >= $2")
            .bind(name)
            .bind(now_ms),
    )
    .await
}

pub async fn release(db: &Db, name: &str, holder: &str) -> Result<()> {
    db.execute(
        &Sql::new("DELETE FROM lease WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder),
    )
    .await?;
    Ok(())
}
