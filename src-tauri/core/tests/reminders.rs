//! The reminder schedule driven by a clock: fourteen days run in milliseconds against a real
//! SQLite file, with restarts, a week with the computer off, acknowledgements, and a dropped then
//! reconnected link arriving as webhooks.

use coexist_core::reminders::{self, MemoryNotifier, Urgency};
use coexist_core::webhook::{apply_pending, Rules, SignatureVerdict};
use coexist_core::{FixedClock, Store};
use serde_json::json;

const T0: i64 = 1_790_000_000;
const H: i64 = 3600;
const D: i64 = 86_400;

async fn connected(path: &std::path::Path) -> Store {
    let store = Store::open_file(path).await.unwrap();
    store
        .record_connection(Some("WABA1"), Some("PN1"), Some("15550001111"), T0, T0)
        .await
        .unwrap();
    store
}

/// Runs the reminder loop hour by hour over `[from, to)`; returns (hours since T0, title, urgency).
async fn run_hours(store: &Store, n: &MemoryNotifier, from: i64, to: i64) -> Vec<(i64, String, Urgency)> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        for r in reminders::tick(store, n, t).await.unwrap() {
            assert_eq!(r.fired_at, Some(t));
        }
        out.extend(n.take().into_iter().map(|x| ((t - T0) / H, x.title, x.urgency)));
        t += H;
    }
    out
}

fn account_update(event: &str) -> Vec<u8> {
    let mut v = json!({"phone_number": "15550001111", "event": event});
    if event == "PARTNER_REMOVED" {
        v["disconnection_info"] = json!({"reason": "PRIMARY_INACTIVITY"});
    }
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "account_update", "value": v}]}]}))
    .unwrap()
}

#[tokio::test]
async fn fourteen_days_with_a_restart_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirror.db");
    let n = MemoryNotifier::default();
    let store = connected(&path).await;
    let mut shown = run_hours(&store, &n, T0, T0 + 11 * D + 12 * H).await;
    store.close().await;
    // The app restarts: the schedule comes back from the file, nothing is shown twice.
    let store = Store::open_file(&path).await.unwrap();
    shown.extend(run_hours(&store, &n, T0 + 11 * D + 12 * H, T0 + 14 * D).await);
    let hours: Vec<i64> = shown.iter().map(|s| s.0).collect();
    assert_eq!(
        hours,
        vec![1, 12, 20, 240, 264, 288, 312, 316, 320, 324, 328, 332],
        "sync at +1/+12/+20 h; heartbeat on days 10, 11, 12, then every 4 h on day 13: {shown:?}"
    );
    assert!(shown[3].1.contains("10 days"));
    assert!(shown[5].1.contains("Two days left"));
    assert!(shown[6..].iter().all(|s| s.2 == Urgency::Urgent));
    let status = store.heartbeat_status(T0 + 13 * D).await.unwrap();
    assert_eq!(
        (status.days_since, status.source.as_deref()),
        (Some(13), Some("connect"))
    );
}

#[tokio::test]
async fn a_week_off_fires_once_and_an_echo_or_ack_resets_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = connected(&dir.path().join("m.db")).await;
    let n = MemoryNotifier::default();
    assert_eq!(
        run_hours(&store, &n, T0, T0 + 2 * H).await.len(),
        1,
        "the +1 h sync reminder"
    );
    // The computer was off from hour 2 to day 13 + 9 h: one notification, the newest due.
    let missed = run_hours(&store, &n, T0 + 13 * D + 9 * H, T0 + 13 * D + 10 * H).await;
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0].2, Urgency::Urgent);
    let skipped: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reminder WHERE skipped = 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        skipped, 5,
        "days 10, 11, 12 and the first two urgent ones were recorded, not shown"
    );
    let cancelled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM reminder WHERE kind = 'sync_deadline' AND cancelled_at IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        cancelled, 2,
        "sync reminders are not shown after the 24 h window closed"
    );

    // "I opened it": no more urgent reminders; the next comes ten days later.
    let ack = T0 + 13 * D + 10 * H;
    store.acknowledge_heartbeat(ack).await.unwrap();
    assert!(run_hours(&store, &n, ack, ack + 9 * D).await.is_empty());
    let next = store
        .heartbeat_status(ack + 9 * D)
        .await
        .unwrap()
        .next_reminder
        .unwrap();
    assert_eq!(next.due_at, ack + 10 * D);

    // An echo (the owner replied from the phone) counts as using the app, too.
    let echo = ack + 9 * D + 12 * H;
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "smb_message_echoes",
        "value": {"messaging_product": "whatsapp", "message_echoes": [{"from": "15550001111", "to": "919800000001",
        "id": "wamid.E1", "timestamp": echo.to_string(), "type": "text", "text": {"body": "on my way"}}]}}]}]});
    store
        .journal_append(&serde_json::to_vec(&body).unwrap(), SignatureVerdict::Imported, echo)
        .await
        .unwrap();
    apply_pending(&store, &Rules::default(), &FixedClock::new(echo))
        .await
        .unwrap();
    assert!(run_hours(&store, &n, echo, echo + 9 * D).await.is_empty());
    assert_eq!(
        store.heartbeat_status(echo).await.unwrap().source.as_deref(),
        Some("echo")
    );
}

#[tokio::test]
async fn a_dropped_link_alarms_pauses_reminders_and_reconnecting_restarts_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = connected(&dir.path().join("m.db")).await;
    let n = MemoryNotifier::default();
    run_hours(&store, &n, T0, T0 + 10 * D + H).await;
    let dropped = T0 + 14 * D;
    store
        .journal_append(&account_update("PARTNER_REMOVED"), SignatureVerdict::Imported, dropped)
        .await
        .unwrap();
    apply_pending(&store, &Rules::default(), &FixedClock::new(dropped))
        .await
        .unwrap();
    let shown = run_hours(&store, &n, dropped, dropped + 2 * D).await;
    assert_eq!(
        shown.len(),
        1,
        "one alarm, and no heartbeat reminders while dropped: {shown:?}"
    );
    assert_eq!(
        (shown[0].1.as_str(), shown[0].2),
        ("WhatsApp API disconnected from your number", Urgency::Urgent)
    );
    let status = store.heartbeat_status(dropped + D).await.unwrap();
    assert_eq!(
        (status.link_state.as_str(), status.link_reason.as_deref()),
        ("dropped", Some("PRIMARY_INACTIVITY"))
    );

    let back = dropped + 3 * D;
    store
        .journal_append(&account_update("ACCOUNT_RECONNECTED"), SignatureVerdict::Imported, back)
        .await
        .unwrap();
    apply_pending(&store, &Rules::default(), &FixedClock::new(back))
        .await
        .unwrap();
    let status = store.heartbeat_status(back).await.unwrap();
    assert_eq!(
        (status.link_state.as_str(), status.source.as_deref()),
        ("connected", Some("reconnected"))
    );
    let shown = run_hours(&store, &n, back, back + 10 * D + H).await;
    assert_eq!(shown.len(), 1);
    assert_eq!(
        shown[0].0,
        (back + 10 * D - T0) / H,
        "day 10 counted from the reconnection"
    );
}

#[tokio::test]
async fn after_a_long_absence_one_true_reminder_and_no_stale_drop_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let store = connected(&dir.path().join("m.db")).await;
    // The link dropped and came back while Coexist was not running.
    for (event, at) in [("PARTNER_REMOVED", T0 + 14 * D), ("ACCOUNT_RECONNECTED", T0 + 15 * D)] {
        store
            .journal_append(&account_update(event), SignatureVerdict::Imported, at)
            .await
            .unwrap();
        apply_pending(&store, &Rules::default(), &FixedClock::new(at))
            .await
            .unwrap();
    }
    let n = MemoryNotifier::default();
    // Started again forty days later: the heartbeat counts from the reconnection (day 15).
    let shown = run_hours(&store, &n, T0 + 40 * D, T0 + 40 * D + H).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(
        shown[0].1, "The phone app has not been used for 14 days",
        "the newest due, with a text still true"
    );
    let alarms: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM reminder WHERE kind = 'link_dropped' AND cancelled_at IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        alarms, 1,
        "the drop alarm was cancelled by the reconnection, not shown late"
    );
}

/// Issue 14, item 12: when `serve` runs beside the desktop, a reminder it only writes to its log
/// is not "shown": the desktop still shows it when its loop ticks.
#[tokio::test]
async fn a_reminder_logged_by_a_headless_serve_is_still_shown_by_the_desktop() {
    let dir = tempfile::tempdir().unwrap();
    let store = connected(&dir.path().join("mirror.db")).await;
    let day10 = T0 + 10 * D + H;
    // serve ticks first, with no desktop: it logs and takes nothing.
    assert!(reminders::tick(&store, &reminders::LogNotifier, day10)
        .await
        .unwrap()
        .is_empty());
    // The desktop ticks a moment later and shows it.
    let desktop = MemoryNotifier::default();
    let shown = reminders::tick(&store, &desktop, day10 + 30).await.unwrap();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(desktop.take().len(), 1);
    // Once shown, neither shows it again.
    assert!(reminders::tick(&store, &reminders::LogNotifier, day10 + 60)
        .await
        .unwrap()
        .is_empty());
    assert!(reminders::tick(&store, &desktop, day10 + 90).await.unwrap().is_empty());
}
