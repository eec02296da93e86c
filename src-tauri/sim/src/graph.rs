//! The Graph API subset and the `/_sim/*` control endpoints.

use crate::hooks::envelope;
use crate::pricing::price;
use crate::{Accepted, Customer, Faults, Sim, State, Template};
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

type Shared = AxState<Arc<Sim>>;

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

fn count_error(sim: &Sim, code: i64) {
    *sim.lock().counters.errors_by_code.entry(code).or_default() += 1;
}

fn fail(sim: &Sim, status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    count_error(sim, code);
    graph_error(status, code, message, details)
}

fn authorised(sim: &Sim, headers: &HeaderMap) -> bool {
    let token = sim.lock().cfg.access_token.clone();
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == token)
}

fn unauthorised(sim: &Sim) -> Response {
    fail(
        sim,
        StatusCode::UNAUTHORIZED,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "The access token is invalid or has expired.",
    )
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// API faults: a 500 instead of processing, or (after processing) an answer held past the client's patience.
enum ApiFault {
    None,
    ServerError,
    ServerErrorAfterSend,
    Timeout(u64),
    Drop,
}

/// A response body that fails on first read: the client sees the connection break mid-answer.
struct BrokenBody;

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

fn api_fault(sim: &Sim) -> ApiFault {
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

pub async fn send_message(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.lock().counters.api_calls += 1;
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let fault = api_fault(&sim);
    match fault {
        ApiFault::ServerError => {
            return fail(
                &sim,
                StatusCode::INTERNAL_SERVER_ERROR,
                2,
                "Service temporarily unavailable",
                "An unexpected error has occurred. Please retry your request later.",
            );
        }
        ApiFault::Drop => return Response::new(axum::body::Body::new(BrokenBody)),
        ApiFault::None | ApiFault::Timeout(_) | ApiFault::ServerErrorAfterSend => {}
    }
    let response = process_send(&sim, &id, &body);
    match fault {
        ApiFault::Timeout(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        ApiFault::ServerErrorAfterSend => {
            return fail(
                &sim,
                StatusCode::INTERNAL_SERVER_ERROR,
                2,
                "Service temporarily unavailable",
                "An unexpected error has occurred. Please retry your request later.",
            );
        }
        _ => {}
    }
    response
}

fn process_send(sim: &Sim, id: &str, body: &[u8]) -> Response {
    if id != sim.lock().cfg.phone_number_id {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            &format!("Object with ID '{id}' does not exist or does not support this operation."),
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "The request body is not valid JSON.",
        );
    };
    if req["messaging_product"] != "whatsapp" {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "messaging_product must be \"whatsapp\".",
        );
    }
    if sim.limits.throughput.check().is_err() {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        );
    }
    let to = digits(req["to"].as_str().unwrap_or_default());
    let kind = req["type"].as_str().unwrap_or("text").to_string();
    let callback = req["biz_opaque_callback_data"].as_str().map(String::from);
    if callback.as_ref().is_some_and(|c| c.chars().count() > 512) {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "biz_opaque_callback_data is longer than 512 characters.",
        );
    }
    let mut st = sim.lock();
    let now = st.now;
    let Some(customer) = st.customers.get(&to).cloned() else {
        drop(st);
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            131026,
            "Message undeliverable",
            "Unable to deliver message: the recipient is not a WhatsApp user or cannot receive this message.",
        );
    };
    let mut template_category = None;
    let mut template_name = None;
    match kind.as_str() {
        "text" => {
            if req["text"]["body"].as_str().is_none_or(str::is_empty) {
                drop(st);
                return fail(
                    sim,
                    StatusCode::BAD_REQUEST,
                    100,
                    "Invalid parameter",
                    "text.body is required.",
                );
            }
        }
        "image" | "document" | "video" | "audio" | "sticker" => {
            if req[&kind]["id"].is_null() && req[&kind]["link"].is_null() {
                drop(st);
                return fail(
                    sim,
                    StatusCode::BAD_REQUEST,
                    100,
                    "Invalid parameter",
                    &format!("{kind} needs an id or a link."),
                );
            }
        }
        "template" => {
            let name = req["template"]["name"].as_str().unwrap_or_default();
            let lang = req["template"]["language"]["code"].as_str().unwrap_or_default();
            match st.templates.iter().find(|t| t.name == name && t.language == lang) {
                Some(t) if t.status == "APPROVED" => {
                    let (expected, given) = (
                        placeholders(&t.components),
                        body_parameters(&req["template"]["components"]),
                    );
                    if expected != given {
                        drop(st);
                        return fail(sim, StatusCode::BAD_REQUEST, 132000, "Number of parameters does not match the expected number of params", &format!("body: number of localizable_params ({given}) does not match the expected number of params ({expected})"));
                    }
                    template_category = Some(t.category.to_lowercase());
                    template_name = Some(t.name.clone());
                }
                Some(t) if t.status == "PAUSED" => {
                    drop(st);
                    return fail(
                        sim,
                        StatusCode::BAD_REQUEST,
                        132015,
                        "Template is Paused",
                        &format!("Template {name} is paused because of low quality."),
                    );
                }
                _ => {
                    drop(st);
                    return fail(
                        sim,
                        StatusCode::BAD_REQUEST,
                        132001,
                        "Template name does not exist in the translation",
                        &format!("template name ({name}) does not exist in {lang}"),
                    );
                }
            }
        }
        other => {
            drop(st);
            return fail(
                sim,
                StatusCode::BAD_REQUEST,
                100,
                "Invalid parameter",
                &format!("Unsupported message type {other}."),
            );
        }
    }
    let window_open = customer.last_inbound_at.is_some_and(|t| now - t < 24 * 3600);
    if template_category.is_none() && !window_open {
        drop(st);
        return fail(sim, StatusCode::BAD_REQUEST, 131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number.");
    }
    if sim.limits.pair.check_key(&to).is_err() {
        drop(st);
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from this phone number to the same phone number in a short period of time.",
        );
    }
    let free_entry = customer.free_entry_until.is_some_and(|t| now < t);
    let priced = price(now, template_category.as_deref(), window_open, free_entry);
    let wamid = st.new_id("wamid.SIM");
    st.accepted.push(Accepted {
        wamid: wamid.clone(),
        to: to.clone(),
        kind: kind.clone(),
        template: template_name,
        category: template_category.clone(),
        callback: callback.clone(),
        at: now,
        pricing_type: priced.kind.unwrap_or("conversation").into(),
        billable: priced.billable,
        accepted_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    });
    st.counters.accepted += 1;
    *st.counters.delivered_per_recipient.entry(to.clone()).or_default() += 1;
    let mut statuses = vec!["sent", "delivered"];
    if customer.reads {
        statuses.push("read");
    }
    for (i, status) in statuses.into_iter().enumerate() {
        let mut s = json!({"id": wamid, "status": status, "timestamp": (now + i as i64 * 2).to_string(),
                           "recipient_id": to, "recipient_user_id": customer.bsuid});
        if let Some(cb) = &callback {
            s["biz_opaque_callback_data"] = json!(cb);
        }
        if status != "read" {
            s["pricing"] = match priced.kind {
                Some(k) => {
                    json!({"billable": priced.billable, "pricing_model": priced.model, "type": k, "category": priced.category})
                }
                None => {
                    json!({"billable": priced.billable, "pricing_model": priced.model, "category": priced.category})
                }
            };
            if priced.kind.is_none() {
                s["conversation"] = json!({"id": format!("CONV.{to}.{}.{}", priced.category, now / 86_400), "origin": {"type": priced.category}});
            }
        }
        st.truth.contact(&to);
        st.truth.status(&wamid, status);
        let body = envelope(&st.cfg, "messages", json!({"statuses": [s]}), None);
        st.counters.webhooks_queued += 1;
        *st.counters.webhooks_by_field.entry("messages".into()).or_default() += 1;
        sim.hooks.queue("messages", body);
    }
    drop(st);
    let body = json!({"messaging_product": "whatsapp", "contacts": [{"input": req["to"], "wa_id": to}],
                      "messages": [{"id": wamid, "message_status": "accepted"}]});
    (StatusCode::OK, Json(body)).into_response()
}

/// How many `{{1}}` / `{{name}}` placeholders a template's BODY has.
fn placeholders(components: &Value) -> usize {
    let body = components
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
        .and_then(|c| c["text"].as_str())
        .unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        seen.insert(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    seen.len()
}

/// How many parameters (positional, or named with `parameter_name`) a send gives the BODY.
fn body_parameters(components: &Value) -> usize {
    components
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
        .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
        .sum()
}

#[derive(Deserialize)]
pub struct NodeQuery {
    fields: Option<String>,
}

pub async fn node_get(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    Query(q): Query<NodeQuery>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let st = sim.lock();
    if id != st.cfg.phone_number_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported get request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    let all = json!({
        "display_phone_number": st.cfg.display_number,
        "verified_name": st.cfg.verified_name,
        "is_on_biz_app": true,
        "platform_type": if st.partner_removed { "NOT_APPLICABLE" } else { "CLOUD_API" },
        "throughput": {"level": if st.cfg.throughput >= 20 { "STANDARD" } else { "LIMITED" }, "messages_per_second": st.cfg.throughput},
    });
    let mut out = json!({"id": id});
    let fields = q.fields.unwrap_or_else(|| "display_phone_number,verified_name".into());
    for f in fields.split(',').map(str::trim) {
        if let Some(v) = all.get(f) {
            out[f] = v.clone();
        }
    }
    Json(out).into_response()
}

#[derive(Deserialize)]
pub struct Paging {
    limit: Option<usize>,
    after: Option<String>,
}

pub async fn templates_get(
    AxState(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(p): Query<Paging>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let st = sim.lock();
    if id != st.cfg.waba_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported get request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    let limit = p.limit.unwrap_or(25).clamp(1, 100);
    let start: usize = p.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
    let page: Vec<&Template> = st.templates.iter().skip(start).take(limit).collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < st.templates.len() {
        paging["next"] = json!(format!("/{ver}/{id}/message_templates?limit={limit}&after={end}"));
    }
    Json(json!({"data": page, "paging": paging})).into_response()
}

pub async fn templates_post(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "The request body is not valid JSON.",
        );
    };
    let name = req["name"].as_str().unwrap_or_default().to_string();
    let language = req["language"].as_str().unwrap_or_default().to_string();
    let category = req["category"].as_str().unwrap_or_default().to_uppercase();
    let mut st = sim.lock();
    if id != st.cfg.waba_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    let valid_name = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name || language.is_empty() || !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
        drop(st);
        return fail(&sim, StatusCode::BAD_REQUEST, 100, "Invalid parameter", "name (lowercase letters, digits, _), language and category (MARKETING, UTILITY, AUTHENTICATION) are required.");
    }
    if st.templates.iter().any(|t| t.name == name && t.language == language) {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Message template already exists with this name and language.",
        );
    }
    let tid = st.new_id("");
    let review_at = st.now + 60;
    st.templates.push(Template {
        id: tid.clone(),
        name,
        language,
        category: category.clone(),
        status: "PENDING".into(),
        components: req["components"].clone(),
        review_at: Some(review_at),
    });
    Json(json!({"id": tid, "status": "PENDING", "category": category})).into_response()
}

#[derive(Deserialize)]
pub struct SyncRequest {
    messaging_product: Option<String>,
    sync_type: Option<String>,
}

pub async fn smb_app_data(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let Ok(req) = serde_json::from_slice::<SyncRequest>(&body) else {
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "The request body is not valid JSON.",
        );
    };
    sim.lock().counters.sync_requests += 1;
    let sync_type = req.sync_type.unwrap_or_default();
    if req.messaging_product.as_deref() != Some("whatsapp")
        || !["smb_app_state_sync", "history"].contains(&sync_type.as_str())
    {
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "sync_type must be smb_app_state_sync or history.",
        );
    }
    let mut st = sim.lock();
    if id != st.cfg.phone_number_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    if st.now > st.cfg.onboarded_at + 24 * 3600 {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Synchronization can only be requested within 24 hours of onboarding.",
        );
    }
    if st.syncs.contains_key(&sync_type) {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            &format!("{sync_type} was already requested for this phone number; it can be requested only once."),
        );
    }
    let request_id = st.new_id("SYNC");
    st.syncs.insert(sync_type.clone(), request_id.clone());
    if sync_type == "history" {
        crate::scenario::history_after_request(sim.as_ref(), &mut st);
    } else {
        crate::scenario::contacts_after_request(sim.as_ref(), &mut st);
    }
    Json(json!({"messaging_product": "whatsapp", "request_id": request_id})).into_response()
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
}

pub async fn customers_post(AxState(sim): Shared, Json(c): Json<NewCustomer>) -> Json<Value> {
    let mut st = sim.lock();
    let wa = digits(&c.wa_id);
    let cust = crate::scenario::new_customer(&mut st, &wa, c.name.as_deref());
    let cust = Customer {
        opted_in_marketing: c.opted_in_marketing,
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
    let wamid = crate::scenario::inbound(&sim, &mut st, &wa, now, &m.text, m.referral);
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
