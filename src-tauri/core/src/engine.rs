//! One engine per workspace (DESIGN §5). The webhook receiver, the applier, the dispatcher,
//! automation and reminders run in one process at a time, held by a lease in the database; any
//! other process that opens the workspace (the window while `coexist serve` runs, or the reverse)
//! is a client: it reads the mirror and writes operations (an outbox row, a consent event) whose
//! effects the engine carries out. Two engines on one workspace is what made automation answer
//! twice and reminders go to whichever process ticked first.

use crate::clock::Clock;
use crate::cloud::CloudClient;
use crate::error::Result;
use crate::events::EventBus;
use crate::reminders::{Notifier, ReminderHandle};
use crate::secrets::Sensitive;
use crate::send::{now_ms, DispatcherHandle, SendSettings};
use crate::store::Store;
use crate::webhook::{receiver, ApplierHandle, Rules};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const LEASE: &str = "engine";

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

/// The engine lease, renewed on its own beat until released or dropped.
pub struct EngineLease {
    store: Store,
    holder: String,
    lost: Arc<Notify>,
    renewer: tokio::task::JoinHandle<()>,
}

impl EngineLease {
    /// Takes the lease, or says who holds it.
    pub async fn try_acquire(store: &Store, kind: &str, ttl_ms: i64) -> Result<std::result::Result<Self, Holder>> {
        let holder = format!("{kind}:{}:{:08x}", std::process::id(), rand::random::<u32>());
        if !store.take_lease(LEASE, &holder, now_ms(), ttl_ms).await? {
            let current = Self::holder(store).await?;
            // Expired between the two reads: try once more rather than report nobody.
            return match current {
                Some(h) => Ok(Err(h)),
                None if store.take_lease(LEASE, &holder, now_ms(), ttl_ms).await? => {
                    Ok(Ok(Self::renewing(store, holder, ttl_ms)))
                }
                None => Ok(Err(Self::holder(store).await?.unwrap_or(Holder {
                    kind: "another process".into(),
                    pid: 0,
                    expires_ms: 0,
                }))),
            };
        }
        Ok(Ok(Self::renewing(store, holder, ttl_ms)))
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

    fn renewing(store: &Store, holder: String, ttl_ms: i64) -> Self {
        let lost = Arc::new(Notify::new());
        let renewer = {
            let (store, holder, lost) = (store.clone(), holder.clone(), lost.clone());
            tokio::spawn(async move {
                let every = Duration::from_millis((ttl_ms / 4).max(10) as u64);
                loop {
                    tokio::time::sleep(every).await;
                    match store.take_lease(LEASE, &holder, now_ms(), ttl_ms).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!("another process took this workspace's engine lease");
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
            lost,
            renewer,
        }
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

/// The webhook receiver's settings: where to listen and the secrets that check Meta's posts.
pub struct ReceiverSettings {
    pub addr: SocketAddr,
    pub app_secret: Sensitive<String>,
    pub verify_token: Sensitive<String>,
    /// Tell the owner how long nobody received webhooks (off for the demo, which has no Meta).
    pub watch_gaps: bool,
}

/// What an engine runs; everything optional is off when absent.
pub struct EngineSettings {
    /// Who this process is (`serve`, `app`): shown to clients.
    pub kind: &'static str,
    pub clock: Arc<dyn Clock>,
    /// How long the lease outlives a crash before another process may take over.
    pub lease_ttl_ms: i64,
    /// How long to wait for a previous holder's lease to expire before becoming a client.
    pub patience: Duration,
    pub receiver: Option<ReceiverSettings>,
    pub sending: Option<(CloudClient, SendSettings)>,
    pub reminders: Option<Arc<dyn Notifier>>,
    pub automation_every: Duration,
    /// Where the mirror changing, sends settling and campaign progress are announced.
    pub events: EventBus,
}

impl EngineSettings {
    pub fn new(kind: &'static str, clock: Arc<dyn Clock>) -> Self {
        EngineSettings {
            kind,
            clock,
            lease_ttl_ms: 10_000,
            patience: Duration::ZERO,
            receiver: None,
            sending: None,
            reminders: None,
            automation_every: Duration::from_secs(1),
            events: EventBus::default(),
        }
    }
}

/// The running engine; dropping it stops everything (sends in flight are judged on the next start).
pub struct Engine {
    /// Taken only by `shutdown`, which hands it back.
    lease: Option<EngineLease>,
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    applier: ApplierHandle,
    dispatcher: Option<DispatcherHandle>,
    /// Downloads media as it arrives (needs the Cloud API, like sending).
    media: Option<crate::media::MediaHandle>,
    _automation: crate::automation::AutomationHandle,
    reminders: Option<ReminderHandle>,
    receiver_url: Option<String>,
    receiver_error: Option<String>,
    receiver_stop: Arc<Notify>,
    receiver_task: Option<tokio::task::JoinHandle<()>>,
    alive_task: Option<tokio::task::JoinHandle<()>>,
}

/// What starting found: this process runs the workspace, or another one does.
pub enum Started {
    Engine(Box<Engine>),
    Client(Holder),
}

impl Engine {
    /// Starts the engine of `store`'s workspace, unless another process holds it.
    pub async fn start(store: &Store, s: EngineSettings) -> Result<Started> {
        let lease = match EngineLease::acquire_within(store, s.kind, s.lease_ttl_ms, s.patience).await? {
            Ok(lease) => lease,
            Err(holder) => {
                tracing::info!(holder = %holder.describe(), "this process is a client of the workspace");
                return Ok(Started::Client(holder));
            }
        };
        let applier =
            ApplierHandle::spawn_announcing(store.clone(), Rules::default(), s.clock.clone(), s.events.clone());
        // Automation has its own wake-up: sharing the applier's would steal the receiver's
        // notifications from the applier.
        let automation = crate::automation::AutomationHandle::spawn(
            store.clone(),
            s.clock.clone(),
            Arc::new(Notify::new()),
            s.automation_every,
        );
        let reminders = s
            .reminders
            .map(|n| ReminderHandle::spawn(store.clone(), n, s.clock.clone(), Duration::from_secs(60)));
        let mut engine = Engine {
            lease: Some(lease),
            store: store.clone(),
            clock: s.clock.clone(),
            events: s.events.clone(),
            applier,
            dispatcher: None,
            media: None,
            _automation: automation,
            reminders,
            receiver_url: None,
            receiver_error: None,
            receiver_stop: Arc::new(Notify::new()),
            receiver_task: None,
            alive_task: None,
        };
        if let Some(r) = s.receiver {
            engine.listen(r).await?;
        }
        if let Some((client, settings)) = s.sending {
            engine.start_sending(client, settings);
        }
        Ok(Started::Engine(Box::new(engine)))
    }

    async fn listen(&mut self, r: ReceiverSettings) -> Result<()> {
        let listener = match tokio::net::TcpListener::bind(r.addr).await {
            Ok(l) => l,
            Err(e) => {
                self.receiver_error = Some(format!("{} is busy ({e})", r.addr));
                return Ok(());
            }
        };
        let url = match listener.local_addr() {
            Ok(a) => format!("http://{a}/webhook"),
            Err(e) => {
                self.receiver_error = Some(e.to_string());
                return Ok(());
            }
        };
        let guards = receiver::Guards::default();
        let state = receiver::ReceiverState::new(
            self.store.clone(),
            r.app_secret,
            r.verify_token,
            self.clock.clone(),
            self.applier.waker(),
            &guards,
        );
        // How long nobody received webhooks (the computer was off, Coexist closed): say so, and
        // what Meta does about it. Then keep noting that the receiver is alive.
        let now = self.clock.now();
        if let Some(last) = self.store.runtime_at(RECEIVER_ALIVE).await?.filter(|_| r.watch_gaps) {
            if let Some((title, detail)) = receiver_gap_notice(last, now) {
                self.store.add_notice("receiver_gap", &title, &detail, now).await?;
            }
        }
        self.store.note_runtime(RECEIVER_ALIVE, "listening", now).await?;
        let (store, clock) = (self.store.clone(), self.clock.clone());
        self.alive_task = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(ALIVE_EVERY_SECS)).await;
                if let Err(e) = store.note_runtime(RECEIVER_ALIVE, "listening", clock.now()).await {
                    tracing::warn!(error = %e, "could not note that the receiver is alive");
                }
            }
        }));
        let stop = self.receiver_stop.clone();
        self.receiver_task = Some(tokio::spawn(async move {
            receiver::serve(listener, receiver::router(state), guards, async move {
                stop.notified().await
            })
            .await;
        }));
        self.store.note_runtime("receiver", &url, self.clock.now()).await?;
        tracing::info!(%url, "receiving webhooks");
        self.receiver_url = Some(url);
        Ok(())
    }

    /// Sending starts (the demo learns its simulator's address only after the receiver listens).
    pub fn start_sending(&mut self, client: CloudClient, mut settings: SendSettings) {
        settings.events = self.events.clone();
        if self.media.is_none() {
            // A workspace on disk keeps its media beside its database; an in-memory one has none.
            if let Some(dir) = self.store.media_dir() {
                self.media = Some(crate::media::MediaHandle::spawn(
                    self.store.clone(),
                    client.clone(),
                    dir,
                    self.clock.clone(),
                    Default::default(),
                ));
            }
        }
        if self.dispatcher.is_none() {
            self.dispatcher = Some(DispatcherHandle::spawn(
                self.store.clone(),
                client,
                settings,
                self.clock.clone(),
            ));
        }
    }

    /// Where webhooks are received, when listening.
    pub fn receiver_url(&self) -> Option<&str> {
        self.receiver_url.as_deref()
    }

    /// Why the receiver is not listening, when it was asked to.
    pub fn receiver_error(&self) -> Option<&str> {
        self.receiver_error.as_deref()
    }

    pub fn sending(&self) -> bool {
        self.dispatcher.is_some()
    }

    /// New outbox rows are waiting.
    pub fn wake_dispatcher(&self) {
        if let Some(d) = &self.dispatcher {
            d.wake();
        }
    }

    /// Reminders check now (after an acknowledgement, a change of the link…).
    pub fn wake_reminders(&self) {
        if let Some(r) = &self.reminders {
            r.wake();
        }
    }

    /// Resolves if another process took the workspace over (this one stalled past its lease).
    pub async fn lost(&self) {
        match &self.lease {
            Some(l) => l.lost().await,
            None => std::future::pending().await,
        }
    }

    /// Stops receiving, lets sends in flight record their outcome, and hands the workspace over.
    pub async fn shutdown(mut self) {
        self.receiver_stop.notify_one();
        if let Some(t) = self.receiver_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if let Some(d) = self.dispatcher.take() {
            d.shutdown().await;
        }
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.receiver_stop.notify_one();
        for t in [&self.receiver_task, &self.alive_task].into_iter().flatten() {
            t.abort();
        }
    }
}

/// The runtime key noting, every minute, that a receiver is listening for this workspace.
const RECEIVER_ALIVE: &str = "receiver_alive";
const ALIVE_EVERY_SECS: u64 = 60;
/// A gap shorter than this is a restart, not worth a word.
const GAP_NOTICE_SECS: i64 = 15 * 60;

/// What to tell the owner when no receiver listened between `last` and `now` (unix seconds).
pub fn receiver_gap_notice(last: i64, now: i64) -> Option<(String, String)> {
    let gap = now - last;
    if gap < GAP_NOTICE_SECS {
        return None;
    }
    let (d, h, m) = (gap / 86_400, gap % 86_400 / 3600, gap % 3600 / 60);
    let took = match (d, h) {
        (0, 0) => format!("{m} minutes"),
        (0, h) => format!("{h} h {m} min"),
        (d, h) => format!("{d} days {h} h"),
    };
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let lost = if gap > 7 * 86_400 {
        " This was longer than 7 days, so webhooks from the start of it are lost for good."
    } else if gap > 3600 {
        " For a number with No Storage, Meta retries for 1 hour only, so webhooks from before the last hour are lost."
    } else {
        ""
    };
    Some((
        format!("Webhooks were not received for {took}"),
        format!(
            "Nothing received Meta's webhooks from {} to {}. Meta retries a failed delivery for up to 7 days (1 hour for numbers with No Storage), so what it sent meanwhile should arrive now.{lost} To never miss them, run `coexist serve` on an always-on computer.",
            when(last),
            when(now)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemClock;

    #[tokio::test]
    async fn one_engine_per_workspace_the_other_is_a_client_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open_dir(dir.path()).await.unwrap();
        let b = Store::open_dir(dir.path()).await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let Started::Engine(engine) = Engine::start(&a, EngineSettings::new("serve", clock.clone()))
            .await
            .unwrap()
        else {
            panic!("the first process runs the workspace");
        };
        let Started::Client(holder) = Engine::start(&b, EngineSettings::new("app", clock.clone()))
            .await
            .unwrap()
        else {
            panic!("the second is a client");
        };
        assert_eq!((holder.kind.as_str(), holder.pid), ("serve", std::process::id()));
        assert!(holder.describe().contains("coexist serve"), "{}", holder.describe());
        engine.shutdown().await;
        assert_eq!(EngineLease::holder(&b).await.unwrap(), None, "released on shutdown");
        let Started::Engine(second) = Engine::start(&b, EngineSettings::new("app", clock)).await.unwrap() else {
            panic!("after a release the next process takes over at once");
        };
        second.shutdown().await;
    }

    #[test]
    fn a_receiver_gap_is_told_with_its_length_and_what_meta_retries() {
        assert_eq!(receiver_gap_notice(1_000, 1_000 + 600), None, "a restart is not a gap");
        let (title, detail) = receiver_gap_notice(1_790_000_000, 1_790_000_000 + 3 * 3600 + 20 * 60).unwrap();
        assert_eq!(title, "Webhooks were not received for 3 h 20 min");
        assert!(
            detail.contains("up to 7 days") && detail.contains("1 hour for numbers with No Storage"),
            "{detail}"
        );
        assert!(detail.contains("before the last hour are lost"), "{detail}");
        let (title, detail) = receiver_gap_notice(0, 9 * 86_400).unwrap();
        assert_eq!(title, "Webhooks were not received for 9 days 0 h");
        assert!(detail.contains("lost for good"), "{detail}");
    }

    #[tokio::test]
    async fn a_receiver_gap_becomes_a_notice_when_the_engine_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let now = clock.now();
        store
            .note_runtime(RECEIVER_ALIVE, "listening", now - 2 * 3600)
            .await
            .unwrap();
        let mut s = EngineSettings::new("app", clock);
        s.receiver = Some(ReceiverSettings {
            addr: "127.0.0.1:0".parse().unwrap(),
            app_secret: Sensitive::new("s".into()),
            verify_token: Sensitive::new("v".into()),
            watch_gaps: true,
        });
        let Started::Engine(e) = Engine::start(&store, s).await.unwrap() else {
            panic!("nobody else runs it")
        };
        let notices: Vec<String> = store
            .reminders()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == "receiver_gap")
            .filter_map(|r| r.title)
            .collect();
        assert_eq!(notices, vec!["Webhooks were not received for 2 h 0 min".to_string()]);
        e.shutdown().await;
    }

    #[tokio::test]
    async fn a_crashed_holder_is_replaced_once_its_lease_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).await.unwrap();
        // A holder that died without releasing: its lease runs out in 300 ms.
        assert!(store.take_lease(LEASE, "serve:1:dead", now_ms(), 300).await.unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let impatient = Engine::start(&store, EngineSettings::new("app", clock.clone()))
            .await
            .unwrap();
        assert!(matches!(impatient, Started::Client(ref h) if h.pid == 1));
        let mut s = EngineSettings::new("serve", clock);
        s.patience = Duration::from_secs(5);
        let Started::Engine(e) = Engine::start(&store, s).await.unwrap() else {
            panic!("a patient start takes over after the expiry");
        };
        e.shutdown().await;
    }
}
