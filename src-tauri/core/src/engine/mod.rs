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
use crate::send::{DispatcherHandle, SendSettings};
use crate::store::Store;
use crate::webhook::{receiver, ApplierHandle, Rules};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

mod lease;
mod seat;
pub use lease::*;
pub use seat::{Cloud, EngineStatus, Seat};

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
    /// The fenced store every task of this engine writes through.
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    /// Every task of this engine: emptied at once when the lease is lost.
    tasks: Arc<std::sync::Mutex<Tasks>>,
    receiver_url: Option<String>,
    receiver_error: Option<String>,
    receiver_stop: Arc<Notify>,
    loss: LossWatch,
    supervisor: tokio::task::JoinHandle<()>,
}

/// The engine's tasks; dropping one stops it.
#[derive(Default)]
struct Tasks {
    applier: Option<ApplierHandle>,
    dispatcher: Option<DispatcherHandle>,
    /// Downloads media as it arrives (needs the Cloud API, like sending).
    media: Option<crate::media::MediaHandle>,
    /// Held only to be dropped: dropping it stops automation.
    _automation: Option<crate::automation::AutomationHandle>,
    reminders: Option<ReminderHandle>,
    receiver_task: Option<tokio::task::JoinHandle<()>>,
    alive_task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in [&self.receiver_task, &self.alive_task].into_iter().flatten() {
            t.abort();
        }
    }
}

/// Resolves once this engine stopped because another process took its lease. Cheap to clone,
/// so a window can wait for it without holding the engine.
#[derive(Clone)]
pub struct LossWatch {
    fence: Arc<LeaseFence>,
    stopped: Arc<Notify>,
    /// Who took over, as the owner reads it (known once stopped).
    taken_by: Arc<std::sync::Mutex<Option<String>>>,
}

impl LossWatch {
    pub async fn wait(&self) {
        let notified = self.stopped.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.fence.lost.load(std::sync::atomic::Ordering::Acquire) && self.taken_by().is_some() {
            return;
        }
        notified.await;
    }

    /// Who runs the workspace now, once this engine stopped.
    pub fn taken_by(&self) -> Option<String> {
        self.taken_by.lock().ok().and_then(|t| t.clone())
    }
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
        // Every task writes through the fenced store: none writes once the lease may have passed on.
        let fence = lease.fence();
        let store = &store.fenced(fence.clone());
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
        let tasks = Arc::new(std::sync::Mutex::new(Tasks {
            applier: Some(applier),
            _automation: Some(automation),
            reminders,
            dispatcher: None,
            media: None,
            receiver_task: None,
            alive_task: None,
        }));
        let receiver_stop = Arc::new(Notify::new());
        let loss = LossWatch {
            fence,
            stopped: Arc::new(Notify::new()),
            taken_by: Default::default(),
        };
        let supervisor = tokio::spawn(supervise(
            lease.lost.clone(),
            store.clone(),
            tasks.clone(),
            receiver_stop.clone(),
            loss.clone(),
            s.events.clone(),
        ));
        let mut engine = Engine {
            lease: Some(lease),
            store: store.clone(),
            clock: s.clock.clone(),
            events: s.events.clone(),
            tasks,
            receiver_url: None,
            receiver_error: None,
            receiver_stop,
            loss,
            supervisor,
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
        let Some(waker) = self.with_tasks(|t| t.applier.as_ref().map(|a| a.waker())) else {
            return Err(crate::CoreError::EngineLost);
        };
        let state = receiver::ReceiverState::new(
            self.store.clone(),
            r.app_secret,
            r.verify_token,
            self.clock.clone(),
            waker,
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
        let alive = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(ALIVE_EVERY_SECS)).await;
                if store.engine_may_write().is_err() {
                    continue;
                }
                if let Err(e) = store.note_runtime(RECEIVER_ALIVE, "listening", clock.now()).await {
                    tracing::warn!(error = %e, "could not note that the receiver is alive");
                }
            }
        });
        let stop = self.receiver_stop.clone();
        let serving = tokio::spawn(async move {
            receiver::serve(listener, receiver::router(state), guards, async move {
                stop.notified().await
            })
            .await;
        });
        self.with_tasks(|t| {
            t.alive_task = Some(alive);
            t.receiver_task = Some(serving);
        });
        self.store.note_runtime("receiver", &url, self.clock.now()).await?;
        tracing::info!(%url, "receiving webhooks");
        self.receiver_url = Some(url);
        Ok(())
    }

    /// Sending starts (the demo learns its simulator's address only after the receiver listens).
    pub fn start_sending(&mut self, client: CloudClient, mut settings: SendSettings) {
        settings.events = self.events.clone();
        if self.store.engine_may_write().is_err() {
            return;
        }
        let (store, clock, events) = (self.store.clone(), self.clock.clone(), self.events.clone());
        self.with_tasks(move |t| {
            if t.media.is_none() {
                // A workspace on disk keeps its media beside its database; an in-memory one has none.
                if let Some(dir) = store.media_dir() {
                    t.media = Some(crate::media::MediaHandle::spawn(
                        store.clone(),
                        client.clone(),
                        dir,
                        clock.clone(),
                        Default::default(),
                        events.clone(),
                    ));
                }
            }
            if t.dispatcher.is_none() {
                t.dispatcher = Some(DispatcherHandle::spawn(store, client, settings, clock));
            }
        });
    }

    fn with_tasks<T>(&self, f: impl FnOnce(&mut Tasks) -> T) -> T {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut tasks)
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
        self.with_tasks(|t| t.dispatcher.is_some())
    }

    /// New outbox rows are waiting.
    pub fn wake_dispatcher(&self) {
        self.with_tasks(|t| t.dispatcher.as_ref().map(|d| d.wake()));
    }

    /// Reminders check now (after an acknowledgement, a change of the link…).
    pub fn wake_reminders(&self) {
        self.with_tasks(|t| t.reminders.as_ref().map(|r| r.wake()));
    }

    /// Resolves once another process took the workspace over (this one stalled past its lease)
    /// and every task of this engine has stopped.
    pub async fn lost(&self) {
        self.loss.wait().await
    }

    /// What a window waits on to learn that it no longer runs the workspace.
    pub fn loss_watch(&self) -> LossWatch {
        self.loss.clone()
    }

    /// Stops receiving, lets sends in flight record their outcome, and hands the workspace over.
    pub async fn shutdown(mut self) {
        self.receiver_stop.notify_one();
        let (receiver, dispatcher) = self.with_tasks(|t| (t.receiver_task.take(), t.dispatcher.take()));
        if let Some(t) = receiver {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if let Some(d) = dispatcher {
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
        self.supervisor.abort();
        self.with_tasks(std::mem::take);
    }
}

/// Waits for the lease to be lost, then stops every task of the engine at once and says so.
async fn supervise(
    lost: Arc<Notify>,
    store: Store,
    tasks: Arc<std::sync::Mutex<Tasks>>,
    receiver_stop: Arc<Notify>,
    loss: LossWatch,
    events: EventBus,
) {
    lost.notified().await;
    loss.fence.lose();
    receiver_stop.notify_one();
    let stopped = std::mem::take(&mut *tasks.lock().unwrap_or_else(|p| p.into_inner()));
    drop(stopped);
    let who = match EngineLease::holder(&store).await {
        Ok(Some(h)) => h.describe(),
        _ => "another process runs this workspace".to_string(),
    };
    tracing::error!(%who, "the engine lease was lost: receiver, applier, dispatcher, automation, media and reminders stopped");
    if let Ok(mut t) = loss.taken_by.lock() {
        *t = Some(who.clone());
    }
    events.emit(crate::events::CoreEvent::EngineLost { taken_by: who });
    loss.stopped.notify_waiters();
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
    use crate::send::now_ms;
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

    /// Issue 24, item 9: a process paused past its lease must not write on waking, even before
    /// its renewer has run: its tasks see the renewal overdue and hold their writes.
    #[tokio::test]
    async fn an_overdue_lease_holds_every_write_of_the_engines_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).await.unwrap();
        let Ok(lease) = EngineLease::try_acquire(&store, "app", 300).await.unwrap() else {
            panic!("nobody else holds it");
        };
        let fenced = store.fenced(lease.fence());
        fenced.engine_may_write().unwrap();
        // As if the process stopped: no renewal happens any more.
        lease.stop_renewing();
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(matches!(fenced.engine_may_write(), Err(crate::CoreError::EngineLost)));
        let rules = Rules::default();
        assert!(matches!(
            crate::webhook::apply_pending(&fenced, &rules, &SystemClock).await,
            Err(crate::CoreError::EngineLost)
        ));
        // A store that is not the engine's (the window's own reads and writes) is not fenced.
        store.engine_may_write().unwrap();
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
