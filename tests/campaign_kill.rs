//! A campaign survives SIGKILL: a 2,000-recipient campaign at 20 messages a second, `coexist serve`
//! killed ten times mid-campaign and restarted. Nobody gets a message twice; every send either reached the simulator once or is
//! shown as `uncertain` (never resent silently); statuses settle what they can; after the owner
//! resends the uncertain ones, every recipient has exactly one message.

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "kill-test-secret";
const RECIPIENTS: usize = 2_000;
const KILLS: usize = 10;
/// Messages a second: the number's cap, and the simulator's (which answers 130429 above it).
const RATE: &str = "20";

fn cloud_env(cmd: &mut Command, sim: &str) {
    cmd.env("COEXIST_API_BASE", sim)
        .env("COEXIST_ACCESS_TOKEN", "sim-access-token")
        .env("COEXIST_PHONE_NUMBER_ID", "106540352242922")
        .env("COEXIST_WABA_ID", "102290129340398")
        .env("COEXIST_APP_SECRET", SECRET)
        .env("COEXIST_VERIFY_TOKEN", "v")
        .env("COEXIST_THROUGHPUT", RATE)
        .env("COEXIST_DISPATCH_LEASE_MS", "1500")
        .env("COEXIST_LOG", "error");
}

fn cli(dir: &std::path::Path, sim: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir").arg(dir).args(args);
    cloud_env(&mut cmd, sim);
    cmd.output().unwrap()
}

async fn serve(dir: &std::path::Path, sim: &str, http: &reqwest::Client) -> Proc {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    cloud_env(&mut cmd, sim);
    serve_for_sim(cmd, sim, http).await
}

fn outbox(dir: &std::path::Path, sim: &str) -> Vec<Value> {
    let out = cli(dir, sim, &["outbox", "list", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until no row is queued or being sent, the simulator has delivered its webhooks and the
/// mirror has applied them.
async fn settle(dir: &std::path::Path, sim: &str) {
    let start = Instant::now();
    loop {
        let rows = outbox(dir, sim);
        let busy = rows
            .iter()
            .any(|r| r["state"] == "queued" || r["state"] == "dispatching");
        let pending = sim_stats(sim).await["webhooks_pending"].as_u64().unwrap();
        if !busy && pending == 0 && stats(dir)["journal"]["pending"] == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(400),
            "campaign did not settle: {} busy rows, {pending} webhooks pending",
            rows.iter()
                .filter(|r| r["state"] == "queued" || r["state"] == "dispatching")
                .count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_campaign_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut sim_cmd = Command::new(bin("coexist-sim"));
    sim_cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--app-secret",
        SECRET,
        "--seed",
        "21",
        "--throughput",
        RATE,
    ]);
    let (_sim, line) = start(sim_cmd);
    let sim = line.strip_prefix("simulator on ").unwrap().to_string();
    http.post(format!("{sim}/_sim/scenario"))
        .json(&json!({"name": "campaign-load", "size": RECIPIENTS}))
        .send()
        .await
        .unwrap();
    let customers = coexist_testkit::sim_customers(&sim).await;
    let csv = coexist_testkit::order_update_csv(&customers);
    let csv_path = dir.path().join("recipients.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let ws = dir.path().join("ws");
    assert!(cli(&ws, &sim, &["templates", "sync"]).status.success());
    let out = cli(
        &ws,
        &sim,
        &[
            "campaign",
            "create",
            "--name",
            "Order ready",
            "--template",
            "order_update",
            "--lang",
            "en",
            "--csv",
            csv_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let mut server = serve(&ws, &sim, &http).await;
    assert!(cli(&ws, &sim, &["campaign", "launch", &id]).status.success());
    // Kill at ten points spread over the ~100 s of sending, restarting each time.
    let mut seed: u64 = 0x9e37_79b9;
    for _ in 0..KILLS {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(4_000 + (seed >> 33) % 4_000)).await;
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        let sent_so_far = sim_stats(&sim).await["counters"]["accepted"].as_u64().unwrap();
        assert!(
            (sent_so_far as usize) < RECIPIENTS,
            "killed mid-campaign ({sent_so_far} sent)"
        );
        server = serve(&ws, &sim, &http).await;
    }
    let t = Instant::now();
    settle(&ws, &sim).await;
    eprintln!("settled in {:.1} s", t.elapsed().as_secs_f64());

    let accepted: Vec<Value> = serde_json::from_value(sim_stats(&sim).await["accepted"].clone()).unwrap();
    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    for a in &accepted {
        *per_recipient.entry(a["to"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(
        per_recipient.values().all(|n| *n == 1),
        "someone got a message twice: {per_recipient:?}"
    );
    let rows = outbox(&ws, &sim);
    assert_eq!(rows.len(), RECIPIENTS);
    let sim_tokens: BTreeSet<String> = accepted
        .iter()
        .filter_map(|a| a["callback"].as_str().map(String::from))
        .collect();
    let uncertain: Vec<&Value> = rows.iter().filter(|r| r["state"] == "uncertain").collect();
    for r in &uncertain {
        // Anything the simulator took has reported statuses with its token: it must be settled.
        assert!(
            !sim_tokens.contains(r["callback_token"].as_str().unwrap()),
            "a status could have settled {r}"
        );
    }
    assert_eq!(rows.iter().filter(|r| r["state"] == "accepted").count(), accepted.len());
    assert_eq!(
        accepted.len() + uncertain.len(),
        RECIPIENTS,
        "every send is accounted for"
    );

    eprintln!(
        "after {KILLS} kills: {} accepted, {} uncertain",
        accepted.len(),
        uncertain.len()
    );
    // The owner resends what is truly unknown; then everyone has exactly one message.
    for r in &uncertain {
        let out = cli(&ws, &sim, &["outbox", "resend", &r["id"].to_string(), "--yes"]);
        assert!(out.status.success());
    }
    settle(&ws, &sim).await;
    let stats_now = sim_stats(&sim).await;
    let delivered = stats_now["counters"]["delivered_per_recipient"].as_object().unwrap();
    assert_eq!(delivered.len(), RECIPIENTS);
    assert!(delivered.values().all(|n| n == 1));
    assert_eq!(stats_now["throttle_errors"], 0);
    let status: Value = serde_json::from_slice(&cli(&ws, &sim, &["campaign", "status", &id, "--json"]).stdout).unwrap();
    assert_eq!(
        (status["accepted"].clone(), status["total"].clone()),
        (json!(RECIPIENTS), json!(RECIPIENTS))
    );
    drop(server);
}
