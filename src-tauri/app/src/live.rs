//! What runs behind the window: the webhook receiver, the applier, the dispatcher and
//! automation. For a connected number they talk to Meta with the secrets in the OS keyring; for
//! the demo workspace they talk to the project's Cloud API simulator, started in-process on
//! loopback, so sending, statuses, templates and campaigns behave as they would for real.
//!
//! Everything stops when `Live` is dropped.

use coexist_core::cloud::CloudClient;
use coexist_core::engine::{Engine as CoreEngine, EngineSettings, ReceiverSettings, Started};
use coexist_core::events::EventBus;
use coexist_core::secrets::{self, KeyringStore, SecretKind, Sensitive};
use coexist_core::send::SendSettings;
use coexist_core::{Clock, CoreError, Store, SystemClock};
use coexist_sim::{Customer, Sim, SimConfig};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

const DEMO_TOKEN: &str = "demo-access-token";
const DEMO_SECRET: &str = "demo-app-secret";
const DEMO_VERIFY: &str = "demo-verify-token";

/// What the settings and the compose box need to know about the engine.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EngineStatus {
    /// Messages can leave (a dispatcher runs here, or in the process that runs the workspace).
    pub sending: bool,
    /// Where webhooks are received, when listening.
    pub receiver_url: Option<String>,
    /// Why sending or receiving is off, in the owner's words.
    pub notes: Vec<String>,
    pub simulator: bool,
    /// Another process (`coexist serve`) runs this workspace; this window is its client.
    pub engine_elsewhere: Option<String>,
}

pub struct Live {
    status: Arc<std::sync::Mutex<EngineStatus>>,
    /// The workspace's engine when this window runs it; none while it is a client (it takes the
    /// workspace over when the other process stops).
    engine: Arc<std::sync::Mutex<Option<Box<CoreEngine>>>>,
    pub cloud: Option<(CloudClient, Option<String>)>,
    pub sim: Option<Arc<Sim>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How long the window's engine lease outlives a crash; a restarted window waits that long for
/// its predecessor's lease before it settles for being a client.
const LEASE_TTL_MS: i64 = 10_000;

fn settings(events: &EventBus) -> EngineSettings {
    let mut s = EngineSettings::new("app", Arc::new(SystemClock));
    s.events = events.clone();
    s.lease_ttl_ms = LEASE_TTL_MS;
    s.patience = std::time::Duration::from_millis(LEASE_TTL_MS as u64 + 1_000);
    s
}

impl Live {
    /// The demo: a simulated Cloud API and phone on loopback, in step with the wall clock.
    pub async fn demo(store: &Store, events: &EventBus) -> Result<Live, CoreError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let io = |e: std::io::Error| CoreError::Invalid(format!("the demo simulator could not start: {e}"));
        let mut s = settings(events);
        s.receiver = Some(ReceiverSettings {
            addr: "127.0.0.1:0".parse().expect("literal address"),
            app_secret: Sensitive::new(DEMO_SECRET.into()),
            verify_token: Sensitive::new(DEMO_VERIFY.into()),
            watch_gaps: false,
        });
        let mut engine = match CoreEngine::start(store, s).await? {
            Started::Engine(e) => e,
            Started::Client(h) => {
                return Err(CoreError::NotConfigured(format!(
                    "{}: the demo runs in one window at a time",
                    h.describe()
                )))
            }
        };
        let url = engine.receiver_url().map(String::from).ok_or_else(|| {
            CoreError::Invalid(format!(
                "the demo receiver could not start: {:?}",
                engine.receiver_error()
            ))
        })?;
        let now = clock.now();
        let cfg = SimConfig {
            webhook_url: Some(url.clone()),
            app_secret: DEMO_SECRET.into(),
            access_token: DEMO_TOKEN.into(),
            start_time: now,
            onboarded_at: now - 3600,
            ..SimConfig::default()
        };
        let (waba, phone, display) = (
            cfg.waba_id.clone(),
            cfg.phone_number_id.clone(),
            cfg.display_number.clone(),
        );
        let sim = Sim::new(cfg);
        let addr = sim
            .serve("127.0.0.1:0".parse().expect("literal address"))
            .await
            .map_err(io)?;
        let clock_task = sim.follow_wall_clock();
        store
            .record_connection(Some(&waba), Some(&phone), Some(&display), now - 3600, now)
            .await?;
        // The simulated WhatsApp knows the demo's customers, with their windows as mirrored.
        for c in store.contacts(None, 10_000, 0).await? {
            // A customer known only by BSUID (a username) is reached by `recipient` there too.
            let (wa, username_only) = match (c.wa_id.clone(), c.bsuid.clone()) {
                (Some(wa), _) => (wa, false),
                (None, Some(b)) => (b, true),
                (None, None) => continue,
            };
            sim.insert_customer(Customer {
                username_only,
                bsuid: c.bsuid.clone().unwrap_or_else(|| format!("XX.{}", c.id)),
                name: c.display_name.clone(),
                country: String::new(),
                last_inbound_at: c.last_inbound_at,
                free_entry_until: None,
                reads: true,
                opted_in_marketing: c.consent.as_deref() == Some("opt_in"),
                wa_id: wa,
            });
        }
        let client = CloudClient::new(
            &format!("http://{addr}"),
            &coexist_core::cloud::graph_version::GraphVersions::shipped().tested,
            Sensitive::new(DEMO_TOKEN.into()),
            std::time::Duration::from_secs(10),
        );
        sync_templates(store, &client, &waba, now).await;
        engine.start_sending(client.clone(), SendSettings::new(&phone, 20));
        tracing::info!(simulator = %addr, receiver = %url, "demo workspace live on the simulator");
        let status = Arc::new(std::sync::Mutex::new(EngineStatus {
            sending: true,
            receiver_url: Some(url),
            notes: vec!["Demo: messages go to a simulated WhatsApp on this computer, nobody receives them.".into()],
            simulator: true,
            engine_elsewhere: None,
        }));
        let watch = engine.loss_watch();
        let slot = Arc::new(std::sync::Mutex::new(Some(engine)));
        let demoted = tokio::spawn({
            let (slot, status, events) = (slot.clone(), status.clone(), events.clone());
            async move { become_client_when_lost(watch, &slot, &status, &events).await }
        });
        Ok(Live {
            status,
            engine: slot,
            cloud: Some((client, Some(waba))),
            sim: Some(sim),
            tasks: vec![clock_task, demoted],
        })
    }

    /// A connected number: secrets from the OS keyring, Meta's Graph API (or `COEXIST_API_BASE`).
    /// When `coexist serve` already runs this workspace, the window is its client, and takes the
    /// workspace over once serve stops (its lease expires).
    pub async fn connected(store: &Store, data_dir: &Path, events: &EventBus) -> Result<Live, CoreError> {
        let (s, mut status, cloud) = connected_settings(store, data_dir, events).await?;
        let started = CoreEngine::start(store, s).await?;
        let mut tasks = Vec::new();
        let engine = match started {
            Started::Engine(e) => {
                note_engine(&mut status, &e);
                Some(e)
            }
            Started::Client(holder) => {
                let who = holder.describe();
                status.notes.push(format!(
                    "{who}: it receives, sends and runs automation; this window reads the mirror and queues what you send."
                ));
                status.engine_elsewhere = Some(who);
                None
            }
        };
        let status = Arc::new(std::sync::Mutex::new(status));
        let slot = Arc::new(std::sync::Mutex::new(engine));
        tasks.push(tokio::spawn(run_or_follow(
            store.clone(),
            data_dir.to_path_buf(),
            events.clone(),
            slot.clone(),
            status.clone(),
        )));
        Ok(Live {
            status,
            engine: slot,
            cloud,
            sim: None,
            tasks,
        })
    }

    /// What the settings and the compose box show now.
    pub fn status(&self) -> EngineStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// New outbox rows are waiting (a client's are picked up by the engine's own poll).
    pub fn wake(&self) {
        if let Ok(slot) = self.engine.lock() {
            if let Some(e) = slot.as_ref() {
                e.wake_dispatcher();
            }
        }
    }
}

/// The engine settings of a connected workspace: secrets from the keyring, where to listen.
async fn connected_settings(
    store: &Store,
    data_dir: &Path,
    events: &EventBus,
) -> Result<(EngineSettings, EngineStatus, Option<(CloudClient, Option<String>)>), CoreError> {
    let canonical = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_path_buf());
    let keyring = KeyringStore::new(&canonical.display().to_string());
    let secret = |k: SecretKind| secrets::lookup(&keyring, k).ok().flatten();
    let mut status = EngineStatus::default();
    let ids = store.account_ids().await?;
    let mut s = settings(events);
    let mut cloud = None;
    match (secret(SecretKind::AccessToken), ids.phone_number_id.clone()) {
        (Some(token), Some(phone)) => {
            let client = CloudClient::from_env(token, std::time::Duration::from_secs(20));
            let rate = ids.throughput_cap.max(1) as u32;
            s.sending = Some((client.clone(), SendSettings::new(&phone, rate)));
            cloud = Some((client, ids.waba_id.clone()));
            status.sending = true;
        }
        (None, _) => status
            .notes
            .push("Sending is off: no access token is stored. Connect the number in Settings.".into()),
        (_, None) => status
            .notes
            .push("Sending is off: the phone number id is unknown. Connect the number in Settings.".into()),
    }
    let listen: SocketAddr = std::env::var("COEXIST_LISTEN")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:8787".parse().expect("literal address"));
    match (secret(SecretKind::AppSecret), secret(SecretKind::VerifyToken)) {
        (Some(app_secret), Some(verify_token)) => {
            s.receiver = Some(ReceiverSettings {
                addr: listen,
                app_secret,
                verify_token,
                watch_gaps: true,
            })
        }
        _ => status
            .notes
            .push("Webhooks are off: the app secret or verify token is not stored.".into()),
    }
    Ok((s, status, cloud))
}

fn note_engine(status: &mut EngineStatus, e: &CoreEngine) {
    status.receiver_url = e.receiver_url().map(String::from);
    if let Some(why) = e.receiver_error() {
        status
            .notes
            .push(format!("Webhooks are not received by this window: {why}."));
    }
}

/// A window that runs the workspace watches its lease, and one that is a client watches the
/// holder: the engine stops and the window becomes a client when another process takes over
/// (this one stalled past its lease), and takes the workspace back once that process stops.
async fn run_or_follow(
    store: Store,
    data_dir: std::path::PathBuf,
    events: EventBus,
    slot: Arc<std::sync::Mutex<Option<Box<CoreEngine>>>>,
    status: Arc<std::sync::Mutex<EngineStatus>>,
) {
    loop {
        let watch = slot.lock().ok().and_then(|e| e.as_ref().map(|e| e.loss_watch()));
        match watch {
            Some(w) => become_client_when_lost(w, &slot, &status, &events).await,
            None => {
                take_over_when_free(
                    store.clone(),
                    data_dir.clone(),
                    events.clone(),
                    slot.clone(),
                    status.clone(),
                )
                .await
            }
        }
    }
}

/// Waits until the window's engine lost its lease, then drops it (every task has stopped
/// already) and tells the owner which process runs the workspace now.
async fn become_client_when_lost(
    watch: coexist_core::engine::LossWatch,
    slot: &std::sync::Mutex<Option<Box<CoreEngine>>>,
    status: &std::sync::Mutex<EngineStatus>,
    events: &EventBus,
) {
    watch.wait().await;
    let who = watch
        .taken_by()
        .unwrap_or_else(|| "another process runs this workspace".into());
    let stopped = slot.lock().ok().and_then(|mut e| e.take());
    drop(stopped);
    tracing::warn!(%who, "this window no longer runs the workspace: it is a client now");
    if let Ok(mut st) = status.lock() {
        st.receiver_url = None;
        st.notes = vec![format!(
            "{who}: it took the workspace over while this window was not responding. It receives, sends and runs automation; this window reads the mirror and queues what you send."
        )];
        st.engine_elsewhere = Some(who);
    }
    events.emit(coexist_core::events::CoreEvent::MirrorChanged { applied: 0 });
}

/// A client window keeps an eye on the lease: when the process that ran the workspace stops
/// (closed, or killed and its lease expired), the window starts the engine itself and says so.
async fn take_over_when_free(
    store: Store,
    data_dir: std::path::PathBuf,
    events: EventBus,
    slot: Arc<std::sync::Mutex<Option<Box<CoreEngine>>>>,
    status: Arc<std::sync::Mutex<EngineStatus>>,
) {
    // While a client, the window hears the engine process's writes through the relay; it stops
    // when this window takes the workspace over (its own engine announces from then on).
    let _relay =
        coexist_core::events::Relay::spawn(store.clone(), events.clone(), std::time::Duration::from_millis(500));
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(LEASE_TTL_MS as u64)).await;
        match coexist_core::engine::EngineLease::holder(&store).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not read who runs the workspace");
                continue;
            }
        }
        let Ok((mut s, mut fresh, _)) = connected_settings(&store, &data_dir, &events).await else {
            continue;
        };
        s.patience = std::time::Duration::ZERO;
        match CoreEngine::start(&store, s).await {
            Ok(Started::Engine(e)) => {
                note_engine(&mut fresh, &e);
                fresh
                    .notes
                    .push("The process that ran this workspace stopped; this window runs it now.".into());
                tracing::info!("the workspace's engine was free: this window runs it now");
                if let Ok(mut st) = status.lock() {
                    *st = fresh;
                }
                if let Ok(mut sl) = slot.lock() {
                    *sl = Some(e);
                }
                events.emit(coexist_core::events::CoreEvent::MirrorChanged { applied: 0 });
                return;
            }
            Ok(Started::Client(_)) => continue,
            Err(e) => tracing::warn!(error = %e, "could not take the workspace over"),
        }
    }
}

/// Templates as the account has them now; a failure leaves the last synced list.
pub async fn sync_templates(store: &Store, client: &CloudClient, waba: &str, now: i64) {
    match client.templates(waba).await {
        Ok(list) => {
            if let Err(e) = store.sync_templates(&list, now).await {
                tracing::warn!(error = %e, "templates could not be saved");
            }
        }
        Err(e) => tracing::warn!(error = %e.message, "templates could not be read"),
    }
}

/// The engine, started in the background so the window opens without waiting for the keyring
/// or the simulator; commands that need it wait briefly for it.
#[derive(Default)]
pub struct Engine(tokio::sync::OnceCell<Live>);

impl Engine {
    pub fn set(&self, live: Live) {
        if self.0.set(live).is_err() {
            tracing::warn!("the engine was started twice; the second is dropped");
        }
    }

    /// The running engine, waiting up to 15 s for it to start.
    pub async fn ready(&self) -> Result<&Live, crate::error::UiError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            if let Some(live) = self.0.get() {
                return Ok(live);
            }
            if std::time::Instant::now() > deadline {
                return Err(CoreError::NotConfigured("Coexist is still starting; try again in a moment".into()).into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
