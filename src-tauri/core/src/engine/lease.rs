//! The engine lease: a row in the database that one process renews while it runs the
//! workspace. Every write the engine's tasks make is fenced by it, so a process that stalled past
//! its lease cannot write after another took over.

use crate::error::Result;
use crate::send::now_ms;
use crate::store::Store;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub(super) const LEASE: &str = "engine";

/// Who holds a workspace's engine lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Holder {
    /// `serve`, `app`, or what another program called itself.
    pub kind: String,
    pub pid: u32,
    /// Until when the lease holds without renewal (unix milliseconds).
    pub expires_ms: i64,
}

impl Holder {
    fn parse(holder: &str, expires_ms: i64) -> Holder {
        let mut parts = holder.split(':');
        Holder {
            kind: parts.next().unwrap_or_default().to_string(),
            pid: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            expires_ms,
        }
    }

    /// The holder in the owner's words.
    pub fn describe(&self) -> String {
        match self.kind.as_str() {
            "serve" => format!("`coexist serve` (process {}) runs this workspace", self.pid),
            "app" => format!("the Coexist app (process {}) runs this workspace", self.pid),
            other => format!("{other} (process {}) runs this workspace", self.pid),
        }
    }
}

/// What the engine's tasks consult before each write: until when the lease surely holds (the
/// last renewal plus its time to live, counted from before that renewal was asked), and whether
/// another process took it. A process paused past its lease finds it overdue on waking, before
/// the renewer has even run.
#[derive(Debug, Default)]
pub struct LeaseFence {
    valid_until_ms: std::sync::atomic::AtomicI64,
    pub(super) lost: std::sync::atomic::AtomicBool,
}

impl LeaseFence {
    fn held_until(until_ms: i64) -> Arc<Self> {
        Arc::new(LeaseFence {
            valid_until_ms: until_ms.into(),
            lost: false.into(),
        })
    }

    /// True while this process surely holds the lease.
    pub fn holds(&self) -> bool {
        use std::sync::atomic::Ordering;
        !self.lost.load(Ordering::Acquire) && now_ms() < self.valid_until_ms.load(Ordering::Acquire)
    }

    fn renewed(&self, until_ms: i64) {
        self.valid_until_ms
            .store(until_ms, std::sync::atomic::Ordering::Release);
    }

    pub(super) fn lose(&self) {
        self.lost.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// The engine lease, renewed on its own beat until released or dropped.
pub struct EngineLease {
    store: Store,
    holder: String,
    fence: Arc<LeaseFence>,
    pub(super) lost: Arc<Notify>,
    renewer: tokio::task::JoinHandle<()>,
}

impl EngineLease {
    /// Takes the lease, or says who holds it.
    pub async fn try_acquire(store: &Store, kind: &str, ttl_ms: i64) -> Result<std::result::Result<Self, Holder>> {
        let holder = format!("{kind}:{}:{:08x}", std::process::id(), rand::random::<u32>());
        let asked = now_ms();
        if !store.take_lease(LEASE, &holder, asked, ttl_ms).await? {
            let current = Self::holder(store).await?;
            // Expired between the two reads: try once more rather than report nobody.
            return match current {
                Some(h) => Ok(Err(h)),
                None if store.take_lease(LEASE, &holder, now_ms(), ttl_ms).await? => {
                    Ok(Ok(Self::renewing(store, holder, ttl_ms, asked)))
                }
                None => Ok(Err(Self::holder(store).await?.unwrap_or(Holder {
                    kind: "another process".into(),
                    pid: 0,
                    expires_ms: 0,
                }))),
            };
        }
        Ok(Ok(Self::renewing(store, holder, ttl_ms, asked)))
    }

    /// Takes the lease, waiting up to `patience` for the holder to go (a process that crashed
    /// holds it until it expires).
    pub async fn acquire_within(
        store: &Store,
        kind: &str,
        ttl_ms: i64,
        patience: Duration,
    ) -> Result<std::result::Result<Self, Holder>> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match Self::try_acquire(store, kind, ttl_ms).await? {
                Ok(lease) => return Ok(Ok(lease)),
                Err(h) if tokio::time::Instant::now() >= deadline => return Ok(Err(h)),
                Err(h) => {
                    tracing::info!(holder = %h.describe(), "waiting for the workspace's engine lease");
                    let wait = (h.expires_ms - now_ms()).clamp(50, 1_000) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
    }

    /// The live holder of a workspace's engine, if any.
    pub async fn holder(store: &Store) -> Result<Option<Holder>> {
        Ok(store
            .lease_holder(LEASE, now_ms())
            .await?
            .map(|(h, expires)| Holder::parse(&h, expires)))
    }

    fn renewing(store: &Store, holder: String, ttl_ms: i64, asked_ms: i64) -> Self {
        let lost = Arc::new(Notify::new());
        let fence = LeaseFence::held_until(asked_ms + ttl_ms);
        let renewer = {
            let (store, holder, lost, fence) = (store.clone(), holder.clone(), lost.clone(), fence.clone());
            tokio::spawn(async move {
                let every = Duration::from_millis((ttl_ms / 4).max(10) as u64);
                loop {
                    tokio::time::sleep(every).await;
                    let asked = now_ms();
                    match store.take_lease(LEASE, &holder, asked, ttl_ms).await {
                        Ok(true) => fence.renewed(asked + ttl_ms),
                        Ok(false) => {
                            tracing::error!("another process took this workspace's engine lease");
                            fence.lose();
                            lost.notify_waiters();
                            lost.notify_one();
                            return;
                        }
                        // A busy database is not a lost lease: try again on the next beat.
                        Err(e) => tracing::warn!(error = %e, "could not renew the engine lease"),
                    }
                }
            })
        };
        EngineLease {
            store: store.clone(),
            holder,
            fence,
            lost,
            renewer,
        }
    }

    /// What this lease's engine tasks check before they write.
    pub fn fence(&self) -> Arc<LeaseFence> {
        self.fence.clone()
    }

    /// Resolves if another process takes the lease (this one stalled past its expiry).
    pub async fn lost(&self) {
        self.lost.notified().await
    }

    /// Stops renewing: the lease holds until its expiry, for a last step that must not be
    /// interrupted by a renewal write (a restore's swap).
    pub(crate) fn stop_renewing(&self) {
        self.renewer.abort();
    }

    /// True while this process still holds the lease in its database.
    pub(crate) async fn still_held(&self) -> Result<bool> {
        Ok(self
            .store
            .lease_holder(LEASE, now_ms())
            .await?
            .is_some_and(|(h, _)| h == self.holder))
    }

    /// Writes this holder's lease into another database (one about to replace this one), so the
    /// lease still holds there the moment it takes this one's place.
    pub(crate) async fn carry_into(&self, other: &Store, ttl_ms: i64) -> Result<()> {
        let mut tx = other.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM lease").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO lease (name, holder, expires_ms) VALUES (?, ?, ?)")
            .bind(LEASE)
            .bind(&self.holder)
            .bind(now_ms() + ttl_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Releases this holder's lease in `store` (the database that took this one's place).
    pub(crate) async fn release_in(self, store: &Store) {
        self.renewer.abort();
        if let Err(e) = store.release_lease(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "could not release the engine lease");
        }
    }

    /// Lets the next process take over at once instead of after the lease expires.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.store.release_lease(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "could not release the engine lease");
        }
    }
}

impl Drop for EngineLease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
