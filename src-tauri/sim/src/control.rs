//! The `/_sim/*` control endpoints tests and the demo use: the virtual clock, counters,
//! scenarios, faults, customers writing in, the phone app opened, where webhooks go.

use crate::graph::{digits, on_clock, Shared};
use crate::{Customer, Faults};
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct ClockChange {
    advance_secs: Option<i64>,
    set: Option<i64>,
}

pub async fn clock_get(AxState(sim): Shared) -> Json<Value> {
    Json(json!({"now": sim.lock().now}))
}

pub async fn clock_post(AxState(sim): Shared, Json(c): Json<ClockChange>) -> Json<Value> {
    let mut st = sim.lock();
    if let Some(t) = c.set {
        st.now = st.now.max(t);
    }
    st.now += c.advance_secs.unwrap_or(0).max(0);
    on_clock(&sim, &mut st);
    Json(json!({"now": st.now}))
}

pub async fn stats(AxState(sim): Shared) -> Json<Value> {
    let mut st = sim.lock();
    st.counters.webhook_posts = sim.hooks.posts.load(std::sync::atomic::Ordering::SeqCst);
    st.counters.webhook_retries = sim.hooks.retries.load(std::sync::atomic::Ordering::SeqCst);
    for (k, v) in sim.hooks.injected.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        st.counters.faults_injected.insert(format!("webhook_{k}"), *v);
    }
    Json(json!({
        "now": st.now,
        "counters": st.counters,
        "throttle_errors": st.counters.errors_by_code.get(&130429).copied().unwrap_or(0),
        "pair_limit_errors": st.counters.errors_by_code.get(&131056).copied().unwrap_or(0),
        "webhooks_pending": sim.hooks.pending(),
        "accepted": st.accepted,
        "syncs": st.syncs,
        "expected": st.truth.expected_stats(),
        "truth": st.truth,
    }))
}

#[derive(Deserialize)]
pub struct ScenarioRequest {
    name: String,
    #[serde(default)]
    size: Option<usize>,
}

pub async fn scenario_post(AxState(sim): Shared, Json(r): Json<ScenarioRequest>) -> Response {
    match crate::Scenario::parse(&r.name, r.size) {
        Ok(s) => {
            sim.run_scenario(&s);
            Json(json!({"started": r.name, "webhooks_pending": sim.hooks.pending()})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

pub async fn faults_post(AxState(sim): Shared, Json(f): Json<Faults>) -> Json<Value> {
    *sim.hooks.faults.lock().unwrap_or_else(|p| p.into_inner()) = f.clone();
    Json(json!(f))
}

pub async fn phone_open(AxState(sim): Shared) -> Json<Value> {
    let mut st = sim.lock();
    st.phone_opened_at = st.now;
    Json(json!({"phone_opened_at": st.now}))
}

pub async fn customers_get(AxState(sim): Shared) -> Json<Value> {
    let st = sim.lock();
    Json(json!(st.customers.values().collect::<Vec<&Customer>>()))
}

#[derive(Deserialize)]
pub struct NewCustomer {
    wa_id: String,
    name: Option<String>,
    #[serde(default)]
    opted_in_marketing: bool,
    /// The customer adopted a username and withholds the phone (see [`Customer::username_only`]).
    #[serde(default)]
    username_only: bool,
}

pub async fn customers_post(AxState(sim): Shared, Json(c): Json<NewCustomer>) -> Json<Value> {
    let mut st = sim.lock();
    let wa = digits(&c.wa_id);
    let cust = crate::scenario::new_customer(&mut st, &wa, c.name.as_deref());
    let cust = Customer {
        opted_in_marketing: c.opted_in_marketing,
        username_only: c.username_only,
        ..cust
    };
    st.customers.insert(wa, cust.clone());
    Json(json!(cust))
}

#[derive(Deserialize)]
pub struct CustomerMessage {
    from: String,
    text: String,
    #[serde(default)]
    referral: bool,
    /// Meta's Business Agent answers this chat: the message arrives on `standby`.
    #[serde(default)]
    standby: bool,
    /// A photo (a generated PNG of this many pixels a side) with `text` as its caption.
    #[serde(default)]
    photo: Option<u32>,
    /// Which picture (the same seed and size give the same bytes); default: a new one.
    #[serde(default)]
    seed: Option<u64>,
    /// A voice note (Ogg Opus) this many seconds long.
    #[serde(default)]
    voice: Option<u32>,
    /// A one-page PDF under this file name, with `text` as its caption.
    #[serde(default)]
    document: Option<String>,
    /// The type the customer's phone declares for the document (default `application/pdf`).
    #[serde(default)]
    document_mime: Option<String>,
}

/// A customer writes in now (opens the service window; a referral opens a free entry point).
pub async fn customer_message(AxState(sim): Shared, Json(m): Json<CustomerMessage>) -> Response {
    let mut st = sim.lock();
    let wa = digits(&m.from);
    if !st.customers.contains_key(&wa) {
        let c = crate::scenario::new_customer(&mut st, &wa, None);
        st.customers.insert(wa.clone(), c);
    }
    let now = st.now;
    let field = if m.standby { "standby" } else { "messages" };
    use crate::scenario::{media_in, Attachment};
    let wamid = match (m.photo, m.voice, m.document) {
        (Some(size), _, _) => media_in(
            &sim,
            &mut st,
            &wa,
            now,
            &m.text,
            Attachment::Photo { size, seed: m.seed },
        ),
        (_, Some(secs), _) => media_in(
            &sim,
            &mut st,
            &wa,
            now,
            "",
            Attachment::Voice {
                secs: secs.clamp(1, 600),
            },
        ),
        (_, _, Some(filename)) => media_in(
            &sim,
            &mut st,
            &wa,
            now,
            &m.text,
            Attachment::Document {
                filename,
                mime: m.document_mime.clone(),
            },
        ),
        _ => crate::scenario::inbound_on(&sim, &mut st, field, &wa, now, &m.text, m.referral),
    };
    Json(json!({"id": wamid})).into_response()
}

#[derive(Deserialize)]
pub struct WebhookUrl {
    url: Option<String>,
}

/// Where webhooks go from now on (the receiver may start after the simulator).
pub async fn webhook_url(AxState(sim): Shared, Json(w): Json<WebhookUrl>) -> Json<Value> {
    sim.hooks.set_url(w.url.clone());
    Json(json!({"webhook_url": w.url}))
}
