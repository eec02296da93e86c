//! Sending end to end against the simulator over loopback: the receiver and applier of the core
//! take the simulator's webhooks, the dispatcher sends through its Graph API.

use coexist_core::cloud::CloudClient;
use coexist_core::secrets::Sensitive;
use coexist_core::send::{compose_template, compose_text, CampaignAction, DispatcherHandle, SendSettings};
use coexist_core::webhook::{ApplierHandle, Rules};
use coexist_core::{Clock, CoreError, Store, SystemClock};
use coexist_sim::{Scenario, Sim, SimConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "send-test-secret";

struct World {
    store: Store,
    sim: Arc<Sim>,
    sim_url: String,
    _applier: ApplierHandle,
    _dir: tempfile::TempDir,
}

async fn world(throughput: u32) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let coexist_testkit::Receiver { url: hook, applier } =
        coexist_testkit::start_receiver(&store, SECRET, clock, Default::default()).await;
    // The simulator's virtual clock starts at our real now, so windows agree.
    let now = SystemClock.now();
    let sim = Sim::new(SimConfig {
        webhook_url: Some(hook),
        app_secret: SECRET.into(),
        throughput,
        start_time: now,
        onboarded_at: now - 3600,
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    World {
        store,
        sim,
        sim_url: format!("http://{addr}"),
        _applier: applier,
        _dir: dir,
    }
}

impl World {
    fn client(&self, timeout: Duration) -> CloudClient {
        CloudClient::new(
            &self.sim_url,
            "v21.0",
            Sensitive::new("sim-access-token".into()),
            timeout,
        )
    }
    fn dispatcher(&self, rate: u32, timeout: Duration) -> DispatcherHandle {
        self.dispatcher_waiting(rate, timeout, Duration::from_secs(1))
    }
    /// A dispatcher whose status window (the wait before retrying an answer that may hide a
    /// send) is `window`.
    fn dispatcher_waiting(&self, rate: u32, timeout: Duration, window: Duration) -> DispatcherHandle {
        let mut settings = SendSettings::new("106540352242922", rate);
        settings.status_window = window;
        DispatcherHandle::spawn(
            self.store.clone(),
            self.client(timeout),
            settings,
            Arc::new(SystemClock),
        )
    }
    async fn sim_stats(&self) -> Value {
        reqwest::get(format!("{}/_sim/stats", self.sim_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
    async fn settle(&self, what: &str, done: impl Fn(&[coexist_core::send::OutboxRow]) -> bool) {
        let start = Instant::now();
        loop {
            let rows = self.store.outbox_rows(None).await.unwrap();
            if done(&rows) && self.sim.webhooks_pending() == 0 && self.store.stats().await.unwrap().journal.pending == 0
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what} did not happen: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    async fn customer_writes(&self, from: &str) {
        reqwest::Client::new()
            .post(format!("{}/_sim/customer_message", self.sim_url))
            .json(&json!({"from": from, "text": "hello, are you open?"}))
            .send()
            .await
            .unwrap();
        let start = Instant::now();
        while self.store.stats().await.unwrap().messages.customer == 0 || self.sim.webhooks_pending() > 0 {
            assert!(start.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    /// One customer, the simulator's API faults set, and a `hello_world` to them queued; the row id.
    async fn one_hello_world(&self, faults: Value) -> i64 {
        self.sim.run_scenario(&Scenario::CampaignLoad { customers: 1 });
        self.sync_templates().await;
        reqwest::Client::new()
            .post(format!("{}/_sim/faults", self.sim_url))
            .json(&faults)
            .send()
            .await
            .unwrap();
        let customers = coexist_testkit::sim_customers(&self.sim_url).await;
        let now = SystemClock.now();
        let to = customers[0]["wa_id"].as_str().unwrap();
        let msg = compose_template(&self.store, to, "hello_world", "en_US", &[], now)
            .await
            .unwrap();
        self.store.enqueue(&msg, None, now, now * 1000).await.unwrap()
    }

    /// Mika, who adopted a username and withholds her phone, writes in; returns the BSUID her
    /// one contact is known by.
    async fn username_only_customer_writes(&self) -> String {
        reqwest::Client::new()
            .post(format!("{}/_sim/customers", self.sim_url))
            .json(&json!({"wa_id": "4915112345678", "name": "Mika", "username_only": true}))
            .send()
            .await
            .unwrap();
        self.customer_writes("4915112345678").await;
        sqlx::query_scalar("SELECT bsuid FROM contact WHERE wa_id IS NULL")
            .fetch_one(self.store.pool())
            .await
            .expect("a contact known by BSUID only")
    }

    async fn sync_templates(&self) {
        let list = self
            .client(Duration::from_secs(5))
            .templates("102290129340398")
            .await
            .unwrap();
        self.store.sync_templates(&list, SystemClock.now()).await.unwrap();
    }
}

/// The billing report of the day around `now`, as JSON (to compare a live and a replayed store).
async fn day_bill(s: &Store, now: i64) -> Value {
    let ctx = s.billing_context(now).await.unwrap();
    let r = s.billing_report(&ctx, now - 86_400, now + 86_400).await.unwrap();
    serde_json::to_value(r).unwrap()
}

fn all_final(rows: &[coexist_core::send::OutboxRow]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.state == "accepted" || r.state == "failed")
}

#[tokio::test(flavor = "multi_thread")]
async fn text_in_the_window_is_sent_and_its_statuses_land() {
    let w = world(20).await;
    w.customer_writes("919876543210").await;
    let now = SystemClock.now();
    let c = compose_text(&w.store, "+91 98765 43210", "Yes, we are open until 7.", now)
        .await
        .unwrap();
    let id = w.store.enqueue(&c, None, now, now * 1000).await.unwrap();
    let _d = w.dispatcher(20, Duration::from_secs(5));
    w.settle("the send", all_final).await;
    let row = w.store.outbox_row(id).await.unwrap().unwrap();
    assert_eq!(row.state, "accepted");
    let wamid = row.wamid.unwrap();
    let (origin, text, status, outbox): (String, String, Option<String>, Option<i64>) =
        sqlx::query_as("SELECT origin, text, status, outbox_id FROM message WHERE wamid = ?")
            .bind(&wamid)
            .fetch_one(w.store.pool())
            .await
            .unwrap();
    assert_eq!(
        (origin.as_str(), text.as_str(), outbox),
        ("api", "Yes, we are open until 7.", Some(id))
    );
    assert!(
        matches!(status.as_deref(), Some("delivered") | Some("read")),
        "{status:?}"
    );
    assert_eq!(w.sim_stats().await["counters"]["accepted"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn free_form_outside_the_window_is_refused_before_the_network() {
    let w = world(20).await;
    w.customer_writes("919876543210").await;
    let later = SystemClock.now() + 25 * 3600;
    let err = compose_text(&w.store, "919876543210", "hello again", later)
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::WindowClosed { .. }), "{err}");
    assert!(
        err.to_string().contains("24-hour reply window") && err.to_string().contains("template"),
        "{err}"
    );
    assert_eq!(w.sim_stats().await["counters"]["api_calls"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn marketing_needs_consent_and_templates_need_sync() {
    let w = world(20).await;
    w.customer_writes("919876543210").await;
    let now = SystemClock.now();
    let err = compose_template(&w.store, "919876543210", "spring_sale", "en_US", &[], now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refresh the templates"), "{err}");
    w.sync_templates().await;
    let err = compose_template(&w.store, "919876543210", "spring_sale", "en_US", &[], now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("opted in"), "{err}");
    let err = compose_template(&w.store, "919876543210", "old_promo", "en_US", &[], now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PAUSED"), "{err}");
    let params = vec![
        ("1".to_string(), "Asha".to_string()),
        ("2".to_string(), "#118".to_string()),
    ];
    assert!(
        compose_template(&w.store, "919876543210", "order_update", "en", &params, now)
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_through_5xx_never_exceed_the_cap_and_send_each_once() {
    let w = world(20).await;
    w.sim.run_scenario(&Scenario::CampaignLoad { customers: 40 });
    w.sync_templates().await;
    reqwest::Client::new()
        .post(format!("{}/_sim/faults", w.sim_url))
        .json(&json!({"server_error": 0.3}))
        .send()
        .await
        .unwrap();
    let customers = coexist_testkit::sim_customers(&w.sim_url).await;
    let now = SystemClock.now();
    for (i, c) in customers.iter().enumerate() {
        let params = vec![
            ("1".to_string(), "friend".to_string()),
            ("2".to_string(), format!("#{i}")),
        ];
        let msg = compose_template(
            &w.store,
            c["wa_id"].as_str().unwrap(),
            "order_update",
            "en",
            &params,
            now,
        )
        .await
        .unwrap();
        w.store.enqueue(&msg, None, now, now * 1000).await.unwrap();
    }
    let _d = w.dispatcher(20, Duration::from_secs(5));
    w.settle("40 sends", all_final).await;
    let rows = w.store.outbox_rows(None).await.unwrap();
    assert!(rows.iter().all(|r| r.state == "accepted"), "{rows:?}");
    assert!(rows.iter().any(|r| r.attempts > 1), "some sends needed a retry");
    let s = w.sim_stats().await;
    assert_eq!(s["counters"]["accepted"], 40, "each recipient exactly once");
    assert!(s["counters"]["delivered_per_recipient"]
        .as_object()
        .unwrap()
        .values()
        .all(|n| n == 1));
    assert_eq!(s["throttle_errors"], 0);
    assert!(s["counters"]["faults_injected"]["server_error"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_is_uncertain_then_settled_by_its_status_not_resent() {
    let w = world(20).await;
    let id = w.one_hello_world(json!({"timeout": 1.0, "timeout_ms": 2000})).await;
    let _d = w.dispatcher(20, Duration::from_millis(300));
    // The answer never arrives in time, but the simulator took the message and reports its
    // statuses with our token: the row is settled as accepted, and nothing was sent twice.
    w.settle("the status settling the uncertain send", |rows| {
        rows.iter().all(|r| r.state == "accepted")
    })
    .await;
    let row = w.store.outbox_row(id).await.unwrap().unwrap();
    assert!(row.wamid.as_deref().unwrap().starts_with("wamid.SIM"));
    assert_eq!(row.attempts, 1);
    assert_eq!(w.sim_stats().await["counters"]["accepted"], 1);
}

/// Issue 14, item 3: Meta sent the message but answered 500. The retry waits in the queue; the
/// status carrying our token proves the send and settles that queued row, so the customer does
/// not get it twice (before, only `uncertain` and `dispatching` rows were settled by a status).
#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_after_meta_sent_is_settled_by_its_status_not_sent_again() {
    let w = world(20).await;
    let id = w.one_hello_world(json!({"server_error_after_send": 1.0})).await;
    let _d = w.dispatcher(20, Duration::from_secs(5));
    w.settle("the status settling the send Meta answered with a 500", |rows| {
        rows.iter().all(|r| r.state == "accepted")
    })
    .await;
    // Longer than the first retry's backoff (1 s ± 20 %): a resend would have happened by now.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let row = w.store.outbox_row(id).await.unwrap().unwrap();
    assert_eq!(row.state, "accepted", "{row:?}");
    assert!(row.wamid.as_deref().unwrap().starts_with("wamid.SIM"));
    let s = w.sim_stats().await;
    assert_eq!(s["counters"]["accepted"], 1, "sent once: {s}");
    assert!(
        s["counters"]["faults_injected"]["server_error_after_send"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // The thread shows what was sent, not a message of unknown content.
    let text: Option<String> = sqlx::query_scalar("SELECT template_name FROM message WHERE wamid = ?")
        .bind(&row.wamid)
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert_eq!(text.as_deref(), Some("hello_world"));
}

/// Issue 24, item 10: Meta took the send, answered 500, and its statuses came 3 s later. A retry
/// after the 1 s backoff reached the customer twice; the retry now waits for the status window,
/// inside which the late status settles the send.
#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_with_late_statuses_waits_for_them_and_is_sent_once() {
    let w = world(20).await;
    let id = w
        .one_hello_world(json!({"server_error_after_send": 1.0, "delay": 1.0, "delay_ms": 3_000}))
        .await;
    let _d = w.dispatcher_waiting(20, Duration::from_secs(5), Duration::from_secs(8));
    let start = Instant::now();
    loop {
        let row = w.store.outbox_row(id).await.unwrap().unwrap();
        if row.state == "queued" && row.attempts == 1 {
            let why = row.last_error.clone().unwrap_or_default();
            assert!(why.contains("waiting 8 s for its delivery report"), "{why}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{row:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.settle("the late status settling the send", |rows| {
        rows.iter().all(|r| r.state == "accepted")
    })
    .await;
    // Past the window: a retry, had one been left waiting, would have gone out by now.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let row = w.store.outbox_row(id).await.unwrap().unwrap();
    assert_eq!(row.state, "accepted", "{row:?}");
    assert_eq!(row.attempts, 1, "never retried: {row:?}");
    assert_eq!(
        w.sim_stats().await["counters"]["accepted"],
        1,
        "the customer got it once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_limit_errors_are_retried_for_that_recipient_only() {
    let w = world(20).await;
    w.sim.run_scenario(&Scenario::CampaignLoad { customers: 2 });
    w.sync_templates().await;
    let customers = coexist_testkit::sim_customers(&w.sim_url).await;
    let (busy, other) = (
        customers[0]["wa_id"].as_str().unwrap(),
        customers[1]["wa_id"].as_str().unwrap(),
    );
    let now = SystemClock.now();
    // 47 messages to one customer: Meta's pair limit lets 45 through, then answers 131056.
    for _ in 0..47 {
        let c = compose_template(&w.store, busy, "hello_world", "en_US", &[], now)
            .await
            .unwrap();
        w.store.enqueue(&c, None, now, now * 1000).await.unwrap();
    }
    let c = compose_template(&w.store, other, "hello_world", "en_US", &[], now)
        .await
        .unwrap();
    let other_id = w.store.enqueue(&c, None, now, now * 1000).await.unwrap();
    // Our own pair pacing is switched off here so that Meta's limit is what stops us.
    let mut settings = SendSettings::new("106540352242922", 20);
    settings.pair_burst = 1_000;
    let _d = DispatcherHandle::spawn(
        w.store.clone(),
        w.client(Duration::from_secs(5)),
        settings,
        Arc::new(SystemClock),
    );
    w.settle("47 + 1 sends", all_final).await;
    let rows = w.store.outbox_rows(None).await.unwrap();
    assert!(rows.iter().all(|r| r.state == "accepted"), "{rows:?}");
    let retried: Vec<_> = rows
        .iter()
        .filter(|r| r.last_error_code.is_some() || r.attempts > 1)
        .collect();
    assert!(
        !retried.is_empty() && retried.iter().all(|r| r.recipient == busy),
        "only the busy recipient waited"
    );
    assert_eq!(w.store.outbox_row(other_id).await.unwrap().unwrap().attempts, 1);
    let s = w.sim_stats().await;
    assert_eq!(s["counters"]["delivered_per_recipient"][busy], 47);
    assert!(s["pair_limit_errors"].as_u64().unwrap() >= 2);
    assert_eq!(s["throttle_errors"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2000_recipient_campaign_at_20_per_second_reaches_everyone_once_without_throttling() {
    let w = world(20).await;
    w.sim.run_scenario(&Scenario::CampaignLoad { customers: 2_000 });
    w.sync_templates().await;
    let customers = coexist_testkit::sim_customers(&w.sim_url).await;
    let csv = coexist_testkit::order_update_csv(&customers);
    let now = SystemClock.now();
    let audience = coexist_core::send::Audience {
        csv: Some(csv),
        ..Default::default()
    };
    let (id, n) = w
        .store
        .create_campaign(
            "Order ready",
            "order_update",
            "en",
            &audience,
            &[],
            None,
            None,
            "owner",
            now,
        )
        .await
        .unwrap();
    assert_eq!(n, 2_000);
    assert_eq!(w.store.launch_campaign(id, "owner", now).await.unwrap(), 2_000);
    assert_eq!(
        w.store.launch_campaign(id, "owner", now).await.unwrap(),
        0,
        "launching again adds nothing"
    );
    let _d = w.dispatcher(20, Duration::from_secs(5));
    let start = Instant::now();
    loop {
        let s = w.store.campaign_status(id).await.unwrap();
        if s.accepted + s.failed + s.uncertain == 2_000 {
            assert_eq!(s.accepted, 2_000, "{s:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(240), "campaign stalled: {s:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let s = w.sim_stats().await;
    let per = s["counters"]["delivered_per_recipient"].as_object().unwrap();
    assert_eq!(per.len(), 2_000);
    assert!(per.values().all(|n| n == 1), "every recipient exactly once");
    assert_eq!(s["throttle_errors"], 0, "never over the cap");
}

#[tokio::test(flavor = "multi_thread")]
async fn campaign_progress_is_announced_and_pause_holds_sends() {
    let w = world(20).await;
    w.sim.run_scenario(&Scenario::CampaignLoad { customers: 6 });
    w.sync_templates().await;
    let customers = coexist_testkit::sim_customers(&w.sim_url).await;
    let mut csv = String::from("phone\n");
    for c in &customers {
        csv.push_str(&format!("{}\n", c["wa_id"].as_str().unwrap()));
    }
    let now = SystemClock.now();
    let audience = coexist_core::send::Audience {
        csv: Some(csv),
        ..Default::default()
    };
    let (id, _) = w
        .store
        .create_campaign(
            "Hello",
            "hello_world",
            "en_US",
            &audience,
            &[],
            None,
            None,
            "owner",
            now,
        )
        .await
        .unwrap();
    w.store.launch_campaign(id, "owner", now).await.unwrap();
    w.store
        .set_campaign_state(id, CampaignAction::Pause, "owner", now)
        .await
        .unwrap();
    let bus = coexist_core::events::EventBus::default();
    let mut events = bus.subscribe();
    let mut settings = SendSettings::new("106540352242922", 20);
    settings.events = bus.clone();
    let _d = DispatcherHandle::spawn(
        w.store.clone(),
        w.client(Duration::from_secs(5)),
        settings,
        Arc::new(SystemClock),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        w.sim_stats().await["counters"]["accepted"],
        0,
        "a paused campaign sends nothing"
    );
    w.store
        .set_campaign_state(id, CampaignAction::Resume, "owner", now)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = tokio::time::timeout_at(deadline.into(), events.recv())
            .await
            .expect("progress announced")
            .unwrap();
        if let coexist_core::events::CoreEvent::CampaignProgress { accepted, total, .. } = e {
            assert_eq!(total, 6);
            if accepted == 6 {
                break;
            }
        }
    }
    assert_eq!(w.sim_stats().await["counters"]["accepted"], 6);
}

/// Opt-outs that arrive after a marketing campaign was launched — a STOP keyword and Meta's
/// `user_preferences` webhook — stop those sends at dispatch; everyone else still gets theirs.
#[tokio::test]
async fn opt_outs_stop_a_running_marketing_campaign_at_dispatch() {
    let w = world(20).await;
    let people = ["919800000011", "919800000012", "919800000013"];
    for p in people {
        w.customer_writes(p).await;
    }
    let start = Instant::now();
    while w.store.stats().await.unwrap().messages.customer < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the customers' messages did not land"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.sync_templates().await;
    let now = SystemClock.now();
    for p in people {
        let ctx = coexist_core::ops::Ctx::new(&w.store, "owner", None, now);
        let id = coexist_core::ops::contact(&ctx, p).await.unwrap();
        coexist_core::ops::set_consent(&ctx, id, true, "signed at the counter")
            .await
            .unwrap();
    }
    let audience = coexist_core::send::Audience {
        opted_in: true,
        ..Default::default()
    };
    let (id, n) = w
        .store
        .create_campaign(
            "Sale",
            "spring_sale",
            "en_US",
            &audience,
            &[("first_name".into(), "friend".into())],
            None,
            None,
            "owner",
            now,
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    w.store.launch_campaign(id, "owner", now).await.unwrap();

    // Queued, not yet sent: a minute later one customer writes STOP, another opts out in
    // WhatsApp itself. (The simulator's clock is moved on so its STOP is later than the opt-in
    // recorded above, however long the setup took.)
    reqwest::Client::new()
        .post(format!("{}/_sim/clock", w.sim_url))
        .json(&json!({"advance_secs": 60 + (SystemClock.now() - now)}))
        .send()
        .await
        .unwrap();
    reqwest::Client::new()
        .post(format!("{}/_sim/customer_message", w.sim_url))
        .json(&json!({"from": people[0], "text": "STOP"}))
        .send()
        .await
        .unwrap();
    let prefs = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "user_preferences",
        "value": {"messaging_product": "whatsapp", "user_preferences": [{"wa_id": people[1], "detail": "User requested to stop marketing messages",
        "category": "marketing_messages", "value": "stop", "timestamp": now + 60}]}}]}]});
    w.store
        .journal_append(
            &serde_json::to_vec(&prefs).unwrap(),
            coexist_core::webhook::SignatureVerdict::Imported,
            now,
        )
        .await
        .unwrap();
    let start = Instant::now();
    while w.store.stats().await.unwrap().consent.opted_out != 2 {
        coexist_core::webhook::apply_pending(&w.store, &Rules::default(), &SystemClock)
            .await
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(10), "the opt-outs did not land");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let _d = w.dispatcher(20, Duration::from_secs(5));
    w.settle("the campaign", all_final).await;
    let rows = w.store.outbox_rows(None).await.unwrap();
    let by_recipient = |p: &str| rows.iter().find(|r| r.recipient == p).unwrap().clone();
    for p in &people[..2] {
        let r = by_recipient(p);
        assert_eq!(r.state, "failed", "{p}: {r:?}");
        assert!(r.last_error.as_deref().unwrap().contains("opted out"), "{r:?}");
    }
    assert_eq!(by_recipient(people[2]).state, "accepted");
    assert_eq!(
        w.sim_stats().await["counters"]["accepted"],
        1,
        "nothing reached the two who opted out"
    );
    let listed = w.store.campaigns().await.unwrap();
    assert_eq!(
        (listed.len(), listed[0].id, listed[0].failed, listed[0].accepted),
        (1, id, 2, 1)
    );
}

/// While Meta has dropped the link, the dispatcher holds every send; reconnecting releases them.
#[tokio::test]
async fn sending_pauses_while_the_link_is_dropped() {
    let w = world(20).await;
    w.customer_writes("919876543210").await;
    let now = SystemClock.now();
    sqlx::query("UPDATE account SET link_state = 'dropped', link_reason = 'PRIMARY_INACTIVITY', link_changed_at = ?")
        .bind(now)
        .execute(w.store.pool())
        .await
        .unwrap();
    let c = compose_text(&w.store, "919876543210", "Still there?", now)
        .await
        .unwrap();
    let id = w.store.enqueue(&c, None, now, now * 1000).await.unwrap();
    let _d = w.dispatcher(20, Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.store.outbox_row(id).await.unwrap().unwrap().state, "queued");
    assert_eq!(w.sim_stats().await["counters"]["api_calls"], 0, "nothing reached Meta");
    sqlx::query("UPDATE account SET link_state = 'connected', link_changed_at = ?")
        .bind(now + 1)
        .execute(w.store.pool())
        .await
        .unwrap();
    w.settle("the held send", all_final).await;
    assert_eq!(w.store.outbox_row(id).await.unwrap().unwrap().state, "accepted");
}

/// Issue 14, item 10: what we send enters the journal, so a replay of the journal alone gives the
/// same mirror (text, type, template, statuses) and the same bill as the live workspace.
#[tokio::test(flavor = "multi_thread")]
async fn a_replay_of_the_journal_rebuilds_what_we_sent_and_its_bill() {
    let w = world(20).await;
    w.customer_writes("919876543210").await;
    w.sync_templates().await;
    let now = SystemClock.now();
    let text = compose_text(&w.store, "919876543210", "Your order is packed.", now)
        .await
        .unwrap();
    w.store.enqueue(&text, None, now, now * 1000).await.unwrap();
    let params = vec![
        ("1".to_string(), "Asha".to_string()),
        ("2".to_string(), "#118".to_string()),
    ];
    let update = compose_template(&w.store, "919876543210", "order_update", "en", &params, now)
        .await
        .unwrap();
    w.store.enqueue(&update, None, now, now * 1000).await.unwrap();
    let _d = w.dispatcher(20, Duration::from_secs(5));
    w.settle("both sends", |rows| rows.len() == 2 && all_final(rows)).await;
    assert_eq!(w.store.stats().await.unwrap().journal.sent_records, 2);

    let replayed = Store::open_in_memory().await.unwrap();
    replayed.journal_copy_from(&w.store).await.unwrap();
    let clock = coexist_core::FixedClock::new(now);
    coexist_core::webhook::apply_pending(&replayed, &Rules::default(), &clock)
        .await
        .unwrap();
    let live = w.store.export_messages().await.unwrap();
    let again = replayed.export_messages().await.unwrap();
    let api: Vec<_> = live.iter().filter(|m| m.origin == "api").collect();
    assert_eq!(api.len(), 2, "{live:?}");
    assert!(api.iter().any(|m| m.text.as_deref() == Some("Your order is packed.")));
    assert_eq!(live, again, "the replayed mirror is the live one");
    assert_eq!(replayed.stats().await.unwrap().journal.failed, 0);

    let (a, b) = (day_bill(&w.store, now).await, day_bill(&replayed, now).await);
    assert_eq!(a, b, "the replayed bill is the live one");
    let cats = a.to_string();
    assert!(cats.contains("utility"), "the template's category is billed: {a}");
}

/// Issue 24, item 11: a send that only a status settled (its answer timed out, or was a 5xx
/// after Meta took it) gets its sent record in the journal too, so a replay rebuilds its
/// template and category, and the bill, like any other send.
#[tokio::test(flavor = "multi_thread")]
async fn a_send_settled_by_its_status_is_journaled_and_replays_with_its_bill() {
    for (what, faults, timeout) in [
        (
            "a lost answer",
            json!({"timeout": 1.0, "timeout_ms": 2000}),
            Duration::from_millis(300),
        ),
        (
            "a 5xx after Meta sent",
            json!({"server_error_after_send": 1.0}),
            Duration::from_secs(5),
        ),
    ] {
        let w = world(20).await;
        let id = w.one_hello_world(faults).await;
        let _d = w.dispatcher(20, timeout);
        w.settle(what, |rows| rows.iter().all(|r| r.state == "accepted")).await;
        let row = w.store.outbox_row(id).await.unwrap().unwrap();
        assert_eq!(w.sim_stats().await["counters"]["accepted"], 1, "{what}: sent once");
        assert_eq!(
            w.store.stats().await.unwrap().journal.sent_records,
            1,
            "{what}: the settled send is journaled"
        );

        let now = SystemClock.now();
        let replayed = Store::open_in_memory().await.unwrap();
        replayed.journal_copy_from(&w.store).await.unwrap();
        coexist_core::webhook::apply_pending(&replayed, &Rules::default(), &coexist_core::FixedClock::new(now))
            .await
            .unwrap();
        let live = w.store.export_messages().await.unwrap();
        let again = replayed.export_messages().await.unwrap();
        let template: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT template_name, template_category FROM message WHERE wamid = ?")
                .bind(&row.wamid)
                .fetch_optional(replayed.pool())
                .await
                .unwrap();
        let (name, category) = template.unwrap_or_else(|| panic!("{what}: the replay has the send: {again:?}"));
        assert_eq!(name.as_deref(), Some("hello_world"), "{what}");
        assert!(category.is_some(), "{what}: the template's category is known");
        assert_eq!(live, again, "{what}: the replayed mirror is the live one");
        assert_eq!(replayed.stats().await.unwrap().journal.failed, 0);

        let (a, b) = (day_bill(&w.store, now).await, day_bill(&replayed, now).await);
        assert_eq!(a, b, "{what}: the replayed bill is the live one");
        assert!(a["messages"]["api"].as_i64().unwrap() >= 1, "{what}: {a}");
    }
}

/// A customer who adopted a username writes in with no phone (DESIGN §4): the reply goes to
/// their BSUID in `recipient`, reaches the simulator once, and its statuses land on their one
/// contact; a login code to them is refused before anything is sent (Meta answers 131062);
/// the simulator, like Meta, does not deliver a BSUID put in `to`.
#[tokio::test(flavor = "multi_thread")]
async fn a_username_only_customer_is_answered_by_recipient_once() {
    let w = world(20).await;
    let http = reqwest::Client::new();
    let bsuid = w.username_only_customer_writes().await;
    assert!(coexist_core::phone::looks_like_bsuid(&bsuid), "{bsuid}");
    w.sync_templates().await;
    let now = SystemClock.now();
    let err = compose_template(
        &w.store,
        &bsuid,
        "login_code",
        "en",
        &[("1".into(), "123456".into())],
        now,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("phone numbers only"), "{err}");
    let c = compose_text(&w.store, &bsuid, "Yes, we ship to Berlin.", now)
        .await
        .unwrap();
    assert_eq!(c.payload["recipient"], bsuid.as_str());
    assert!(c.payload.get("to").is_none(), "{}", c.payload);
    w.store.enqueue(&c, None, now, now * 1000).await.unwrap();
    let _d = w.dispatcher(20, Duration::from_secs(5));
    w.settle("the reply", all_final).await;
    let accepted = w.sim.accepted();
    assert_eq!(accepted.len(), 1, "sent once: {accepted:?}");
    assert_eq!(
        (accepted[0].addressed_by, accepted[0].to.as_str()),
        ("recipient", bsuid.as_str())
    );
    let rows = w.store.outbox_rows(None).await.unwrap();
    assert_eq!(rows[0].state, "accepted");
    let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contact")
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert_eq!(contacts, 1, "statuses by BSUID land on the same contact");
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM message WHERE origin = 'api'")
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert!(matches!(status.as_deref(), Some("delivered" | "read")), "{status:?}");
    // A BSUID in `to` is not delivered by Meta; the simulator refuses it.
    let refused: Value = http
        .post(format!("{}/v24.0/106540352242922/messages", w.sim_url))
        .bearer_auth("sim-access-token")
        .json(&json!({"messaging_product": "whatsapp", "to": bsuid, "type": "text", "text": {"body": "x"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["error"]["code"], 131026, "{refused}");
}

/// Issue 23: an automation rule answers a customer known only by a username; the reply reaches
/// the simulator (which, like Meta, delivers a BSUID only in `recipient`) once.
#[tokio::test(flavor = "multi_thread")]
async fn an_automation_reply_reaches_a_username_only_customer_by_recipient_once() {
    let w = world(20).await;
    let now = SystemClock.now();
    // `customer_writes` asks "hello, are you open?".
    let config = json!({"enabled": true, "max_age_minutes": 30,
        "faq": [{"name": "hours", "variants": {"en": {"keywords": ["open"], "reply": "We are open until 7 pm."}}}]});
    w.store
        .set_automation_config(&config.to_string(), "owner", now)
        .await
        .unwrap();
    let bsuid = w.username_only_customer_writes().await;
    let cfg = w.store.automation_config().await.unwrap();
    let report = w.store.run_automation(&cfg, SystemClock.now()).await.unwrap();
    assert_eq!(report.replies, 1, "{report:?}");
    let _d = w.dispatcher(20, Duration::from_secs(5));
    w.settle("the automation reply", all_final).await;
    let accepted = w.sim.accepted();
    assert_eq!(accepted.len(), 1, "sent once: {accepted:?}");
    assert_eq!(
        (accepted[0].addressed_by, accepted[0].to.as_str()),
        ("recipient", bsuid.as_str())
    );
}
