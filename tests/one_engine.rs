//! One engine per workspace (issue 13): `coexist serve` and the app's engine start on the same
//! workspace. One holds the lease and receives, sends and answers; the other is a client. An
//! inbound message lands once, automation answers it once, and a campaign launched from both
//! sides at once reaches each recipient once. When serve is killed, the app takes over after the
//! lease expires.

mod common;
use coexist_core::cloud::CloudClient;
use coexist_core::engine::{Engine, EngineLease, EngineSettings, ReceiverSettings, Started};
use coexist_core::secrets::Sensitive;
use coexist_core::send::{Audience, SendSettings};
use coexist_core::{Clock, Store, SystemClock};
use coexist_sim::{Scenario, Sim, SimConfig};
use common::*;
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "one-engine-secret";
const PHONE_ID: &str = "106540352242922";

fn app_settings(sim: &str) -> EngineSettings {
    let mut s = EngineSettings::new("app", Arc::new(SystemClock));
    s.lease_ttl_ms = 1_500;
    s.receiver = Some(ReceiverSettings {
        addr: "127.0.0.1:0".parse().unwrap(),
        app_secret: Sensitive::new(SECRET.into()),
        verify_token: Sensitive::new("v".into()),
        watch_gaps: true,
    });
    let client = CloudClient::new(
        sim,
        "v21.0",
        Sensitive::new("sim-access-token".into()),
        Duration::from_secs(5),
    );
    s.sending = Some((client, SendSettings::new(PHONE_ID, 20)));
    s
}

async fn wait_for(what: &str, secs: u64, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(secs), "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_and_the_app_share_one_engine_and_nothing_happens_twice() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemClock.now();
    let sim = Sim::new(SimConfig {
        app_secret: SECRET.into(),
        throughput: 20,
        start_time: now,
        onboarded_at: now - 3600,
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let _clock = sim.follow_wall_clock();
    sim.run_scenario(&Scenario::CampaignLoad { customers: 6 });
    let sim_url = format!("http://{addr}");

    // The workspace: templates, the customers as contacts, and an FAQ answer.
    let store = Store::open_dir(dir.path()).await.unwrap();
    let client = CloudClient::new(
        &sim_url,
        "v21.0",
        Sensitive::new("sim-access-token".into()),
        Duration::from_secs(5),
    );
    store
        .sync_templates(&client.templates("102290129340398").await.unwrap(), now)
        .await
        .unwrap();
    let customers = coexist_testkit::sim_customers(&sim_url).await;
    let mut csv = String::from("phone,tags\n");
    for c in &customers {
        csv.push_str(&format!("+{},regulars\n", c["wa_id"].as_str().unwrap()));
    }
    store.import_contacts_csv(&csv, "owner", now).await.unwrap();
    store
        .set_automation_config(
            &json!({"enabled": true, "faq": [{"name": "hours", "variants": {"en": {"keywords": ["open"], "reply": "We open at 9."}}}]})
                .to_string(),
            "owner",
            now,
        )
        .await
        .unwrap();

    // serve starts first and runs the workspace.
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    with_cloud(&mut cmd, &sim_url, SECRET);
    cmd.env("COEXIST_ENGINE_LEASE_MS", "1500");
    let (mut serve, line) = start(cmd);
    let hook = line
        .strip_prefix("listening on ")
        .expect("serve prints its address")
        .to_string();
    reqwest::Client::new()
        .post(format!("{sim_url}/_sim/webhook_url"))
        .json(&json!({"url": hook}))
        .send()
        .await
        .unwrap();

    // The app's engine on the same workspace is a client, and says whose.
    let app = match Engine::start(&store, app_settings(&sim_url)).await.unwrap() {
        Started::Client(holder) => holder,
        Started::Engine(_) => panic!("two engines on one workspace"),
    };
    assert_eq!(app.kind, "serve");
    assert_eq!(app.pid, serve.0.id());

    // A customer asks; the message is mirrored once and automation answers once.
    let asker = customers[0]["wa_id"].as_str().unwrap().to_string();
    reqwest::Client::new()
        .post(format!("{sim_url}/_sim/customer_message"))
        .json(&json!({"from": asker, "text": "are you open today?"}))
        .send()
        .await
        .unwrap();
    wait_for("the automated answer", 30, async || {
        sim_stats(&sim_url).await["counters"]["delivered_per_recipient"][&asker] == 1
    })
    .await;

    // A campaign launched from the window and from the CLI at the same moment.
    let (id, n) = store
        .create_campaign(
            "Ready",
            "order_update",
            "en",
            &Audience {
                tag: Some("regulars".into()),
                ..Audience::default()
            },
            &[("1".into(), "friend".into()), ("2".into(), "#7".into())],
            None,
            None,
            "owner",
            now,
        )
        .await
        .unwrap();
    assert_eq!(n, 6);
    let cli_dir = dir.path().to_path_buf();
    let cli_launch = tokio::task::spawn_blocking(move || coexist(&cli_dir, &["campaign", "launch", &id.to_string()]));
    let here = store.launch_campaign(id, "owner", now).await.unwrap();
    let out = cli_launch.await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(here <= 6);
    wait_for("the campaign", 60, async || {
        let s = store.campaign_status(id).await.unwrap();
        s.accepted + s.failed + s.uncertain == 6
    })
    .await;
    // Let late retries or a second engine show themselves, if any.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = sim_stats(&sim_url).await;
    let per = s["counters"]["delivered_per_recipient"].as_object().unwrap().clone();
    assert_eq!(per.len(), 6, "{per:?}");
    assert_eq!(per[&asker], 2, "the automated answer and the campaign, once each");
    assert!(per.iter().filter(|(k, _)| **k != asker).all(|(_, v)| v == 1), "{per:?}");
    assert_eq!(s["counters"]["accepted"], 7);
    let stats = stats(dir.path());
    assert_eq!(stats["messages"]["customer"], 1, "the inbound message once: {stats}");

    // serve dies without a word: after its lease runs out the app takes the workspace over.
    serve.0.kill().unwrap();
    serve.0.wait().unwrap();
    let mut patient = app_settings(&sim_url);
    patient.patience = Duration::from_secs(10);
    let Started::Engine(engine) = Engine::start(&store, patient).await.unwrap() else {
        panic!("the app takes over once serve's lease expired");
    };
    assert_eq!(EngineLease::holder(&store).await.unwrap().unwrap().kind, "app");
    // And serve, started again, now finds the app running the workspace and says so.
    let out = Command::new(bin("coexist"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("COEXIST_APP_SECRET", SECRET)
        .env("COEXIST_VERIFY_TOKEN", "v")
        .env("COEXIST_ENGINE_LEASE_MS", "500")
        .env("COEXIST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the Coexist app") && err.contains("runs this workspace"),
        "{err}"
    );
    engine.shutdown().await;
}

/// A window that opened as `serve`'s client runs the workspace itself once serve is gone: killed
/// with SIGKILL here, so only the lease's expiry tells.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_window_takes_the_workspace_over_when_serve_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("COEXIST_APP_SECRET", SECRET)
        .env("COEXIST_VERIFY_TOKEN", "v")
        .env("COEXIST_ENGINE_LEASE_MS", "1000")
        .env("COEXIST_LOG", "error");
    let (mut serve, line) = start(cmd);
    let hook = line
        .strip_prefix("listening on ")
        .expect("serve prints its address")
        .to_string();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let events = coexist_core::events::EventBus::default();
    let mut heard = events.subscribe();
    let live = coexist_app::live::Live::connected(&store, dir.path(), &events)
        .await
        .unwrap();
    let who = live
        .status()
        .engine_elsewhere
        .expect("serve runs the workspace: the window is a client");
    assert!(who.contains("coexist serve"), "{who}");

    // A customer writes: serve receives and applies it, and the client window hears of it
    // (issue 25: relayed from what serve wrote, so the window needs no polling).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let body = coexist_testkit::customer_text("wamid.CLIENT.1", "is my order ready?", 1_760_000_000);
    let answer = reqwest::Client::new()
        .post(&hook)
        .header("X-Hub-Signature-256", coexist_testkit::sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let changed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let coexist_core::events::CoreEvent::MirrorChanged { applied } = heard.recv().await.unwrap() {
                return applied;
            }
        }
    })
    .await
    .expect("the client window is told the mirror changed");
    assert!(changed >= 1);

    serve.0.kill().unwrap();
    serve.0.wait().unwrap();
    wait_for("the window to take the workspace over", 30, async || {
        live.status().engine_elsewhere.is_none()
    })
    .await;
    let holder = EngineLease::holder(&store).await.unwrap().expect("someone runs it");
    assert_eq!((holder.kind.as_str(), holder.pid), ("app", std::process::id()));
    assert!(live
        .status()
        .notes
        .iter()
        .any(|n| n.contains("this window runs it now")));
}
