//! What runs behind the window: the webhook receiver, the applier, the dispatcher and
//! automation. For a connected number they talk to Meta with the secrets in the OS keyring; for
//! the demo workspace they talk to the project's Cloud API simulator, started in-process on
//! loopback, so sending, statuses, templates and campaigns behave as they would for real.
//!
//! Everything stops when `Live` is dropped.

use coexist_core::cloud::CloudClient;
use coexist_core::config::keyring_for;
use coexist_core::engine::{
    Cloud, Engine as CoreEngine, EngineSettings, EngineStatus, ReceiverSettings, Seat, Started,
};
use coexist_core::events::EventBus;
use coexist_core::secrets::Sensitive;
use coexist_core::send::SendSettings;
use coexist_core::{Clock, CoreError, Store, SystemClock};
use coexist_sim::{Customer, Sim, SimConfig};
use std::path::Path;
use std::sync::Arc;

const DEMO_TOKEN: &str = "demo-access-token";
const DEMO_SECRET: &str = "demo-app-secret";
const DEMO_VERIFY: &str = "demo-verify-token";

pub struct Live {
    /// Running the workspace's engine, or following the process that does.
    seat: Seat,
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

impl Live {
    /// The demo: a simulated Cloud API and phone on loopback, in step with the wall clock.
    pub async fn demo(store: &Store, events: &EventBus) -> Result<Live, CoreError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let io = |e: std::io::Error| CoreError::Invalid(format!("the demo simulator could not start: {e}"));
        // The window's lease: a restarted window waits that long for its predecessor's.
        let mut s = EngineSettings::new("app", clock.clone());
        s.events = events.clone();
        s.patience = std::time::Duration::from_millis(s.lease_ttl_ms as u64 + 1_000);
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
        coexist_core::demo::connect(store, &waba, &phone, &display, now).await?;
        // The simulated WhatsApp knows the demo's customers, with their windows as mirrored.
        let ctx = coexist_core::ops::Ctx::new(store, "demo", None, now);
        for c in coexist_core::ops::contacts(&ctx, None, 10_000, 0).await? {
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
        if let Err(e) = coexist_core::ops::sync_templates(&ctx, &client, &waba).await {
            tracing::warn!(error = %e, "the demo's templates could not be read");
        }
        engine.start_sending(client.clone(), SendSettings::new(&phone, 20));
        tracing::info!(simulator = %addr, receiver = %url, "demo workspace live on the simulator");
        let status = EngineStatus {
            sending: true,
            receiver_url: Some(url),
            notes: vec!["Demo: messages go to a simulated WhatsApp on this computer, nobody receives them.".into()],
            simulator: true,
            engine_elsewhere: None,
        };
        Ok(Live {
            seat: Seat::hold(engine, status, (client, Some(waba)), events),
            sim: Some(sim),
            tasks: vec![clock_task],
        })
    }

    /// A connected number: secrets from the OS keyring, Meta's Graph API (or `COEXIST_API_BASE`).
    /// When `coexist serve` already runs this workspace, the window is its client, and takes the
    /// workspace over once serve stops (its lease expires).
    pub async fn connected(store: &Store, data_dir: &Path, events: &EventBus) -> Result<Live, CoreError> {
        Ok(Live {
            seat: Seat::take(store, Arc::new(keyring_for(data_dir)), "app", events).await?,
            sim: None,
            tasks: Vec::new(),
        })
    }

    /// What the settings and the compose box show now.
    pub fn status(&self) -> EngineStatus {
        self.seat.status()
    }

    /// New outbox rows are waiting (a client's are picked up by the engine's own poll).
    pub fn wake(&self) {
        self.seat.wake()
    }

    /// The Cloud API client and the business account id, when this workspace can send.
    pub fn cloud(&self) -> Option<&Cloud> {
        self.seat.cloud.as_ref()
    }
}

/// The engine, started in the background so the window opens without waiting for the keyring
/// or the simulator; commands that need it wait briefly for it.
#[derive(Default)]
pub struct LiveSlot(tokio::sync::OnceCell<Live>);

impl LiveSlot {
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
