//! Issue 24, item 9: an engine whose lease another process took stops every task of its own —
//! the receiver answers no more, the applier applies no more — and says who runs it now.

use coexist_core::engine::{Engine, EngineSettings, ReceiverSettings, Started};
use coexist_core::events::{CoreEvent, EventBus};
use coexist_core::secrets::Sensitive;
use coexist_core::webhook::SignatureVerdict;
use coexist_core::{Clock, Store, SystemClock};
use coexist_testkit::{customer_text, sign};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "lease-test-secret";

fn message(i: u32, at: i64) -> Vec<u8> {
    customer_text(&format!("wamid.lease.{i}"), &format!("question {i}"), at)
}

async fn applied(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM journal_apply")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_lost_its_lease_stops_receiving_and_applying() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let events = EventBus::default();
    let mut heard = events.subscribe();
    let mut s = EngineSettings::new("app", clock.clone());
    s.lease_ttl_ms = 800;
    s.events = events.clone();
    s.receiver = Some(ReceiverSettings {
        addr: "127.0.0.1:0".parse().unwrap(),
        app_secret: Sensitive::new(SECRET.into()),
        verify_token: Sensitive::new("verify".into()),
        watch_gaps: false,
    });
    let Started::Engine(engine) = Engine::start(&store, s).await.unwrap() else {
        panic!("nobody else runs the workspace");
    };
    let url = engine.receiver_url().unwrap().to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let post = |body: Vec<u8>| {
        http.post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign(SECRET, &body))
            .body(body)
            .send()
    };
    assert_eq!(post(message(1, clock.now())).await.unwrap().status().as_u16(), 200);
    for _ in 0..100 {
        if applied(&store).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(applied(&store).await, 1, "the running engine applies what it receives");

    // Another process takes the lease (this one stalled past it, as far as the database knows).
    sqlx::query("UPDATE lease SET holder = 'serve:4242:other', expires_ms = ? WHERE name = 'engine'")
        .bind(coexist_core::send::now_ms() + 60_000)
        .execute(store.pool())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), engine.lost())
        .await
        .expect("the engine notices within its lease");
    let taken_by = loop {
        match tokio::time::timeout(Duration::from_secs(5), heard.recv()).await {
            Ok(Ok(CoreEvent::EngineLost { taken_by })) => break taken_by,
            Ok(Ok(_)) => continue,
            other => panic!("no EngineLost event: {other:?}"),
        }
    };
    assert!(
        taken_by.contains("coexist serve") && taken_by.contains("4242"),
        "{taken_by}"
    );

    // The receiver stopped: Meta's post is not taken by this process any more.
    let after = post(message(2, clock.now())).await;
    assert!(
        after.as_ref().map_or(true, |a| a.status().as_u16() != 200),
        "a stopped receiver takes nothing: {:?}",
        after.map(|a| a.status())
    );
    // The applier stopped: a body journaled by the new holder stays for the new holder to apply.
    store
        .journal_append(&message(3, clock.now()), SignatureVerdict::Imported, clock.now())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        applied(&store).await,
        1,
        "nothing is applied by an engine that lost its lease"
    );
    drop(engine);
}
