//! `coexist serve` over real HTTP on loopback: signed posts land, unsigned ones are refused and
//! change nothing, and a process killed right after answering 200 has lost nothing.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "test-app-secret";
const VERIFY: &str = "test-verify-token";

/// `coexist serve` on a free loopback port, killed when dropped.
struct Server {
    proc: Proc,
    url: String,
}

impl Server {
    fn start(dir: &std::path::Path) -> Server {
        let mut cmd = Command::new(bin("coexist"));
        cmd.arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("COEXIST_APP_SECRET", SECRET)
            .env("COEXIST_VERIFY_TOKEN", VERIFY)
            .env("COEXIST_LOG", "warn");
        let (proc, line) = start(cmd);
        let url = line
            .strip_prefix("listening on ")
            .expect("serve prints its address")
            .to_string();
        Server { proc, url }
    }
}

async fn post_signed(http: &reqwest::Client, url: &str, signature: String, body: Vec<u8>) -> reqwest::StatusCode {
    http.post(url)
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn wait_for(dir: &std::path::Path, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let s = stats(dir);
        if ok(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_land_unsigned_refused_and_nothing_lost_on_kill() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = reqwest::Client::new();

    // Meta's verification handshake.
    let ok = http
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = http
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);

    // Signed bodies land.
    for p in ["01_", "07_"] {
        let body = std::fs::read(fixture(p)).unwrap();
        assert_eq!(
            post_signed(&http, &server.url, sign(SECRET, &body), body).await,
            200,
            "{p}"
        );
    }
    let landed = wait_for(dir.path(), "two applied bodies", |s| s["journal"]["applied"] == 2);
    assert_eq!(landed["messages"]["customer"], 1);
    assert_eq!(landed["messages"]["phone"], 1);

    // Unsigned, wrongly signed and tampered bodies are refused and change nothing.
    let body = std::fs::read(fixture("02_")).unwrap();
    let unsigned = http.post(&server.url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let wrong_key = post_signed(&http, &server.url, sign("not-the-secret", &body), body.clone()).await;
    assert_eq!(wrong_key, 401);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        post_signed(&http, &server.url, sign(SECRET, &body), tampered).await,
        401
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stats(dir.path()), landed);

    // Killed right after the 200: the journal already holds the body.
    let mut server = server;
    let body = std::fs::read(fixture("02_")).unwrap();
    assert_eq!(post_signed(&http, &server.url, sign(SECRET, &body), body).await, 200);
    server.proc.0.kill().unwrap();
    server.proc.0.wait().unwrap();
    let after_kill = stats(dir.path());
    assert_eq!(
        after_kill["journal"]["received"], 3,
        "the acknowledged body is in the journal"
    );

    // The next start applies whatever was still pending.
    let _server = Server::start(dir.path());
    let s = wait_for(dir.path(), "the journaled body applied after restart", |s| {
        s["journal"]["applied"] == 3
    });
    assert_eq!(s["messages"]["customer"], 2);
    assert_eq!(s["contacts"]["active"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_history_chunk_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    // ~6 MB: far above axum's default body limit, well within what Meta may send.
    let messages: Vec<serde_json::Value> = (0..30_000)
        .map(|i| {
            serde_json::json!({"from": "15550001111", "id": format!("wamid.BIG.{i}"), "timestamp": (1_750_000_000 + i).to_string(),
                               "type": "text", "text": {"body": "a fairly ordinary message body of some length, like people write"},
                               "history_context": {"status": "READ"}})
        })
        .collect();
    let body = serde_json::to_vec(
        &serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "history", "value": {"history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
            "threads": [{"id": "15550001111", "context": {"wa_id": "15550001111"}, "messages": messages}]}]}}]}]}),
    )
    .unwrap();
    assert!(body.len() > 4 * 1024 * 1024);
    let status = post_signed(&reqwest::Client::new(), &server.url, sign(SECRET, &body), body).await;
    assert_eq!(status, 200);
    let s = wait_for(dir.path(), "the big chunk applied", |s| s["journal"]["applied"] == 1);
    assert_eq!(s["messages"]["history"], 30_000);
    assert_eq!(s["history"]["state"], "complete");
}
