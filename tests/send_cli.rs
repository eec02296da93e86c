//! `coexist send`, `templates sync` and `serve`'s dispatcher, end to end against `coexist-sim`.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "send-cli-secret";

fn run(dir: &std::path::Path, sim: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir").arg(dir).args(args);
    with_cloud(&mut cmd, sim, SECRET);
    cmd.output().unwrap()
}

/// The simulator on a free port, and its address.
fn start_sim(seed: u64) -> (Proc, String) {
    let mut c = Command::new(bin("coexist-sim"));
    c.args([
        "--listen",
        "127.0.0.1:0",
        "--app-secret",
        SECRET,
        "--seed",
        &seed.to_string(),
    ]);
    let (p, line) = start(c);
    let sim = line.strip_prefix("simulator on ").unwrap().to_string();
    (p, sim)
}

/// `coexist serve` on `dir` with the simulator as its Cloud API and its webhooks pointed at it.
async fn serve(dir: &std::path::Path, sim: &str, http: &reqwest::Client) -> Proc {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    with_cloud(&mut cmd, sim, SECRET);
    serve_for_sim(cmd, sim, http).await
}

#[tokio::test(flavor = "multi_thread")]
async fn send_text_and_template_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    // The simulator first (its address goes to serve), webhooks to serve once it is up.
    let (_sim, sim) = start_sim(3);
    let http = reqwest::Client::new();
    // Serve receives the simulator's webhooks; then a customer writes in.
    let _serve = serve(dir.path(), &sim, &http).await;
    http.post(format!("{sim}/_sim/customer_message"))
        .json(&json!({"from": "919876543210", "text": "Is the shop open?"}))
        .send()
        .await
        .unwrap();
    let start_t = Instant::now();
    while stats(dir.path())["messages"]["customer"] != 1 {
        assert!(
            start_t.elapsed() < Duration::from_secs(15),
            "the customer message did not arrive"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = run(
        dir.path(),
        &sim,
        &["send", "--to", "+919876543210", "--text", "Yes, until 7 pm.", "--json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["state"], "accepted", "{row}");

    let out = run(dir.path(), &sim, &["templates", "sync"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("synced 9 templates"));
    let out = run(
        dir.path(),
        &sim,
        &[
            "send",
            "--to",
            "5511987654321",
            "--template",
            "order_update",
            "--lang",
            "en",
            "--param",
            "1=Lucas",
            "--param",
            "2=#118",
            "--json",
        ],
    );
    // An unknown number to the simulator: Meta's 131026 comes back as a clear failure.
    assert!(!out.status.success());
    let row: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (row["state"].clone(), row["last_error_code"].clone()),
        (json!("failed"), json!(131026))
    );
    http.post(format!("{sim}/_sim/customers"))
        .json(&json!({"wa_id": "5511987654321"}))
        .send()
        .await
        .unwrap();
    let out = run(
        dir.path(),
        &sim,
        &[
            "send",
            "--to",
            "5511987654321",
            "--template",
            "order_update",
            "--lang",
            "en",
            "--param",
            "1=Lucas",
            "--param",
            "2=#118",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // Outside the window a text is refused before the network, in words a shop owner reads.
    let out = run(dir.path(), &sim, &["send", "--to", "5511987654321", "--text", "hi"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("24-hour reply window"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let served = sim_stats(&sim).await;
    assert_eq!(served["counters"]["accepted"], 2);

    // A new template: submitted PENDING, approved by Meta's review webhook.
    let out = run(
        dir.path(),
        &sim,
        &[
            "templates",
            "create",
            "--name",
            "pickup_ready",
            "--lang",
            "en",
            "--category",
            "UTILITY",
            "--body",
            "Hi {{1}}, your order is ready.",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PENDING"));
    http.post(format!("{sim}/_sim/clock"))
        .json(&json!({"advance_secs": 120}))
        .send()
        .await
        .unwrap();
    let start_t = Instant::now();
    loop {
        let list: Vec<Value> =
            serde_json::from_slice(&run(dir.path(), &sim, &["templates", "list", "--json"]).stdout).unwrap();
        let t = list.iter().find(|t| t["name"] == "pickup_ready").expect("kept locally");
        if t["status"] == "APPROVED" {
            break;
        }
        assert!(
            start_t.elapsed() < Duration::from_secs(15),
            "the approval did not arrive: {t}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `campaign create --header-file`: a template that shows a document at its top is refused
/// without one; with one, the file is uploaded once and every send of the campaign names it.
#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_with_a_document_at_its_top_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, sim) = start_sim(4);
    let http = reqwest::Client::new();
    let customers = ["919800070001", "919800070002"];
    for c in customers {
        http.post(format!("{sim}/_sim/customers"))
            .json(&json!({"wa_id": c, "name": "Guest"}))
            .send()
            .await
            .unwrap();
    }
    let ws = dir.path().join("ws");
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    ok(run(&ws, &sim, &["templates", "sync"]));
    let csv = dir.path().join("invoices.csv");
    std::fs::write(&csv, format!("phone,1\n{},Asha\n{},Ravi\n", customers[0], customers[1])).unwrap();
    let pdf = dir.path().join("invoice-7.pdf");
    std::fs::write(&pdf, coexist_sim::media::pdf_document("Invoice 7", &["Total: 12.50"])).unwrap();
    let create = |header: Option<&std::path::Path>| {
        let mut args = vec![
            "campaign",
            "create",
            "--name",
            "Invoices",
            "--template",
            "invoice_ready",
            "--lang",
            "en",
            "--csv",
            csv.to_str().unwrap(),
        ];
        if let Some(h) = header {
            args.extend(["--header-file", h.to_str().unwrap()]);
        }
        run(&ws, &sim, &args)
    };
    let refused = create(None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("shows a document at its top"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let id = ok(create(Some(&pdf))).trim().to_string();
    ok(run(&ws, &sim, &["campaign", "launch", &id]));
    let _serve = serve(&ws, &sim, &http).await;
    let start_t = Instant::now();
    let stats = loop {
        let s: Value = sim_stats(&sim).await;
        if s["accepted"].as_array().is_some_and(|a| a.len() >= 2) {
            break s;
        }
        assert!(start_t.elapsed() < Duration::from_secs(20), "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let accepted = stats["accepted"].as_array().unwrap();
    assert_eq!(accepted.len(), 2, "each customer once");
    let media = accepted[0]["media_id"].as_str().expect("the header's media id");
    assert!(
        accepted
            .iter()
            .all(|a| a["media_id"] == media && a["template"] == "invoice_ready"),
        "{accepted:?}"
    );
    assert_eq!(stats["counters"]["media_uploads"], 1, "uploaded once");
}

/// Issue 23, item 4: a customer who adopted a username writes in with no phone (Meta names them
/// by BSUID only). `coexist send --to <BSUID>` answers them: the simulator, like Meta, takes it
/// in `recipient`, once; a login code to them is refused before anything is sent.
#[tokio::test(flavor = "multi_thread")]
async fn send_answers_a_username_only_customer_by_bsuid() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, sim) = start_sim(5);
    let http = reqwest::Client::new();
    let _serve = serve(dir.path(), &sim, &http).await;
    http.post(format!("{sim}/_sim/customers"))
        .json(&json!({"wa_id": "4915112345678", "name": "Mika", "username_only": true}))
        .send()
        .await
        .unwrap();
    http.post(format!("{sim}/_sim/customer_message"))
        .json(&json!({"from": "4915112345678", "text": "Do you ship to Berlin?"}))
        .send()
        .await
        .unwrap();
    let start_t = Instant::now();
    let bsuid = loop {
        let out = run(dir.path(), &sim, &["export", "messages", "--format", "jsonl"]);
        let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if let Some(m) = rows.iter().find(|m| m["text"] == "Do you ship to Berlin?") {
            assert!(m["contact_wa_id"].is_null(), "Meta withheld the phone: {m}");
            break m["contact_bsuid"].as_str().expect("named by BSUID").to_string();
        }
        assert!(
            start_t.elapsed() < Duration::from_secs(15),
            "the message did not arrive"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let out = run(
        dir.path(),
        &sim,
        &["send", "--to", &bsuid, "--text", "Yes, in two days.", "--json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["state"], "accepted", "{row}");

    assert!(run(dir.path(), &sim, &["templates", "sync"]).status.success());
    let out = run(
        dir.path(),
        &sim,
        &[
            "send",
            "--to",
            &bsuid,
            "--template",
            "login_code",
            "--lang",
            "en",
            "--param",
            "1=123456",
        ],
    );
    assert!(!out.status.success(), "a login code to a username is refused");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("phone numbers only"), "{why}");

    let served = sim_stats(&sim).await;
    let accepted = served["accepted"].as_array().unwrap();
    assert_eq!(accepted.len(), 1, "sent once: {served}");
    assert_eq!(accepted[0]["addressed_by"], "recipient", "{served}");
    assert_eq!(accepted[0]["to"], bsuid.as_str(), "{served}");
}
