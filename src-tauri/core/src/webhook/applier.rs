//! The single applier: takes journaled bodies in order and applies each in its own transaction,
//! together with marking its journal row, so a crash never leaves a body half-applied.

use super::apply::{apply_body, BodyOutcome, Rules};
use crate::clock::Clock;
use crate::error::Result;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
    pub applied: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl ApplyReport {
    pub fn total(&self) -> u64 {
        self.applied + self.skipped + self.failed
    }
}

/// Applies every pending journal row, oldest first, and reports what became of them.
pub async fn apply_pending(store: &Store, rules: &Rules, clock: &dyn Clock) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    loop {
        store.engine_may_write()?;
        store.move_intake().await?;
        // Bodies are applied in journal order, so everything after the last outcome is pending.
        let batch: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM journal WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM journal_apply) ORDER BY seq LIMIT 64",
        )
        .fetch_all(store.pool())
        .await?;
        if batch.is_empty() {
            return Ok(report);
        }
        for seq in batch {
            let span = tracing::debug_span!("apply", seq);
            let _enter = span.enter();
            // IMMEDIATE takes the write lock first, so two appliers on one workspace (the app and
            // `coexist import`, say) never apply the same body twice or trip over each other.
            let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await?;
            let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
                "SELECT received_at, body FROM journal WHERE seq = ?1
                       AND NOT EXISTS (SELECT 1 FROM journal_apply WHERE seq = ?1)",
            )
            .bind(seq)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((received_at, body)) = row else {
                continue;
            };
            let outcome = match apply_body(&mut tx, &body, received_at, rules).await {
                Ok(o) => o,
                // The database was busy or the disk failed: the body stays pending and the next
                // pass tries again, instead of being marked failed for good.
                Err(e) if may_pass(&e) => {
                    tx.rollback().await?;
                    return Err(e.into());
                }
                Err(e) => {
                    // A database error: undo the partial work, keep the body, say why.
                    tx.rollback().await?;
                    tx = store.pool().begin_with("BEGIN IMMEDIATE").await?;
                    BodyOutcome::Failed(format!("could not be applied: {e}"))
                }
            };
            let (state, error) = match &outcome {
                BodyOutcome::Applied => {
                    report.applied += 1;
                    ("applied", None)
                }
                BodyOutcome::Skipped(why) => {
                    report.skipped += 1;
                    ("skipped", Some(why.as_str()))
                }
                BodyOutcome::Failed(why) => {
                    tracing::warn!(seq, error = %why, "webhook body kept in the journal but not applied");
                    report.failed += 1;
                    ("failed", Some(why.as_str()))
                }
            };
            sqlx::query("INSERT INTO journal_apply (seq, outcome, applied_at, error) VALUES (?, ?, ?, ?)")
                .bind(seq)
                .bind(state)
                .bind(clock.now())
                .bind(error)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
}

/// An error that may not happen again: SQLite busy or locked, an I/O error, the pool timing out.
fn may_pass(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            // Primary result codes: SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_IOERR 10, SQLITE_FULL 13.
            .is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13)),
        _ => false,
    }
}

/// The applier running in the background, woken whenever a body is journaled. Dropping the
/// handle stops it; a body being applied then is rolled back and applied on the next start.
pub struct ApplierHandle {
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl ApplierHandle {
    pub fn spawn(store: Store, rules: Rules, clock: Arc<dyn Clock>) -> Self {
        Self::spawn_announcing(store, rules, clock, crate::events::EventBus::default())
    }

    /// As `spawn`, announcing on `events` whenever bodies were applied (the window redraws then
    /// instead of polling).
    pub fn spawn_announcing(
        store: Store,
        rules: Rules,
        clock: Arc<dyn Clock>,
        events: crate::events::EventBus,
    ) -> Self {
        let wake = store.journal_grew();
        let w = wake.clone();
        let task = tokio::spawn(async move {
            loop {
                match apply_pending(&store, &rules, clock.as_ref()).await {
                    Ok(r) if r.total() > 0 => {
                        tracing::info!(?r, "journal applied");
                        events.emit(crate::events::CoreEvent::MirrorChanged { applied: r.total() });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "applier stopped on a database error; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                }
                w.notified().await;
            }
        });
        wake.notify_one();
        Self { wake, task }
    }

    /// Tells the applier new bodies are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

impl Drop for ApplierHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
