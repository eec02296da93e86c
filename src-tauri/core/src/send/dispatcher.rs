//! The dispatcher: one per workspace (a lease in the database), pacing sends with a GCRA limiter
//! below the number's cap and a per-recipient pair limiter, several requests in flight, each
//! outcome recorded before the next decision about that row.

use super::compose::has_marketing_consent;
use super::now_ms;
use crate::clock::Clock;
use crate::cloud::{classify, plain_reason, CloudClient, ErrorClass, SendOutcome};
use crate::error::Result;
use crate::store::Store;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

#[derive(Debug, Clone)]
pub struct SendSettings {
    pub phone_number_id: String,
    /// Sends per second: the number's cap (20 for coexistence, lower where the operator says so).
    pub rate_per_sec: u32,
    pub max_in_flight: usize,
    /// Retryable failures are retried this many times before the send is marked failed.
    pub max_attempts: i64,
    /// Our own pacing per recipient, kept under Meta's pair limit (≈ 1 per 6 s, bursts of 45).
    pub pair_period: Duration,
    pub pair_burst: u32,
    /// How long a dispatcher's claim on the workspace lasts without renewal: after a crash, the
    /// next dispatcher waits this long before it takes over.
    pub lease_ttl_ms: i64,
    /// After an answer that may hide a send Meta really made (a 5xx, codes 1, 2, 131000), how
    /// long a delivery report carrying the send's token has to settle it before it is retried.
    /// Meta's statuses often come seconds after its answer; retrying at once sent twice.
    pub status_window: Duration,
    /// Where sends settling and campaign progress are announced.
    pub events: crate::events::EventBus,
}

impl SendSettings {
    pub fn new(phone_number_id: &str, rate_per_sec: u32) -> Self {
        SendSettings {
            phone_number_id: phone_number_id.into(),
            rate_per_sec: rate_per_sec.max(1),
            max_in_flight: 16,
            max_attempts: 12,
            pair_period: Duration::from_secs(6),
            pair_burst: 40,
            lease_ttl_ms: 10_000,
            status_window: Duration::from_secs(
                std::env::var("COEXIST_STATUS_WINDOW_SECS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(DEFAULT_STATUS_WINDOW_SECS),
            ),
            events: Default::default(),
        }
    }
}

const LEASE: &str = "dispatcher";

/// The default status window (`COEXIST_STATUS_WINDOW_SECS` overrides it).
pub const DEFAULT_STATUS_WINDOW_SECS: u64 = 30;

/// An error answer that Meta may give after it really sent the message: a server error, or the
/// codes it documents as temporary service trouble (1, 2, 131000).
fn may_have_been_sent(e: &crate::cloud::GraphError) -> bool {
    e.http_status >= 500 || matches!(e.code, 1 | 2 | 131000)
}

/// The running dispatcher; dropping it stops it (rows being sent are judged on the next start).
pub struct DispatcherHandle {
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DispatcherHandle {
    pub fn spawn(store: Store, client: CloudClient, settings: SendSettings, clock: Arc<dyn Clock>) -> Self {
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(Notify::new());
        let d = Dispatcher {
            store,
            client,
            // A small burst lets the pacing catch up after a slow turn of the loop (a busy disk, a
            // scheduling hiccup) instead of losing that time; it stays far below Meta's own bucket
            // (a full second of the cap), so the long-run rate never exceeds the cap.
            limiter: RateLimiter::direct(
                Quota::per_second(NonZeroU32::new(settings.rate_per_sec).expect("rate ≥ 1"))
                    .allow_burst(NonZeroU32::new((settings.rate_per_sec / 10).max(2)).expect("burst ≥ 2")),
            ),
            pair: RateLimiter::keyed(
                Quota::with_period(settings.pair_period)
                    .expect("pair period > 0")
                    .allow_burst(NonZeroU32::new(settings.pair_burst.max(1)).expect("burst ≥ 1")),
            ),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
            settings,
            clock,
            holder: format!("{}-{}", std::process::id(), rand::rng().random::<u32>()),
        };
        let (w, s) = (wake.clone(), stop.clone());
        let task = tokio::spawn(async move { d.run(w, s).await });
        DispatcherHandle {
            wake,
            stop,
            task: Some(task),
        }
    }

    /// New rows are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops taking rows, lets sends in flight finish and record their outcome.
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if let Some(task) = self.task.as_mut() {
            if tokio::time::timeout(Duration::from_secs(30), task).await.is_ok() {
                self.task = None;
            }
        }
    }
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

struct Dispatcher {
    store: Store,
    client: CloudClient,
    limiter: DefaultDirectRateLimiter,
    pair: DefaultKeyedRateLimiter<String>,
    in_flight: Arc<Semaphore>,
    settings: SendSettings,
    clock: Arc<dyn Clock>,
    holder: String,
}

#[derive(sqlx::FromRow, Clone)]
struct Claimed {
    id: i64,
    contact_id: Option<i64>,
    recipient: String,
    payload: String,
    template_category: Option<String>,
    callback_token: Option<String>,
    attempts: i64,
}

impl Dispatcher {
    async fn run(self, wake: Arc<Notify>, stop: Arc<Notify>) {
        let me = Arc::new(self);
        loop {
            // Only one dispatcher per workspace sends; a second one waits for the lease.
            match me
                .store
                .take_lease(LEASE, &me.holder, now_ms(), me.settings.lease_ttl_ms)
                .await
            {
                Ok(true) => break,
                Ok(false) => tracing::info!("another dispatcher holds this workspace; waiting"),
                Err(e) => tracing::warn!(error = %e, "could not take the dispatcher lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.notified() => return,
            }
        }
        if let Err(e) = me.recover().await {
            tracing::error!(error = %e, "could not judge sends interrupted by a crash");
        }
        // The lease is renewed on its own beat, not between loop turns: sixteen sends hanging on a
        // slow Meta must not let a second dispatcher take over and judge them uncertain.
        let lost = Arc::new(Notify::new());
        let renewer = {
            let (me, lost) = (me.clone(), lost.clone());
            tokio::spawn(async move {
                let every = Duration::from_millis((me.settings.lease_ttl_ms / 4).max(10) as u64);
                loop {
                    tokio::time::sleep(every).await;
                    match me
                        .store
                        .take_lease(LEASE, &me.holder, now_ms(), me.settings.lease_ttl_ms)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!("lost the dispatcher lease; stopping");
                            lost.notify_one();
                            return;
                        }
                        // A busy database is not a lost lease: try again on the next beat.
                        Err(e) => tracing::warn!(error = %e, "could not renew the dispatcher lease"),
                    }
                }
            })
        };
        loop {
            let permit = tokio::select! {
                p = me.in_flight.clone().acquire_owned() => p.expect("semaphore open"),
                _ = stop.notified() => break,
                _ = lost.notified() => break,
            };
            me.limiter.until_ready().await;
            let claimed = match me.claim().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "outbox unreadable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(c) = claimed else {
                drop(permit);
                // Rows due but not claimable wait on something slow (a paused campaign, a dropped
                // link, the messaging limit): look again twice a second, not in a busy loop.
                let idle = match me.until_next_due().await {
                    Ok(ms) if ms > 0 => ms.clamp(5, 500),
                    _ => 500,
                };
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(idle as u64)) => {}
                    _ = stop.notified() => break,
                    _ = lost.notified() => break,
                }
                continue;
            };
            if me.pair.check_key(&c.recipient).is_err() {
                let _ = me.defer(&c, 1_000, false).await;
                drop(permit);
                continue;
            }
            let d = me.clone();
            tokio::spawn(async move {
                d.send(c).await;
                drop(permit);
            });
        }
        // Let the sends in flight record their outcome.
        let all = me.settings.max_in_flight.max(1) as u32;
        let _ = tokio::time::timeout(Duration::from_secs(30), me.in_flight.acquire_many(all)).await;
        renewer.abort();
        let _ = me.store.release_lease(LEASE, &me.holder).await;
    }

    /// Rows left `dispatching` by a crash may or may not have reached Meta: they become
    /// `uncertain`, to be settled by a status carrying their token, or by the owner.
    async fn recover(&self) -> Result<()> {
        self.store.engine_may_write()?;
        let n = sqlx::query(
            "UPDATE outbox SET state = 'uncertain', updated_at = ?,
                    last_error = 'Coexist stopped while sending this message: it may or may not have been sent. A delivery report from Meta will settle it; otherwise you can choose to send it again.'
             WHERE state = 'dispatching'",
        )
        .bind(self.clock.now())
        .execute(self.store.pool())
        .await?
        .rows_affected();
        if n > 0 {
            tracing::warn!(n, "sends interrupted by a crash are now uncertain");
        }
        Ok(())
    }

    async fn claim(&self) -> Result<Option<Claimed>> {
        self.store.engine_may_write()?;
        let now = self.clock.now();
        // With the messaging limit reached, templates that would reach one more customer wait
        // (queued, untouched) until the oldest counted send leaves the 24 h window.
        let budget = self.store.limit_budget(now).await?;
        let sql = format!(
            "UPDATE outbox SET state = 'dispatching', attempts = attempts + 1, updated_at = ?1,
                    limit_counted_at = CASE WHEN ?4 AND {counts_here} THEN ?1 ELSE limit_counted_at END
             WHERE id = (SELECT o.id FROM outbox o WHERE o.state = 'queued' AND o.next_attempt_ms <= ?2 AND o.held_reason IS NULL
                           AND (o.campaign_id IS NULL OR o.campaign_id IN (SELECT id FROM campaign WHERE state = 'running'))
                           -- Paused while Meta has dropped the link: nothing could be delivered.
                           AND (SELECT link_state FROM account WHERE id = 1) = 'connected'
                           AND (NOT ?3 OR NOT {counts_there})
                         ORDER BY o.next_attempt_ms, o.id LIMIT 1)
             RETURNING id, contact_id, recipient, payload, template_category, callback_token, attempts",
            counts_here = super::limit::counts("outbox"),
            counts_there = super::limit::counts("o"),
        );
        Ok(sqlx::query_as(&sql)
            .bind(now)
            .bind(now_ms())
            .bind(budget.full())
            .bind(budget.limit.is_some())
            .fetch_optional(self.store.pool())
            .await?)
    }

    async fn until_next_due(&self) -> Result<i64> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_ms) FROM outbox WHERE state = 'queued' AND held_reason IS NULL",
        )
        .fetch_one(self.store.pool())
        .await?;
        Ok(next.map(|n| n - now_ms()).unwrap_or(500))
    }

    /// Back to the queue for later; `counted` keeps the attempt (a real try), otherwise it is undone.
    async fn defer(&self, c: &Claimed, delay_ms: i64, counted: bool) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = 'queued', next_attempt_ms = ?, attempts = attempts - ?, updated_at = ?
             WHERE id = ? AND state = 'dispatching'",
        )
        .bind(now_ms() + delay_ms)
        .bind(i64::from(!counted))
        .bind(self.clock.now())
        .bind(c.id)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    async fn fail(&self, c: &Claimed, code: Option<i64>, reason: &str) -> Result<()> {
        let n = sqlx::query(
            "UPDATE outbox SET state = 'failed', last_error_code = ?, last_error = ?, updated_at = ?
             WHERE id = ? AND state = 'dispatching'",
        )
        .bind(code)
        .bind(reason)
        .bind(self.clock.now())
        .bind(c.id)
        .execute(self.store.pool())
        .await?;
        settled_meanwhile(c, n.rows_affected());
        Ok(())
    }

    async fn send(&self, c: Claimed) {
        if let Err(e) = self.send_inner(&c).await {
            tracing::error!(id = c.id, error = %e, "could not record a send's outcome");
        }
        if let Err(e) = self.announce(&c).await {
            tracing::warn!(id = c.id, error = %e, "could not announce a send's outcome");
        }
    }

    /// Tells listeners where this row (and its campaign) stands now.
    async fn announce(&self, c: &Claimed) -> Result<()> {
        let (state, campaign): (super::OutboxState, Option<i64>) =
            sqlx::query_as("SELECT state, campaign_id FROM outbox WHERE id = ?")
                .bind(c.id)
                .fetch_one(self.store.pool())
                .await?;
        let events = &self.settings.events;
        events.emit(crate::events::CoreEvent::Outbox {
            id: c.id,
            state,
            campaign_id: campaign,
        });
        if let (Some(campaign_id), true) = (campaign, state != super::OutboxState::Queued) {
            let s = self.store.campaign_status(campaign_id).await?;
            events.emit(crate::events::CoreEvent::CampaignProgress {
                campaign_id,
                accepted: s.accepted,
                failed: s.failed,
                uncertain: s.uncertain,
                total: s.total,
            });
        }
        Ok(())
    }

    async fn send_inner(&self, c: &Claimed) -> Result<()> {
        // Consent is checked again at dispatch: an opt-out that arrived after queueing wins.
        if c.template_category.as_deref() == Some("marketing") {
            if let Some(contact) = c.contact_id {
                if !has_marketing_consent(&self.store, contact).await? {
                    return self
                        .fail(c, None, "The customer opted out of marketing messages; not sent.")
                        .await;
                }
            }
        }
        let mut payload: serde_json::Value =
            serde_json::from_str(&c.payload).map_err(|e| crate::CoreError::Invalid(e.to_string()))?;
        if let Some(token) = &c.callback_token {
            payload["biz_opaque_callback_data"] = serde_json::json!(token);
        }
        let outcome = self.client.send(&self.settings.phone_number_id, &payload).await;
        tracing::debug!(id = c.id, ?outcome, "send answered");
        match outcome {
            SendOutcome::Accepted { wamid } => self.accepted(c, &wamid).await,
            SendOutcome::Rejected(e) => {
                let class = classify(&e);
                let reason = plain_reason(e.code, Some(&e.message), e.details.as_deref());
                let exhausted = c.attempts >= self.settings.max_attempts;
                match class {
                    ErrorClass::RetryLater if !exhausted && may_have_been_sent(&e) => {
                        let window = self.settings.status_window.as_millis() as i64;
                        let wait = backoff_ms(c.attempts).max(window);
                        let reason = format!(
                            "{reason} Meta may have sent it anyway: waiting {} s for its delivery report before trying again.",
                            (wait + 999) / 1000
                        );
                        self.retry(c, e.code, &reason, wait).await
                    }
                    ErrorClass::RetryLater if !exhausted => {
                        self.retry(c, e.code, &reason, backoff_ms(c.attempts)).await
                    }
                    ErrorClass::RetryRecipient if !exhausted => {
                        let jitter = rand::rng().random_range(0..1_000);
                        self.retry(
                            c,
                            e.code,
                            &reason,
                            self.settings.pair_period.as_millis() as i64 + jitter,
                        )
                        .await
                    }
                    ErrorClass::Stop => {
                        tracing::error!(code = e.code, "Meta is limiting this account: {reason}");
                        self.settings.events.emit(crate::events::CoreEvent::AccountLimited {
                            code: e.code,
                            reason: reason.clone(),
                        });
                        // Meta limits the account, not one campaign: every running campaign stops
                        // itself, and what is still queued waits for the owner (resume or cancel).
                        sqlx::query(
                            "UPDATE campaign SET state = 'stopped', stopped_reason = ? WHERE state = 'running'",
                        )
                        .bind(&reason)
                        .execute(self.store.pool())
                        .await?;
                        self.fail(c, Some(e.code), &reason).await
                    }
                    _ => self.fail(c, Some(e.code), &reason).await,
                }
            }
            SendOutcome::Unreachable(why) if c.attempts < self.settings.max_attempts => {
                self.retry(
                    c,
                    0,
                    &format!("Meta could not be reached ({why}); will retry."),
                    backoff_ms(c.attempts),
                )
                .await
            }
            SendOutcome::Unreachable(why) => self.fail(c, None, &format!("Meta could not be reached: {why}")).await,
            SendOutcome::Uncertain(why) => {
                let n = sqlx::query(
                    "UPDATE outbox SET state = 'uncertain', last_error = ?, updated_at = ? WHERE id = ? AND state = 'dispatching'",
                )
                .bind(format!(
                    "No clear answer from Meta ({why}): the message may or may not have been sent. A delivery report will settle it; otherwise you can choose to send it again."
                ))
                .bind(self.clock.now())
                .bind(c.id)
                .execute(self.store.pool())
                .await?;
                settled_meanwhile(c, n.rows_affected());
                Ok(())
            }
        }
    }

    async fn retry(&self, c: &Claimed, code: i64, reason: &str, delay_ms: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE outbox SET state = 'queued', next_attempt_ms = ?, last_error_code = ?, last_error = ?, updated_at = ?
             WHERE id = ? AND state = 'dispatching'",
        )
        .bind(now_ms() + delay_ms)
        .bind(code)
        .bind(reason)
        .bind(self.clock.now())
        .bind(c.id)
        .execute(self.store.pool())
        .await?;
        settled_meanwhile(c, n.rows_affected());
        Ok(())
    }

    /// Accepted: the outbox row and the mirror learn the wamid together.
    async fn accepted(&self, c: &Claimed, wamid: &str) -> Result<()> {
        let now = self.clock.now();
        let mut tx = self.store.pool().begin().await?;
        // Meta's acceptance is the truth whatever we believed (a status may have settled it first);
        // only a withdrawn row stays as the owner left it.
        sqlx::query(
            "UPDATE outbox SET state = 'accepted', wamid = ?, last_error = NULL, updated_at = ?
             WHERE id = ? AND state IN ('dispatching', 'queued', 'uncertain', 'failed', 'accepted')",
        )
        .bind(wamid)
        .bind(now)
        .bind(c.id)
        .execute(&mut *tx)
        .await?;
        if let Some((sent, contact_id)) = crate::webhook::sent::of_outbox(&mut tx, c.id, wamid, now).await? {
            crate::webhook::sent::record(&mut tx, &sent, contact_id, Some(c.id)).await?;
        }
        tx.commit().await?;
        self.store.journal_grew().notify_one();
        Ok(())
    }
}

/// A result write found the row no longer `dispatching`: a status webhook settled it while Meta's
/// answer was on its way. The settled state stands.
fn settled_meanwhile(c: &Claimed, rows: u64) {
    if rows == 0 {
        tracing::info!(
            id = c.id,
            "the send was settled meanwhile (a status arrived first); keeping that"
        );
    }
}

/// 1 s, 2 s, 4 s … up to a minute, with ±20 % jitter so retries do not arrive in step.
fn backoff_ms(attempts: i64) -> i64 {
    let base = 1_000i64.saturating_mul(1 << (attempts - 1).clamp(0, 6)).min(60_000);
    let jitter = rand::rng().random_range(-(base / 5)..=(base / 5));
    base + jitter
}
