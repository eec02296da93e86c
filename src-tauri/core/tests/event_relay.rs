//! A window that is `coexist serve`'s client gets the engine's events too (issue 25): the relay
//! in the client's process reads what the other process wrote — bodies applied, outbox rows
//! moving — and announces it. Two handles on one real SQLite file, as two processes have.

use coexist_core::events::{CoreEvent, EventBus, Relay};
use coexist_core::ops::{outbox, Ctx};
use coexist_core::send::{Audience, OutboxState};
use coexist_core::Store;
use std::time::Duration;

async fn next(rx: &mut tokio::sync::broadcast::Receiver<CoreEvent>, want: impl Fn(&CoreEvent) -> bool) -> CoreEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = rx.recv().await.unwrap();
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the relay announced it")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hears_what_the_engine_process_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let engine_side = Store::open_dir(dir.path()).await.unwrap();
    let client_side = Store::open_dir(dir.path()).await.unwrap();
    // Something was there before the client started: not announced.
    coexist_testkit::feed(
        &engine_side,
        coexist_testkit::customer_text("wamid.OLD", "old", 100),
        100,
    )
    .await;

    let events = EventBus::default();
    let mut rx = events.subscribe();
    let _relay = Relay::spawn(client_side.clone(), events, Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(200)).await;

    coexist_testkit::feed(
        &engine_side,
        coexist_testkit::customer_text("wamid.NEW", "is it ready?", 200),
        200,
    )
    .await;
    let e = next(&mut rx, |e| matches!(e, CoreEvent::MirrorChanged { .. })).await;
    assert_eq!(e, CoreEvent::MirrorChanged { applied: 1 }, "only the new body");

    coexist_testkit::approved_template(&engine_side, "order_ready", "utility", 1).await;
    engine_side
        .import_contacts_csv("phone,tags,consent\n+447700900001,regulars,opt_in\n", "owner", 1)
        .await
        .unwrap();
    let audience = Audience {
        tag: Some("regulars".into()),
        ..Audience::default()
    };
    let (campaign, _) = engine_side
        .create_campaign("Ready", "order_ready", "en", &audience, &[], None, None, "owner", 300)
        .await
        .unwrap();
    engine_side.launch_campaign(campaign, "owner", 300).await.unwrap();
    let queued = next(&mut rx, |e| matches!(e, CoreEvent::Outbox { .. })).await;
    let CoreEvent::Outbox { id, state, campaign_id } = queued else {
        unreachable!()
    };
    assert_eq!((state, campaign_id), (OutboxState::Queued, Some(campaign)));

    // A second change within the same second is still heard.
    outbox::cancel(&Ctx::new(&engine_side, "owner", None, 300), id)
        .await
        .unwrap();
    let cancelled = next(&mut rx, |e| matches!(e, CoreEvent::Outbox { .. })).await;
    assert_eq!(
        cancelled,
        CoreEvent::Outbox {
            id,
            state: OutboxState::Cancelled,
            campaign_id: Some(campaign)
        }
    );
}
