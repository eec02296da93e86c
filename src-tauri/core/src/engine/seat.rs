//! A desktop process's seat at its workspace: it runs the engine, or it is a client of the
//! process that does (`coexist serve`) and takes the workspace over once that process stops. A
//! process that stalled past its lease loses the engine and becomes a client. While a client, it
//! hears the engine's writes through the [`Relay`](crate::events::Relay).

use super::{Engine, LossWatch, Started};
use crate::cloud::CloudClient;
use crate::config::Config;
use crate::error::Result;
use crate::events::{CoreEvent, EventBus, Relay};
use crate::secrets::SecretStore;
use crate::store::Store;
use crate::SystemClock;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the settings and the compose box need to know about the engine.
#[derive(Debug, Clone, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EngineStatus {
    /// Messages can leave (a dispatcher runs here, or in the process that runs the workspace).
    pub sending: bool,
    /// Where webhooks are received, when listening.
    pub receiver_url: Option<String>,
    /// Why sending or receiving is off, in the owner's words.
    pub notes: Vec<String>,
    pub simulator: bool,
    /// Another process (`coexist serve`) runs this workspace; this one is its client.
    pub engine_elsewhere: Option<String>,
}

type Slot = Arc<Mutex<Option<Box<Engine>>>>;

/// How often a client looks whether the engine is free (the window's lease time).
const FOLLOW_EVERY: Duration = Duration::from_secs(10);

pub struct Seat {
    status: Arc<Mutex<EngineStatus>>,
    engine: Slot,
    /// The client for what a desk sends itself (uploads, templates, sync requests).
    pub cloud: Option<Cloud>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Cloud API client this workspace sends with, and its business account id.
pub type Cloud = (CloudClient, Option<String>);

/// Reads the settings afresh (a take-over after serve stopped uses the secrets stored since).
async fn settings(
    store: &Store,
    secrets: &dyn SecretStore,
    kind: &'static str,
    events: &EventBus,
) -> Result<(super::EngineSettings, EngineStatus, Option<Cloud>)> {
    let config = Config::load(store, secrets).await?;
    let (mut s, notes) = config.engine(kind, Arc::new(SystemClock), config.listen);
    s.events = events.clone();
    s.patience = Duration::from_millis(s.lease_ttl_ms as u64 + 1_000);
    let status = EngineStatus {
        sending: s.sending.is_some(),
        notes,
        ..EngineStatus::default()
    };
    let cloud = s.sending.as_ref().map(|(c, _)| (c.clone(), config.waba_id.clone()));
    Ok((s, status, cloud))
}

fn note_engine(status: &mut EngineStatus, e: &Engine) {
    status.receiver_url = e.receiver_url().map(String::from);
    if let Some(why) = e.receiver_error() {
        status.notes.push(format!("Webhooks are not received here: {why}."));
    }
}

impl Seat {
    /// Runs the workspace's engine from its [`Config`], or follows the process that runs it.
    pub async fn take(
        store: &Store,
        secrets: Arc<dyn SecretStore>,
        kind: &'static str,
        events: &EventBus,
    ) -> Result<Seat> {
        let (s, mut status, cloud) = settings(store, secrets.as_ref(), kind, events).await?;
        let engine = match Engine::start(store, s).await? {
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
        let status = Arc::new(Mutex::new(status));
        let slot: Slot = Arc::new(Mutex::new(engine));
        let task = tokio::spawn(run_or_follow(
            store.clone(),
            secrets,
            kind,
            events.clone(),
            slot.clone(),
            status.clone(),
        ));
        Ok(Seat {
            status,
            engine: slot,
            cloud,
            task,
        })
    }

    /// An engine started by the caller (the demo's, on its simulator): only its loss is watched.
    pub fn hold(engine: Box<Engine>, status: EngineStatus, cloud: Cloud, events: &EventBus) -> Seat {
        let watch = engine.loss_watch();
        let status = Arc::new(Mutex::new(status));
        let slot: Slot = Arc::new(Mutex::new(Some(engine)));
        let task = tokio::spawn({
            let (slot, status, events) = (slot.clone(), status.clone(), events.clone());
            async move { become_client_when_lost(watch, &slot, &status, &events).await }
        });
        Seat {
            status,
            engine: slot,
            cloud: Some(cloud),
            task,
        }
    }

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

async fn run_or_follow(
    store: Store,
    secrets: Arc<dyn SecretStore>,
    kind: &'static str,
    events: EventBus,
    slot: Slot,
    status: Arc<Mutex<EngineStatus>>,
) {
    loop {
        let watch = slot.lock().ok().and_then(|e| e.as_ref().map(|e| e.loss_watch()));
        match watch {
            Some(w) => become_client_when_lost(w, &slot, &status, &events).await,
            None => take_over_when_free(&store, secrets.as_ref(), kind, &events, &slot, &status).await,
        }
    }
}

/// Waits until this process's engine lost its lease, then drops it (every task has stopped
/// already) and says which process runs the workspace now.
async fn become_client_when_lost(watch: LossWatch, slot: &Slot, status: &Mutex<EngineStatus>, events: &EventBus) {
    watch.wait().await;
    let who = watch
        .taken_by()
        .unwrap_or_else(|| "another process runs this workspace".into());
    let stopped = slot.lock().ok().and_then(|mut e| e.take());
    drop(stopped);
    tracing::warn!(%who, "this process no longer runs the workspace: it is a client now");
    if let Ok(mut st) = status.lock() {
        st.receiver_url = None;
        st.notes = vec![format!(
            "{who}: it took the workspace over while this window was not responding. It receives, sends and runs automation; this window reads the mirror and queues what you send."
        )];
        st.engine_elsewhere = Some(who);
    }
    events.emit(CoreEvent::MirrorChanged { applied: 0 });
}

/// A client keeps an eye on the lease: when the process that ran the workspace stops (closed,
/// or killed and its lease expired), this one starts the engine itself and says so.
async fn take_over_when_free(
    store: &Store,
    secrets: &dyn SecretStore,
    kind: &'static str,
    events: &EventBus,
    slot: &Slot,
    status: &Mutex<EngineStatus>,
) {
    // While a client, the engine process's writes arrive through the relay; it stops when this
    // process takes the workspace over (its own engine announces from then on).
    let _relay = Relay::spawn(store.clone(), events.clone(), Duration::from_millis(500));
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        match super::EngineLease::holder(store).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not read who runs the workspace");
                continue;
            }
        }
        let Ok((mut s, mut fresh, _)) = settings(store, secrets, kind, events).await else {
            continue;
        };
        s.patience = Duration::ZERO;
        match Engine::start(store, s).await {
            Ok(Started::Engine(e)) => {
                note_engine(&mut fresh, &e);
                fresh
                    .notes
                    .push("The process that ran this workspace stopped; this window runs it now.".into());
                tracing::info!("the workspace's engine was free: this process runs it now");
                if let Ok(mut st) = status.lock() {
                    *st = fresh;
                }
                if let Ok(mut sl) = slot.lock() {
                    *sl = Some(e);
                }
                events.emit(CoreEvent::MirrorChanged { applied: 0 });
                return;
            }
            Ok(Started::Client(_)) => continue,
            Err(e) => tracing::warn!(error = %e, "could not take the workspace over"),
        }
    }
}
