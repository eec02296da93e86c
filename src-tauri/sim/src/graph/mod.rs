//! The Graph API subset Coexist calls: sending messages, the number and account nodes,
//! templates and the once-only syncs. Shared here: Meta's limits, its error shape, the access
//! token check and the injected faults.

mod business;
mod messages;

pub use business::*;
pub use messages::*;

use crate::hooks::envelope;
use crate::pricing::price;
use crate::{Accepted, Faults, Sim, State, Template};
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{json, Value};

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Shared = AxState<Arc<Sim>>;

/// Meta's limits, enforced in real time with GCRA.
pub struct Limits {
    pub throughput: DefaultDirectRateLimiter,
    pub pair: DefaultKeyedRateLimiter<String>,
}

impl Limits {
    pub fn new(per_second: u32) -> Limits {
        let rate = NonZeroU32::new(per_second.max(1)).expect("non-zero");
        // About one message per 6 s to one customer, with bursts of up to 45 borrowing from later.
        let pair = Quota::with_period(Duration::from_secs(6))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(45).expect("45"));
        Limits {
            throughput: RateLimiter::direct(Quota::per_second(rate)),
            pair: RateLimiter::keyed(pair),
        }
    }
}

/// The Graph API error body: `{"error":{message,type,code,error_subcode?,error_data:{details},fbtrace_id}}`.
pub fn graph_error(status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    let body = json!({"error": {
        "message": message,
        "type": if code == 190 { "OAuthException" } else { "GraphMethodException" },
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": format!("Sim{code}"),
    }});
    (status, Json(body)).into_response()
}

pub(crate) fn count_error(sim: &Sim, code: i64) {
    *sim.lock().counters.errors_by_code.entry(code).or_default() += 1;
}

pub(crate) fn fail(sim: &Sim, status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    count_error(sim, code);
    graph_error(status, code, message, details)
}

pub(crate) fn authorised(sim: &Sim, headers: &HeaderMap) -> bool {
    let token = sim.lock().cfg.access_token.clone();
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == token)
}

pub(crate) fn unauthorised(sim: &Sim) -> Response {
    fail(
        sim,
        StatusCode::UNAUTHORIZED,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "The access token is invalid or has expired.",
    )
}

pub(crate) fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// API faults: a 500 instead of processing, or (after processing) an answer held past the client's patience.
pub(crate) enum ApiFault {
    None,
    ServerError,
    ServerErrorAfterSend,
    Timeout(u64),
    Drop,
}

/// A response body that fails on first read: the client sees the connection break mid-answer.
pub(crate) struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        ))))
    }
}

pub(crate) fn api_fault(sim: &Sim) -> ApiFault {
    use rand::Rng;
    let faults: Faults = sim.hooks.faults.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut st = sim.lock();
    if st.rng.random_bool(faults.server_error.clamp(0.0, 1.0)) {
        *st.counters.faults_injected.entry("server_error".into()).or_default() += 1;
        return ApiFault::ServerError;
    }
    if st.rng.random_bool(faults.drop_connection.clamp(0.0, 1.0)) {
        *st.counters.faults_injected.entry("drop_connection".into()).or_default() += 1;
        return ApiFault::Drop;
    }
    if st.rng.random_bool(faults.server_error_after_send.clamp(0.0, 1.0)) {
        *st.counters
            .faults_injected
            .entry("server_error_after_send".into())
            .or_default() += 1;
        return ApiFault::ServerErrorAfterSend;
    }
    if st.rng.random_bool(faults.timeout.clamp(0.0, 1.0)) {
        *st.counters.faults_injected.entry("timeout".into()).or_default() += 1;
        return ApiFault::Timeout(faults.timeout_ms.max(1));
    }
    ApiFault::None
}

/// Things that happen as virtual time passes: template reviews, the 14-day phone-app rule.
pub fn on_clock(sim: &Sim, st: &mut State) {
    let now = st.now;
    let mut reviewed = Vec::new();
    for t in st
        .templates
        .iter_mut()
        .filter(|t| t.status == "PENDING" && t.review_at.is_some_and(|r| r <= now))
    {
        t.status = if t.name.contains("reject") {
            "REJECTED".into()
        } else {
            "APPROVED".into()
        };
        reviewed.push((t.id.clone(), t.name.clone(), t.language.clone(), t.status.clone()));
    }
    for (id, name, language, status) in reviewed {
        let mut value = json!({"event": status, "message_template_id": id.parse::<u64>().unwrap_or(0),
                               "message_template_name": name, "message_template_language": language});
        if status == "REJECTED" {
            value["reason"] = json!("INVALID_FORMAT");
        }
        let body = envelope(&st.cfg, "message_template_status_update", value, Some(now));
        queue(sim, st, "message_template_status_update", body);
    }
    if !st.partner_removed && now - st.phone_opened_at >= 14 * 86_400 {
        st.partner_removed = true;
        st.truth.link = "dropped".into();
        let body = envelope(
            &st.cfg,
            "account_update",
            json!({"phone_number": st.cfg.display_number, "event": "PARTNER_REMOVED",
                   "disconnection_info": {"reason": "PRIMARY_INACTIVITY", "initiated_by": "SYSTEM"}}),
            Some(now),
        );
        queue(sim, st, "account_update", body);
    }
}

pub(crate) fn queue(sim: &Sim, st: &mut State, field: &str, body: Vec<u8>) {
    st.counters.webhooks_queued += 1;
    *st.counters.webhooks_by_field.entry(field.into()).or_default() += 1;
    sim.hooks.queue(field, body);
}
