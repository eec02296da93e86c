//! `coexist serve` and `coexist-sim` over loopback, with faults switched on (duplicates,
//! reordering, delays): after a shop day, API sends and a history import, the mirror equals the
//! simulator's ground truth exactly.

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "e2e-app-secret";

#[tokio::test(flavor = "multi_thread")]
async fn mirror_equals_ground_truth_under_faults() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Command::new(bin("coexist"));
    serve
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("COEXIST_APP_SECRET", SECRET)
        .env("COEXIST_VERIFY_TOKEN", "v")
        .env("COEXIST_LOG", "warn");
    let (_serve, line) = start(serve);
    let webhook = line.strip_prefix("listening on ").unwrap().to_string();

    let mut sim = Command::new(bin("coexist-sim"));
    sim.args([
        "--listen",
        "127.0.0.1:0",
        "--webhook-url",
        &webhook,
        "--app-secret",
        SECRET,
        "--seed",
        "11",
    ])
    .args([
        "--faults",
        r#"{"duplicate":0.2,"reorder":0.2,"delay":0.05,"delay_ms":20}"#,
    ]);
    let (_sim, line) = start(sim);
    let base = line.strip_prefix("simulator on ").unwrap().to_string();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let req = http.post(format!("{base}{path}")).json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    post("/_sim/scenario", json!({"name": "shop-day", "size": 25})).await;
    // API sends, as Coexist's dispatcher would make them: templates to a few customers.
    let customers: Vec<Value> = http
        .get(format!("{base}/_sim/customers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (i, c) in customers.iter().take(5).enumerate() {
        // The shop day's inbound traffic used the number's throughput too: retry 130429 like the
        // dispatcher does.
        let mut tries = 0;
        loop {
            let r = http
                .post(format!("{base}/v21.0/106540352242922/messages"))
                .bearer_auth("sim-access-token")
                .json(
                    &json!({"messaging_product": "whatsapp", "to": c["wa_id"], "type": "template",
                              "template": {"name": "order_update", "language": {"code": "en"}, "components": [
                                  {"type": "body", "parameters": [{"type": "text", "text": c["name"]}, {"type": "text", "text": format!("#{i}")}]}]},
                              "biz_opaque_callback_data": format!("outbox:{i}")}),
                )
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            if status == 200 {
                break;
            }
            tries += 1;
            assert!(body["error"]["code"] == 130429 && tries < 50, "send refused: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    post("/_sim/scenario", json!({"name": "history-import", "size": 600})).await;

    // Wait for the simulator to deliver everything and Coexist to apply it.
    let start = Instant::now();
    let truth = loop {
        let s: Value = sim_stats(&base).await;
        if s["webhooks_pending"] == 0 {
            let m = stats(dir.path());
            if m["journal"]["pending"] == 0 {
                break s;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "did not settle: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let faults = &truth["counters"]["faults_injected"];
    assert!(
        faults["webhook_duplicate"].as_u64().unwrap_or(0) > 0,
        "duplicates were injected: {faults}"
    );
    assert!(
        faults["webhook_reorder"].as_u64().unwrap_or(0) > 0,
        "reordering was injected: {faults}"
    );

    let mirror = stats(dir.path());
    let expected = &truth["expected"];
    for key in ["contacts", "messages", "history", "link"] {
        assert_eq!(
            mirror[key], expected[key],
            "{key}: mirror {} vs truth {}",
            mirror[key], expected[key]
        );
    }
    assert_eq!(mirror["journal"]["failed"], 0);
    assert_eq!(
        mirror["consent"]["opted_out"],
        truth["truth"]["opted_out"].as_array().unwrap().len()
    );

    // Message by message: origin, status, text, edits and revokes.
    let out = coexist(dir.path(), &["export", "messages", "--format", "jsonl"]);
    let exported: BTreeMap<String, Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|m| (m["wamid"].as_str().unwrap().to_string(), m))
        .collect();
    let truth_messages = truth["truth"]["messages"].as_object().unwrap();
    assert_eq!(exported.len(), truth_messages.len());
    for (wamid, t) in truth_messages {
        let m = exported
            .get(wamid)
            .unwrap_or_else(|| panic!("{wamid} missing from the mirror"));
        assert_eq!(m["origin"], t["origin"], "{wamid}");
        assert_eq!(m["status"], t["status"], "{wamid}");
        assert_eq!(m["edited"], t["edited"], "{wamid}");
        assert_eq!(m["revoked"], t["revoked"], "{wamid}");
        if !t["text"].is_null() {
            assert_eq!(m["text"], t["text"], "{wamid}");
        }
    }
    let api: Vec<&Value> = exported.values().filter(|m| m["origin"] == "api").collect();
    assert_eq!(api.len(), 5);
    assert!(api
        .iter()
        .all(|m| m["callback_data"].as_str().unwrap().starts_with("outbox:")));
}
