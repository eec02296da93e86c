//! Issue 15: the portfolio's messaging limit (unique customers reached with templates outside a
//! service window per rolling 24 h). Coexist reads it from Meta, the forecast says how many days a
//! campaign takes under it, and the dispatcher paces the campaign over those days against the
//! simulator, which enforces the limit: nobody twice, nothing refused.

use coexist_core::cloud::CloudClient;
use coexist_core::secrets::Sensitive;
use coexist_core::send::{Audience, DispatcherHandle, SendSettings};
use coexist_core::{Clock, FixedClock, Store, SystemClock};
use coexist_sim::{Scenario, Sim, SimConfig};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "limit-test-secret";
const PHONE: &str = "106540352242922";

#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_over_the_limit_is_forecast_and_finishes_on_day_two_nobody_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let start = SystemClock.now();
    let clock = Arc::new(FixedClock::new(start));
    let coexist_testkit::Receiver { url, applier: _applier } =
        coexist_testkit::start_receiver(&store, SECRET, clock.clone(), Default::default()).await;
    let sim = Sim::new(SimConfig {
        webhook_url: Some(url),
        app_secret: SECRET.into(),
        throughput: 100,
        start_time: start,
        onboarded_at: start - 3600,
        messaging_limit: Some(2_000),
        ..SimConfig::default()
    });
    let sim_url = format!("http://{}", sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap());
    sim.run_scenario(&Scenario::CampaignLoad { customers: 3_000 });
    let client = || {
        CloudClient::new(
            &sim_url,
            "v21.0",
            Sensitive::new("sim-access-token".into()),
            Duration::from_secs(5),
        )
    };

    // The limit as Meta reports it on the number.
    let status = client().phone_status(PHONE).await.unwrap();
    let tier = status
        .whatsapp_business_manager_messaging_limit
        .expect("the limit is reported");
    assert_eq!(tier, "TIER_2K");
    assert_eq!(store.set_messaging_limit(&tier, start).await.unwrap(), Some(2_000));
    let list = client().templates("102290129340398").await.unwrap();
    store.sync_templates(&list, start).await.unwrap();

    let customers = coexist_testkit::sim_customers(&sim_url).await;
    let csv = coexist_testkit::order_update_csv(&customers);
    let audience = Audience {
        csv: Some(csv),
        ..Default::default()
    };
    let (id, n) = store
        .create_campaign(
            "Order ready",
            "order_update",
            "en",
            &audience,
            &[],
            None,
            None,
            "owner",
            start,
        )
        .await
        .unwrap();
    assert_eq!(n, 3_000);

    // Before launch, the forecast says two days, and why.
    let ctx = store.billing_context(start).await.unwrap();
    let f = store.forecast_campaign(&ctx, id, start).await.unwrap();
    assert_eq!(
        (f.messaging_limit, f.limit_left, f.limit_recipients),
        (Some(2_000), Some(2_000), 3_000)
    );
    assert_eq!(f.days, 2, "{f:?}");
    let why = f.pacing.expect("the forecast explains the pacing");
    assert!(why.contains("2,000") && why.contains("2 days"), "{why}");

    assert_eq!(store.launch_campaign(id, "owner", start).await.unwrap(), 3_000);
    let mut settings = SendSettings::new(PHONE, 100);
    settings.pair_burst = 5;
    let _d = DispatcherHandle::spawn(store.clone(), client(), settings, clock.clone());

    // Day one: exactly the limit goes out, the rest waits.
    let waited = Instant::now();
    loop {
        let s = store.campaign_status(id).await.unwrap();
        if s.accepted >= 2_000 {
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(180), "day one stalled: {s:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = store.campaign_status(id).await.unwrap();
    assert_eq!(s.accepted, 2_000, "nothing beyond the limit on day one: {s:?}");
    let budget = store.limit_budget(clock.now()).await.unwrap();
    assert!(budget.full(), "{budget:?}");
    assert_eq!(budget.frees_at, Some(start + 86_400));

    // Day two: the limit frees up and the campaign finishes by itself.
    clock.advance(86_400 + 60);
    sim.advance(86_400 + 60);
    let waited = Instant::now();
    loop {
        let s = store.campaign_status(id).await.unwrap();
        if s.accepted + s.failed + s.uncertain == 3_000 {
            assert_eq!(s.accepted, 3_000, "{s:?}");
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(180), "day two stalled: {s:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let accepted = sim.accepted();
    assert_eq!(accepted.len(), 3_000);
    let day_two = accepted.iter().filter(|a| a.at >= start + 86_400).count();
    assert_eq!(day_two, 1_000, "the last thousand went on day two");
    let stats: Value = reqwest::get(format!("{sim_url}/_sim/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["counters"]["messaging_limit_refused"], 0, "never over the limit");
    let per = stats["counters"]["delivered_per_recipient"].as_object().unwrap();
    assert_eq!(per.len(), 3_000);
    assert!(per.values().all(|n| n == 1), "nobody twice");
}

/// The simulator refuses what goes over its limit, so the test above would see it.
#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_refuses_a_template_over_the_limit() {
    let start = SystemClock.now();
    let sim = Sim::new(SimConfig {
        start_time: start,
        throughput: 1_000,
        messaging_limit: Some(250),
        ..SimConfig::default()
    });
    let url = format!("http://{}", sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap());
    sim.run_scenario(&Scenario::CampaignLoad { customers: 251 });
    let customers = coexist_testkit::sim_customers(&url).await;
    let http = reqwest::Client::new();
    let mut codes = Vec::new();
    for c in &customers {
        let body = serde_json::json!({"messaging_product": "whatsapp", "to": c["wa_id"], "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}}});
        let r: Value = http
            .post(format!("{url}/v21.0/{PHONE}/messages"))
            .bearer_auth("sim-access-token")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(r["error"]["code"].as_i64());
    }
    assert!(codes[..250].iter().all(Option::is_none), "{codes:?}");
    assert_eq!(codes[250], Some(131_064));
    // 24 hours later the limit has room again.
    sim.advance(86_400);
    let body = serde_json::json!({"messaging_product": "whatsapp", "to": customers[250]["wa_id"], "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let r = http
        .post(format!("{url}/v21.0/{PHONE}/messages"))
        .bearer_auth("sim-access-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
