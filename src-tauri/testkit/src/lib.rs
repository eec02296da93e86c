//! What Coexist's tests share, written once: Meta's webhook envelope, the fixtures in
//! `../shared/fixtures`, feeding bodies through the real journal and applier, an approved
//! template, and a simulator on loopback with a client pointed at it.

pub mod postgres;

pub mod fuzz;

use coexist_core::cloud::{CloudClient, TemplateInfo};
use coexist_core::secrets::Sensitive;
use coexist_core::webhook::receiver::{self, Guards, ReceiverState};
use coexist_core::webhook::{apply_pending, ApplierHandle, ApplyReport, Rules, SignatureVerdict};
use coexist_core::{Clock, FixedClock, Store};
use coexist_sim::{Sim, SimConfig};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The WABA id every envelope names.
pub const WABA: &str = "WABA1";

/// One webhook body as Meta posts it: one entry, one change of `field`.
pub fn envelope(field: &str, value: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": field, "value": value}]}]}))
    .expect("JSON serialises")
}

/// The same, with the entry's `time` (Meta sets it on account-level events).
pub fn envelope_at(field: &str, value: Value, at: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": WABA, "time": at, "changes": [{"field": field, "value": value}]}]}))
    .expect("JSON serialises")
}

/// A customer's text message `id` (Asha, 919800000001) as Meta posts it.
pub fn customer_text(id: &str, text: &str, at: i64) -> Vec<u8> {
    envelope(
        "messages",
        json!({"messaging_product": "whatsapp",
               "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PN1"},
               "contacts": [{"wa_id": "919800000001", "profile": {"name": "Asha"}}],
               "messages": [{"from": "919800000001", "id": id, "timestamp": at.to_string(),
                             "type": "text", "text": {"body": text}}]}),
    )
}

/// The fixtures folder (`COEXIST_FIXTURES` overrides it).
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("COEXIST_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/webhooks"))
}

/// The file of the fixture whose name starts with `prefix` (e.g. `"07_"`).
pub fn fixture_path(prefix: &str) -> PathBuf {
    let dir = fixtures_dir();
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixtures folder {} unreadable: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
        .unwrap_or_else(|| panic!("no fixture {prefix} in {}", dir.display()))
}

/// The body of the fixture whose file name starts with `prefix`.
pub fn fixture(prefix: &str) -> Vec<u8> {
    std::fs::read(fixture_path(prefix)).expect("fixture readable")
}

/// Every `.json` fixture, in order.
pub fn fixture_paths() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder readable")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// Every `.json` fixture's file name, in order.
pub fn fixture_names() -> Vec<String> {
    fixture_paths()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

/// Meta's `X-Hub-Signature-256` header for `body` under the app secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Journals `bodies` at `at` and applies them, as the receiver and applier would.
pub async fn feed_all(store: &Store, bodies: &[Vec<u8>], at: i64) -> ApplyReport {
    for b in bodies {
        store
            .journal_append(b, SignatureVerdict::Imported, at)
            .await
            .expect("journaled");
    }
    apply_pending(store, &Rules::default(), &FixedClock::new(at))
        .await
        .expect("applied")
}

/// One body, journaled and applied at `at`.
pub async fn feed(store: &Store, body: Vec<u8>, at: i64) -> ApplyReport {
    feed_all(store, &[body], at).await
}

/// An approved template with a one-line body, as a template sync would leave it.
pub async fn approved_template(store: &Store, name: &str, category: &str, now: i64) {
    let t = TemplateInfo {
        id: name.into(),
        name: name.into(),
        language: "en".into(),
        category: category.to_uppercase(),
        status: "APPROVED".into(),
        components: json!([{"type": "BODY", "text": "Hello"}]),
    };
    store.upsert_template(&t, now).await.expect("template stored");
}

/// The simulator's customers (`GET /_sim/customers`), as it lists them.
pub async fn sim_customers(sim_url: &str) -> Vec<Value> {
    reqwest::get(format!("{sim_url}/_sim/customers"))
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("a customer list")
}

/// A campaign audience for a two-parameter template such as `order_update`: each customer's
/// phone, `{{1}}` their name and `{{2}}` a reference `#i`.
pub fn order_update_csv(customers: &[Value]) -> String {
    let mut csv = String::from("phone,1,2\n");
    for (i, c) in customers.iter().enumerate() {
        csv.push_str(&format!(
            "{},{},#{i}\n",
            c["wa_id"].as_str().expect("a wa_id"),
            c["name"].as_str().expect("a name")
        ));
    }
    csv
}

/// The Cloud API simulator on a loopback port, and a client that reaches it.
pub struct SimServer {
    pub sim: Arc<Sim>,
    pub addr: SocketAddr,
}

impl SimServer {
    pub async fn start(cfg: SimConfig) -> Self {
        let sim = Sim::new(cfg);
        let addr = sim
            .serve("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("simulator listens");
        SimServer { sim, addr }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client with `token` (the simulator accepts `sim-access-token`).
    pub fn client(&self, token: &str) -> CloudClient {
        CloudClient::new(
            &self.base(),
            "v23.0",
            Sensitive::new(token.to_string()),
            Duration::from_secs(5),
        )
    }
}

/// The real webhook receiver on a loopback port, with its applier.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/webhook`
    pub url: String,
    pub applier: ApplierHandle,
}

impl Receiver {
    /// `127.0.0.1:PORT`, for tests that speak raw HTTP.
    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches("/webhook")
            .to_string()
    }
}

/// Starts the receiver (as the engine does) for `store`, checking signatures with `app_secret`.
pub async fn start_receiver(store: &Store, app_secret: &str, clock: Arc<dyn Clock>, guards: Guards) -> Receiver {
    let applier = ApplierHandle::spawn(store.clone(), Rules::default(), clock.clone());
    let state = ReceiverState::new(
        store.clone(),
        Sensitive::new(app_secret.to_string()),
        Sensitive::new("verify".into()),
        clock,
        applier.waker(),
        &guards,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port");
    let url = format!("http://{}/webhook", listener.local_addr().expect("bound"));
    tokio::spawn(receiver::serve(
        listener,
        receiver::router(state),
        guards,
        std::future::pending(),
    ));
    Receiver { url, applier }
}
