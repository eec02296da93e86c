//! coexist-sim: a faithful loopback stand-in for Meta's WhatsApp Cloud API and for the owner's
//! phone. It enforces the documented limits and errors, posts signed webhooks (with faults when
//! asked), runs named scenarios on a virtual clock, and exposes the ground truth at `/_sim/stats`
//! so tests can compare a Coexist mirror with what "Meta" really sent.
//!
//! It shares no code with coexist-core on purpose: each checks the other.

mod control;
mod graph;
mod hooks;
pub mod media;
mod pricing;
mod scenario;
pub use scenario::Attachment;
mod truth;

use axum::routing::{get, post};
use axum::Router;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use scenario::Scenario;
pub use truth::Truth;

/// Fault rates (0.0–1.0) and sizes. Webhook faults change how deliveries reach the receiver;
/// API faults change how the Graph API answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// A webhook delivered twice.
    pub duplicate: f64,
    /// A webhook held back and delivered after the next one.
    pub reorder: f64,
    /// A webhook delayed by `delay_ms` before delivery.
    pub delay: f64,
    pub delay_ms: u64,
    /// An API call answered with HTTP 500 (code 2) and not processed.
    pub server_error: f64,
    /// An API call processed, but its answer held for `timeout_ms` (the client gives up first).
    pub timeout: f64,
    pub timeout_ms: u64,
    /// An API call whose connection breaks before a complete answer (not processed).
    pub drop_connection: f64,
    /// An API call processed (the message really goes out, statuses follow) but answered with
    /// HTTP 500 (code 2): what a client sees when Meta fails after sending.
    pub server_error_after_send: f64,
    /// A follow-up page (a template list's `paging.next` link) whose connection breaks.
    pub drop_next_page: f64,
    /// Media bytes sent 64 KiB at a time with this pause (ms) between pieces: a slow line.
    pub slow_media_ms: u64,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where webhooks go (Coexist's `/webhook`); none: webhooks are only counted.
    pub webhook_url: Option<String>,
    pub app_secret: String,
    pub access_token: String,
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_number: String,
    pub verified_name: String,
    /// Messages per second for this number (20 for coexistence; some operators run 5).
    pub throughput: u32,
    pub seed: u64,
    /// The virtual clock's start (unix seconds).
    pub start_time: i64,
    /// When the number was onboarded (the 24 h sync window counts from here).
    pub onboarded_at: i64,
    /// The owner turned history sharing off on the phone: a history request is declined.
    pub history_declined: bool,
    pub faults: Faults,
    /// The portfolio's messaging limit: unique customers reached with templates outside a
    /// service window per rolling 24 h (250, 2,000, 10,000, 100,000); `None` is unlimited.
    pub messaging_limit: Option<u32>,
    /// The number uses No Storage: media ids can be downloaded for 1 hour, not 7 days.
    pub no_storage: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        let start = 1_763_712_000; // 2025-11-21 08:00 UTC: per-message pricing applies.
        SimConfig {
            webhook_url: None,
            app_secret: "sim-app-secret".into(),
            access_token: "sim-access-token".into(),
            waba_id: "102290129340398".into(),
            phone_number_id: "106540352242922".into(),
            display_number: "15550783881".into(),
            verified_name: "Sim Shop".into(),
            throughput: 20,
            seed: 1,
            start_time: start,
            onboarded_at: start - 3600,
            history_declined: false,
            faults: Faults::default(),
            messaging_limit: None,
            no_storage: false,
        }
    }
}

/// A customer the simulated WhatsApp knows.
#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub wa_id: String,
    pub bsuid: String,
    pub name: String,
    pub country: String,
    /// Last message from the customer (opens the 24 h window).
    pub last_inbound_at: Option<i64>,
    /// End of a 72 h free-entry-point window (ad / CTA referral).
    pub free_entry_until: Option<i64>,
    /// Whether this customer's phone sends read receipts.
    pub reads: bool,
    pub opted_in_marketing: bool,
    /// The customer adopted a WhatsApp username and withholds the phone: webhooks name them by
    /// BSUID only (`wa_id`/`from` absent, DESIGN §4), and a business reaches them with
    /// `"recipient": BSUID`. Their key in `customers` is still a stable id of the simulator's.
    #[serde(default)]
    pub username_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    #[serde(default)]
    pub components: serde_json::Value,
    /// Virtual time after which a PENDING template is reviewed.
    #[serde(skip)]
    pub review_at: Option<i64>,
}

/// A message the API accepted.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub wamid: String,
    /// The customer's key: their phone, or their BSUID when the send named them by `recipient`.
    pub to: String,
    /// Which request field addressed them: `to` (a phone) or `recipient` (a BSUID).
    pub addressed_by: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub template: Option<String>,
    pub category: Option<String>,
    pub callback: Option<String>,
    /// The media id it carried (a file, or a template's header picture or document).
    pub media_id: Option<String>,
    pub at: i64,
    pub pricing_type: String,
    pub billable: bool,
    /// Wall-clock milliseconds when the simulator accepted it (pacing measurements).
    pub accepted_ms: i64,
}

/// Counters a test or benchmark compares against.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub api_calls: u64,
    pub accepted: u64,
    pub errors_by_code: BTreeMap<i64, u64>,
    pub delivered_per_recipient: BTreeMap<String, u64>,
    pub webhooks_queued: u64,
    pub webhook_posts: u64,
    pub webhook_retries: u64,
    pub webhooks_by_field: BTreeMap<String, u64>,
    pub faults_injected: BTreeMap<String, u64>,
    /// `smb_app_data` requests received, accepted or not (the once-only rule is checked against it).
    pub sync_requests: u64,
    /// Template sends refused because the messaging limit was reached.
    pub messaging_limit_refused: u64,
    /// Downloads of each media id's bytes.
    pub media_downloads: BTreeMap<String, u64>,
    /// Files uploaded (and accepted) for sending.
    pub media_uploads: u64,
}

pub(crate) struct State {
    pub cfg: SimConfig,
    pub now: i64,
    pub rng: StdRng,
    pub customers: BTreeMap<String, Customer>,
    pub templates: Vec<Template>,
    pub accepted: Vec<Accepted>,
    pub syncs: HashMap<String, String>,
    pub phone_opened_at: i64,
    pub partner_removed: bool,
    pub next_id: u64,
    pub counters: Counters,
    pub truth: Truth,
    /// Customers reached with a business-initiated template, and when (the limit's rolling 24 h).
    pub reached: HashMap<String, i64>,
    /// Media ids and their bytes.
    pub media: HashMap<String, media::MediaItem>,
}

/// Meta's name for a messaging limit (`whatsapp_business_manager_messaging_limit`).
pub fn limit_tier(limit: Option<u32>) -> String {
    match limit {
        None => "TIER_UNLIMITED".into(),
        Some(n) if n >= 1000 && n % 1000 == 0 => format!("TIER_{}K", n / 1000),
        Some(n) => format!("TIER_{n}"),
    }
}

impl State {
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:012}", self.next_id)
    }
}

/// The running simulator: shared state, limiters, and the webhook poster.
pub struct Sim {
    pub(crate) state: Mutex<State>,
    pub(crate) limits: graph::Limits,
    pub(crate) hooks: hooks::Poster,
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Arc<Sim> {
        let limits = graph::Limits::new(cfg.throughput);
        let hooks = hooks::Poster::new(
            cfg.webhook_url.clone(),
            cfg.app_secret.clone(),
            cfg.seed,
            cfg.faults.clone(),
        );
        let state = State {
            now: cfg.start_time,
            rng: StdRng::seed_from_u64(cfg.seed),
            customers: BTreeMap::new(),
            templates: scenario::default_templates(),
            accepted: Vec::new(),
            syncs: HashMap::new(),
            phone_opened_at: cfg.start_time,
            partner_removed: false,
            next_id: 0,
            counters: Counters::default(),
            truth: Truth::default(),
            reached: HashMap::new(),
            media: HashMap::new(),
            cfg,
        };
        Arc::new(Sim {
            state: Mutex::new(state),
            limits,
            hooks,
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The HTTP surface: the Graph API subset and `/_sim/*` control.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/_sim/clock", get(control::clock_get).post(control::clock_post))
            .route("/_sim/stats", get(control::stats))
            .route("/_sim/scenario", post(control::scenario_post))
            .route("/_sim/faults", post(control::faults_post))
            .route("/_sim/phone/open", post(control::phone_open))
            .route("/_sim/webhook_url", post(control::webhook_url))
            .route(
                "/_sim/customers",
                get(control::customers_get).post(control::customers_post),
            )
            .route("/_sim/customer_message", post(control::customer_message))
            .route("/_sim/media", post(media::media_post))
            .route("/_sim/media/{id}", get(media::bytes_get))
            .route("/{ver}/{id}", get(graph::node_get))
            .route("/{ver}/{id}/messages", post(graph::send_message))
            .route(
                "/{ver}/{id}/message_templates",
                get(graph::templates_get).post(graph::templates_post),
            )
            .route("/{ver}/{id}/media", post(media::upload))
            .route("/{ver}/{id}/smb_app_data", post(graph::smb_app_data))
            .with_state(self.clone())
    }

    /// Serves on `addr` (port 0 picks one) in the background; returns the bound address.
    pub async fn serve(self: &Arc<Self>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        Ok(local)
    }

    /// Runs a scenario now (its events are queued as webhooks in order).
    pub fn run_scenario(&self, scenario: &Scenario) {
        scenario::run(self, scenario);
    }

    /// Webhooks not yet delivered (queued, held back or being retried).
    pub fn webhooks_pending(&self) -> u64 {
        self.hooks.pending()
    }

    /// Every message accepted so far.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.lock().accepted.clone()
    }

    /// Graph errors issued so far, by code.
    pub fn errors_by_code(&self) -> BTreeMap<i64, u64> {
        self.lock().counters.errors_by_code.clone()
    }

    pub fn truth(&self) -> Truth {
        self.lock().truth.clone()
    }

    /// The virtual clock (unix seconds).
    pub fn now(&self) -> i64 {
        self.lock().now
    }

    /// Adds or replaces a customer (the demo workspace tells the simulator who its contacts are).
    pub fn insert_customer(&self, c: Customer) {
        self.lock().customers.insert(c.wa_id.clone(), c);
    }

    /// The number starts or stops using No Storage (media ids last 1 hour instead of 7 days).
    pub fn set_no_storage(&self, on: bool) {
        self.lock().cfg.no_storage = on;
    }

    /// A customer writes in now; returns the message id.
    pub fn customer_writes(&self, wa_id: &str, text: &str) -> Option<String> {
        let mut st = self.lock();
        if !st.customers.contains_key(wa_id) {
            return None;
        }
        let now = st.now;
        Some(scenario::inbound(self, &mut st, wa_id, now, text, false))
    }

    /// A customer sends a file now (see [`Attachment`]); `caption` goes with photos
    /// and documents.
    pub fn customer_sends(&self, wa_id: &str, caption: &str, what: Attachment) -> Option<String> {
        let mut st = self.lock();
        if !st.customers.contains_key(wa_id) {
            return None;
        }
        let now = st.now;
        Some(scenario::media_in(self, &mut st, wa_id, now, caption, what))
    }

    /// Keeps the virtual clock on the wall clock (the demo runs in real time, not test time).
    /// Must be called inside a Tokio runtime; abort the handle to stop.
    pub fn follow_wall_clock(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let sim = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(sim) = sim.upgrade() else { break };
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                let behind = wall - sim.now();
                if behind > 0 {
                    sim.advance(behind);
                }
            }
        })
    }

    /// Advances the virtual clock, reviewing templates and checking the phone-app rule.
    pub fn advance(&self, secs: i64) {
        let mut st = self.lock();
        st.now += secs.max(0);
        graph::on_clock(self, &mut st);
    }
}
