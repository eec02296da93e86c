//! Outgoing webhooks: built in Meta's envelope, signed with the app secret, delivered in order
//! by one poster with retries on anything but 2xx, and faults (duplicates, reordering, delays)
//! when asked.

use crate::{Faults, SimConfig};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Meta's webhook envelope around one change.
pub fn envelope(cfg: &SimConfig, field: &str, mut value: Value, time: Option<i64>) -> Vec<u8> {
    if field != "account_update" {
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({"display_phone_number": cfg.display_number, "phone_number_id": cfg.phone_number_id});
    }
    let mut entry = json!({"id": cfg.waba_id, "changes": [{"field": field, "value": value}]});
    if let Some(t) = time {
        entry["time"] = json!(t);
    }
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [entry]})).expect("JSON serialises")
}

/// `sha256=<hex>` of the body with the app secret, as Meta signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

struct Item {
    field: String,
    body: Vec<u8>,
}

pub struct Poster {
    tx: mpsc::UnboundedSender<Item>,
    url: Arc<Mutex<Option<String>>>,
    pending: Arc<AtomicU64>,
    pub(crate) posts: Arc<AtomicU64>,
    pub(crate) retries: Arc<AtomicU64>,
    pub(crate) faults: Arc<Mutex<Faults>>,
    pub(crate) injected: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
}

impl Poster {
    /// Must be called inside a Tokio runtime: the poster runs as a task.
    pub fn new(url: Option<String>, secret: String, seed: u64, faults: Faults) -> Poster {
        let (tx, rx) = mpsc::unbounded_channel();
        let url = Arc::new(Mutex::new(url));
        let poster = Poster {
            tx,
            url: url.clone(),
            pending: Arc::new(AtomicU64::new(0)),
            posts: Arc::new(AtomicU64::new(0)),
            retries: Arc::new(AtomicU64::new(0)),
            faults: Arc::new(Mutex::new(faults)),
            injected: Arc::new(Mutex::new(Default::default())),
        };
        let worker = Worker {
            url,
            secret,
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            pending: poster.pending.clone(),
            posts: poster.posts.clone(),
            retries: poster.retries.clone(),
            faults: poster.faults.clone(),
            injected: poster.injected.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
        };
        tokio::spawn(worker.run(rx));
        poster
    }

    /// Points webhooks somewhere else from now on.
    pub fn set_url(&self, url: Option<String>) {
        *self.url.lock().unwrap_or_else(|p| p.into_inner()) = url;
    }

    pub fn queue(&self, field: &str, body: Vec<u8>) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self
            .tx
            .send(Item {
                field: field.into(),
                body,
            })
            .is_err()
        {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }
}

struct Worker {
    url: Arc<Mutex<Option<String>>>,
    secret: String,
    rng: StdRng,
    pending: Arc<AtomicU64>,
    posts: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
    faults: Arc<Mutex<Faults>>,
    injected: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    http: reqwest::Client,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Item>) {
        let mut held: Option<Item> = None;
        while let Some(item) = rx.recv().await {
            let faults = self.faults.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // Reordering: hold this one back and deliver it after the next (or when idle).
            if held.is_none() && self.rng.random_bool(faults.reorder.clamp(0.0, 1.0)) {
                self.note("reorder");
                held = Some(item);
                match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                    Ok(Some(next)) => {
                        self.deliver(&next, &faults).await;
                        let h = held.take().expect("held");
                        self.deliver(&h, &faults).await;
                    }
                    _ => {
                        let h = held.take().expect("held");
                        self.deliver(&h, &faults).await;
                    }
                }
                continue;
            }
            self.deliver(&item, &faults).await;
        }
    }

    fn note(&self, what: &str) {
        *self
            .injected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(what.into())
            .or_default() += 1;
    }

    async fn deliver(&mut self, item: &Item, faults: &Faults) {
        if self.rng.random_bool(faults.delay.clamp(0.0, 1.0)) {
            self.note("delay");
            tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
        }
        let copies = if self.rng.random_bool(faults.duplicate.clamp(0.0, 1.0)) {
            self.note("duplicate");
            2
        } else {
            1
        };
        for _ in 0..copies {
            self.post(item).await;
        }
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }

    /// Posts until a 2xx, backing off like Meta does (compressed in time).
    async fn post(&self, item: &Item) {
        let Some(url) = self.url.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            self.posts.fetch_add(1, Ordering::SeqCst);
            return;
        };
        let signature = sign(&self.secret, &item.body);
        let mut wait = Duration::from_millis(50);
        for attempt in 0..40 {
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            let sent = self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-Hub-Signature-256", &signature)
                .body(item.body.clone())
                .send()
                .await;
            if let Ok(r) = sent {
                if r.status().is_success() {
                    self.posts.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
        tracing::warn!(field = %item.field, "webhook given up after 40 attempts");
    }
}
