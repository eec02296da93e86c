//! Intake does not wait for the mirror (issue 24, item 14): a signed post is answered 200 while
//! another connection holds the mirror's write lock, because the receiver writes to its own inbox
//! file; the applier moves it into the journal once the lock is free, losing nothing.

use coexist_core::{Clock, Store, SystemClock};
use coexist_testkit::{customer_text, sign, start_receiver};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "inbox-test-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_posts_are_answered_while_the_mirror_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let receiver = start_receiver(&store, SECRET, clock, Default::default()).await;
    let client = reqwest::Client::new();

    // A long mirror transaction, as a campaign launch or a large history chunk holds one.
    let mut lock = store.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *lock).await.unwrap();
    for n in 0..20 {
        let body = customer_text(&format!("wamid.LOCKED.{n}"), "are you open?", 1_760_000_000 + n);
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            client
                .post(&receiver.url)
                .header("X-Hub-Signature-256", sign(SECRET, &body))
                .body(body)
                .send(),
        )
        .await
        .expect("answered without waiting for the mirror's write lock")
        .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let s = store.stats().await.unwrap();
    assert_eq!(s.journal.pending, 20, "all 20 are stored, none applied yet");
    assert_eq!(s.messages.customer, 0);
    sqlx::query("ROLLBACK").execute(&mut *lock).await.unwrap();
    drop(lock);

    receiver.applier.wake();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.stats().await.unwrap().journal.pending > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = store.stats().await.unwrap();
    assert_eq!((s.journal.received, s.journal.pending, s.journal.applied), (20, 0, 20));
    assert_eq!(s.messages.customer, 20);
}
