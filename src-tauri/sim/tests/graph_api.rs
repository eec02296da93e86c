//! Every limit and error the simulator enforces, hit through real HTTP on loopback, with the
//! exact Graph error body; and the webhooks it posts, captured by a signature-checking receiver.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use coexist_sim::{Sim, SimConfig};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PHONE: &str = "106540352242922";
const WABA: &str = "102290129340398";
const CUSTOMER: &str = "919876543210";

struct Harness {
    sim: Arc<Sim>,
    base: String,
    http: reqwest::Client,
    hooks: Arc<Mutex<Vec<Value>>>,
}

/// A receiver that keeps every correctly signed webhook body.
async fn capture(secret: &'static str) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                let sig = headers
                    .get("x-hub-signature-256")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if sig != coexist_sim_sign(secret, &body) {
                    return StatusCode::UNAUTHORIZED;
                }
                g.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn coexist_sim_sign(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn harness(throughput: u32) -> Harness {
    let (url, hooks) = capture("sim-app-secret").await;
    let sim = Sim::new(SimConfig {
        webhook_url: Some(url),
        throughput,
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let h = Harness {
        sim,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        hooks,
    };
    h.post("/_sim/customers", json!({"wa_id": CUSTOMER, "name": "Asha"}), None)
        .await;
    h
}

impl Harness {
    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth("sim-access-token")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
    async fn send(&self, body: Value) -> (u16, Value) {
        self.post(&format!("/v21.0/{PHONE}/messages"), body, Some("sim-access-token"))
            .await
    }
    async fn settle(&self) {
        for _ in 0..200 {
            if self.sim.webhooks_pending() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("webhooks still pending");
    }
}

fn text_to(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hello"}})
}

fn template_to(to: &str, name: &str, lang: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template", "template": {"name": name, "language": {"code": lang}}})
}

fn graph_error(code: i64, message: &str, details: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "code": code,
                     "error_data": {"messaging_product": "whatsapp", "details": details}, "fbtrace_id": format!("Sim{code}")}})
}

#[tokio::test]
async fn wrong_token_is_190() {
    let h = harness(20).await;
    let (status, body) = h
        .post(&format!("/v21.0/{PHONE}/messages"), text_to(CUSTOMER), Some("nope"))
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        graph_error(
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "The access token is invalid or has expired.",
            "OAuthException"
        )
    );
}

#[tokio::test]
async fn unknown_recipient_is_131026() {
    let h = harness(20).await;
    let (status, body) = h.send(template_to("15550009999", "hello_world", "en_US")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        graph_error(
            131026,
            "Message undeliverable",
            "Unable to deliver message: the recipient is not a WhatsApp user or cannot receive this message.",
            "GraphMethodException"
        )
    );
}

#[tokio::test]
async fn free_form_outside_the_window_is_131047_and_inside_is_accepted() {
    let h = harness(20).await;
    let (status, body) = h.send(text_to(CUSTOMER)).await;
    assert_eq!(status, 400);
    assert_eq!(body, graph_error(131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number.", "GraphMethodException"));
    h.post("/_sim/customer_message", json!({"from": CUSTOMER, "text": "hi"}), None)
        .await;
    let (status, body) = h.send(text_to(CUSTOMER)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    // 24 h later the window has closed again.
    h.post("/_sim/clock", json!({"advance_secs": 24 * 3600}), None).await;
    assert_eq!(h.send(text_to(CUSTOMER)).await.1["error"]["code"], 131047);
}

#[tokio::test]
async fn templates_unknown_paused_and_approved() {
    let h = harness(20).await;
    let (s, b) = h.send(template_to(CUSTOMER, "no_such", "en_US")).await;
    assert_eq!(
        (s, b),
        (
            400,
            graph_error(
                132001,
                "Template name does not exist in the translation",
                "template name (no_such) does not exist in en_US",
                "GraphMethodException"
            )
        )
    );
    let (s, b) = h.send(template_to(CUSTOMER, "old_promo", "en_US")).await;
    assert_eq!(
        (s, b),
        (
            400,
            graph_error(
                132015,
                "Template is Paused",
                "Template old_promo is paused because of low quality.",
                "GraphMethodException"
            )
        )
    );
    assert_eq!(
        h.send(template_to(CUSTOMER, "bad_promo", "en_US")).await.1["error"]["code"],
        132001
    );
    // Parameters must match the template's placeholders (named ones here).
    let (s, b) = h.send(template_to(CUSTOMER, "spring_sale", "en_US")).await;
    assert_eq!(
        (s, b),
        (
            400,
            graph_error(
                132000,
                "Number of parameters does not match the expected number of params",
                "body: number of localizable_params (0) does not match the expected number of params (1)",
                "GraphMethodException"
            )
        )
    );
    assert_eq!(h.send(spring_sale_to(CUSTOMER)).await.0, 200);
    let mut positional = template_to(CUSTOMER, "order_update", "en");
    positional["template"]["components"] =
        json!([{"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "#118"}]}]);
    assert_eq!(h.send(positional).await.0, 200);
}

fn spring_sale_to(to: &str) -> Value {
    let mut t = template_to(to, "spring_sale", "en_US");
    t["template"]["components"] =
        json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Asha"}]}]);
    t
}

#[tokio::test]
async fn throughput_cap_is_130429() {
    let h = harness(5).await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let (s, b) = h.send(template_to(CUSTOMER, "hello_world", "en_US")).await;
        codes.push(if s == 200 {
            0
        } else {
            b["error"]["code"].as_i64().unwrap()
        });
    }
    assert_eq!(&codes[..5], &[0, 0, 0, 0, 0], "a burst up to the cap passes: {codes:?}");
    assert!(codes[5..].contains(&130429), "{codes:?}");
    let (_, b) = h.send(template_to(CUSTOMER, "hello_world", "en_US")).await;
    assert_eq!(
        b,
        graph_error(
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
            "GraphMethodException"
        )
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        h.send(template_to(CUSTOMER, "hello_world", "en_US")).await.0,
        200,
        "the cap refills"
    );
}

#[tokio::test]
async fn pair_limit_is_131056_for_that_recipient_only() {
    let h = harness(1000).await;
    h.post("/_sim/customers", json!({"wa_id": "5511987654321"}), None).await;
    let mut first_error = None;
    for i in 0..50 {
        let (s, b) = h.send(template_to(CUSTOMER, "hello_world", "en_US")).await;
        if s != 200 {
            first_error = Some((i, b));
            break;
        }
    }
    let (i, body) = first_error.expect("the pair limit stops a long burst");
    assert_eq!(i, 45, "bursts of up to 45 pass");
    assert_eq!(
        body,
        graph_error(
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from this phone number to the same phone number in a short period of time.",
            "GraphMethodException"
        )
    );
    assert_eq!(
        h.send(template_to("5511987654321", "hello_world", "en_US")).await.0,
        200,
        "another recipient is not affected"
    );
}

#[tokio::test]
async fn accepted_message_gets_signed_statuses_with_pricing_and_token() {
    let h = harness(20).await;
    let mut body = spring_sale_to(CUSTOMER);
    body["biz_opaque_callback_data"] = json!("outbox:42");
    let (s, b) = h.send(body).await;
    assert_eq!(s, 200);
    let wamid = b["messages"][0]["id"].as_str().unwrap().to_string();
    h.settle().await;
    let hooks = h.hooks.lock().unwrap().clone();
    let statuses: Vec<&Value> = hooks
        .iter()
        .map(|w| &w["entry"][0]["changes"][0]["value"]["statuses"][0])
        .filter(|s| s["id"] == wamid.as_str())
        .collect();
    let names: Vec<&str> = statuses.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(&names[..2], &["sent", "delivered"]);
    for s in &statuses {
        assert_eq!(s["biz_opaque_callback_data"], "outbox:42");
    }
    assert_eq!(
        statuses[1]["pricing"],
        json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"})
    );
    let stats = h.get("/_sim/stats").await.1;
    assert_eq!(stats["counters"]["delivered_per_recipient"][CUSTOMER], 1);
}

#[tokio::test]
async fn sync_requests_once_each_within_24h() {
    let h = harness(20).await;
    let path = format!("/v21.0/{PHONE}/smb_app_data");
    let req = |t: &str| json!({"messaging_product": "whatsapp", "sync_type": t});
    let (s, b) = h.post(&path, req("smb_app_state_sync"), Some("sim-access-token")).await;
    assert_eq!(s, 200);
    assert!(b["request_id"].is_string());
    let (s, b) = h.post(&path, req("smb_app_state_sync"), Some("sim-access-token")).await;
    assert_eq!(
        (s, b),
        (
            400,
            graph_error(
                100,
                "Invalid parameter",
                "smb_app_state_sync was already requested for this phone number; it can be requested only once.",
                "GraphMethodException"
            )
        )
    );
    h.post("/_sim/clock", json!({"advance_secs": 24 * 3600}), None).await;
    let (s, b) = h.post(&path, req("history"), Some("sim-access-token")).await;
    assert_eq!(
        (s, b),
        (
            400,
            graph_error(
                100,
                "Invalid parameter",
                "Synchronization can only be requested within 24 hours of onboarding.",
                "GraphMethodException"
            )
        )
    );
    h.settle().await;
    let fields: Vec<String> = h
        .hooks
        .lock()
        .unwrap()
        .iter()
        .map(|w| w["entry"][0]["changes"][0]["field"].as_str().unwrap().to_string())
        .collect();
    assert!(fields.contains(&"smb_app_state_sync".to_string()), "{fields:?}");
}

#[tokio::test]
async fn templates_page_and_review_and_phone_fields() {
    let h = harness(20).await;
    let (s, page) = h.get(&format!("/v21.0/{WABA}/message_templates?limit=3")).await;
    assert_eq!(s, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let next = page["paging"]["next"].as_str().unwrap().to_string();
    // Like Graph's: absolute, with the access token in the query string.
    assert!(next.contains("access_token=sim-access-token"), "{next}");
    let path = next.strip_prefix(&h.base).expect("an absolute link to the simulator");
    let (_, page2) = h.get(path).await;
    assert!(!page2["data"].as_array().unwrap().is_empty());
    let (s, created) = h
        .post(
            &format!("/v21.0/{WABA}/message_templates"),
            json!({"name": "welcome_back", "language": "en", "category": "MARKETING", "components": []}),
            Some("sim-access-token"),
        )
        .await;
    assert_eq!((s, created["status"].clone()), (200, json!("PENDING")));
    h.post("/_sim/clock", json!({"advance_secs": 120}), None).await;
    h.settle().await;
    let approved = h.hooks.lock().unwrap().iter().any(|w| {
        let c = &w["entry"][0]["changes"][0];
        c["field"] == "message_template_status_update"
            && c["value"]["event"] == "APPROVED"
            && c["value"]["message_template_name"] == "welcome_back"
    });
    assert!(approved);
    let (s, node) = h
        .get(&format!("/v21.0/{PHONE}?fields=is_on_biz_app,platform_type,throughput"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (node["is_on_biz_app"].clone(), node["platform_type"].clone()),
        (json!(true), json!("CLOUD_API"))
    );
}

#[tokio::test]
async fn fourteen_days_without_the_phone_app_drops_the_link() {
    let h = harness(20).await;
    h.post("/_sim/clock", json!({"advance_secs": 13 * 86_400}), None).await;
    h.post("/_sim/phone/open", json!({}), None).await;
    h.post("/_sim/clock", json!({"advance_secs": 13 * 86_400}), None).await;
    assert_eq!(h.sim.truth().link, "", "opening the app resets the count");
    h.post("/_sim/clock", json!({"advance_secs": 86_400}), None).await;
    h.settle().await;
    let dropped = h.hooks.lock().unwrap().iter().any(|w| {
        let v = &w["entry"][0]["changes"][0]["value"];
        v["event"] == "PARTNER_REMOVED" && v["disconnection_info"]["reason"] == "PRIMARY_INACTIVITY"
    });
    assert!(dropped);
    assert_eq!(h.sim.truth().link, "dropped");
}

#[tokio::test]
async fn api_faults_server_error_and_timeout() {
    let h = harness(20).await;
    h.post("/_sim/faults", json!({"server_error": 1.0}), None).await;
    let (s, b) = h.send(template_to(CUSTOMER, "hello_world", "en_US")).await;
    assert_eq!((s, b["error"]["code"].clone()), (500, json!(2)));
    assert_eq!(
        h.get("/_sim/stats").await.1["counters"]["accepted"],
        0,
        "a 5xx processed nothing"
    );
    // A timeout: the message is accepted, but the answer comes too late for the client.
    h.post("/_sim/faults", json!({"timeout": 1.0, "timeout_ms": 3000}), None)
        .await;
    let late = h
        .http
        .post(format!("{}/v21.0/{PHONE}/messages", h.base))
        .bearer_auth("sim-access-token")
        .json(&template_to(CUSTOMER, "hello_world", "en_US"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(late.unwrap_err().is_timeout());
    assert_eq!(
        h.get("/_sim/stats").await.1["counters"]["accepted"],
        1,
        "a timed-out send was still accepted"
    );
    // A dropped connection: no complete answer, nothing processed.
    h.post("/_sim/faults", json!({"drop_connection": 1.0}), None).await;
    let dropped = h
        .http
        .post(format!("{}/v21.0/{PHONE}/messages", h.base))
        .bearer_auth("sim-access-token")
        .json(&template_to(CUSTOMER, "hello_world", "en_US"))
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(failed, "the client never gets a complete answer");
    assert_eq!(h.get("/_sim/stats").await.1["counters"]["accepted"], 1);
}

#[tokio::test]
async fn webhooks_are_retried_until_accepted() {
    // A receiver that refuses the first three posts with a 500.
    let seen: Arc<Mutex<u32>> = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move || {
            let s2 = s2.clone();
            async move {
                let mut n = s2.lock().unwrap();
                *n += 1;
                if *n <= 3 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sim = Sim::new(SimConfig {
        webhook_url: Some(url),
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    http.post(format!("http://{addr}/_sim/customer_message"))
        .json(&json!({"from": CUSTOMER, "text": "hi"}))
        .send()
        .await
        .unwrap();
    for _ in 0..200 {
        if sim.webhooks_pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.webhooks_pending(), 0);
    assert_eq!(*seen.lock().unwrap(), 4, "three refusals, then delivered");
    let stats: Value = http
        .get(format!("http://{addr}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            stats["counters"]["webhook_retries"].clone(),
            stats["counters"]["webhook_posts"].clone()
        ),
        (json!(3), json!(1))
    );
}

#[tokio::test]
async fn declined_history_sharing_comes_as_error_2593109() {
    let (url, hooks) = capture("sim-app-secret").await;
    let sim = Sim::new(SimConfig {
        webhook_url: Some(url),
        history_declined: true,
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v21.0/{PHONE}/smb_app_data"))
        .bearer_auth("sim-access-token")
        .json(&json!({"messaging_product": "whatsapp", "sync_type": "history"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..100 {
        if sim.webhooks_pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = hooks.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["entry"][0]["changes"][0]["value"]["history"][0]["errors"][0]["code"],
        2_593_109
    );
    assert_eq!(sim.truth().history_state, "declined");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_story() {
    let story = |seed: u64| async move {
        let sim = Sim::new(SimConfig {
            seed,
            ..SimConfig::default()
        });
        sim.run_scenario(&coexist_sim::Scenario::ShopDay { customers: 12 });
        sim.run_scenario(&coexist_sim::Scenario::HistoryImport { messages: 200 });
        serde_json::to_string(&sim.truth()).unwrap()
    };
    assert_eq!(story(5).await, story(5).await);
    assert_ne!(story(5).await, story(6).await);
}

#[tokio::test]
async fn template_submission_is_validated_and_media_needs_id_or_link() {
    let h = harness(20).await;
    let path = format!("/v21.0/{WABA}/message_templates");
    let (s, b) = h
        .post(
            &path,
            json!({"name": "Bad Name", "language": "en", "category": "MARKETING"}),
            Some("sim-access-token"),
        )
        .await;
    assert_eq!((s, b["error"]["code"].clone()), (400, json!(100)));
    let (s, b) = h
        .post(
            &path,
            json!({"name": "hello_world", "language": "en_US", "category": "UTILITY"}),
            Some("sim-access-token"),
        )
        .await;
    assert_eq!(
        (s, b["error"]["error_data"]["details"].clone()),
        (
            400,
            json!("Message template already exists with this name and language.")
        )
    );
    h.post(
        "/_sim/customer_message",
        json!({"from": CUSTOMER, "text": "send me the menu"}),
        None,
    )
    .await;
    let no_media = json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "document", "document": {}});
    assert_eq!(
        h.send(no_media).await.1,
        graph_error(
            100,
            "Invalid parameter",
            "document needs an id or a link.",
            "GraphMethodException"
        )
    );
    let by_link = json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "document", "document": {"link": "https://example.com/menu.pdf"}});
    assert_eq!(h.send(by_link).await.0, 200);
}

/// A chat Meta's Business Agent answers: the customer's message arrives on `standby`.
#[tokio::test]
async fn a_business_agent_chat_arrives_on_standby() {
    let h = harness(20).await;
    let (s, _) = h
        .post(
            "/_sim/customer_message",
            json!({"from": "5511987650009", "text": "oi", "standby": true}),
            None,
        )
        .await;
    assert_eq!(s, 200);
    h.settle().await;
    let fields: Vec<String> = h
        .hooks
        .lock()
        .unwrap()
        .iter()
        .map(|w| w["entry"][0]["changes"][0]["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, vec!["standby".to_string()]);
}
