//! An online backup taken while the applier is busy with webhooks restores to a consistent
//! mirror: intact, and — once its pending bodies are applied — exactly the mirror a replay of its
//! own journal gives. Retention then deletes old messages but keeps the journal.

use coexist_core::webhook::{apply_pending, ApplierHandle, Rules, SignatureVerdict};
use coexist_core::{demo, Clock, FixedClock, Store, SystemClock};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_applying_restores_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(&dir.path().join("live")).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let applier = ApplierHandle::spawn(store.clone(), Rules::default(), clock.clone());
    let now = clock.now();
    let mut bodies = demo::history_import(40, 250, 500, now - 90 * 86_400);
    bodies.extend(demo::shop_week(now));
    let writer = {
        let store = store.clone();
        let wake = applier.waker();
        tokio::spawn(async move {
            for b in bodies {
                store.journal_append(&b, SignatureVerdict::Imported, now).await.unwrap();
                wake.notify_one();
                tokio::task::yield_now().await;
            }
        })
    };
    // Back up in the middle of it.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let backup = dir.path().join("backup.sqlite3");
    let info = store.backup_to(&backup, "owner", now).await.unwrap();
    writer.await.unwrap();
    drop(applier);
    assert!(info.journal > 0, "the backup holds webhooks: {info:?}");

    let restored_dir = dir.path().join("restored");
    let restored_info = coexist_core::safety::restore(&backup, &restored_dir).await.unwrap();
    assert_eq!(restored_info.journal, info.journal);
    let restored = Store::open_dir(&restored_dir).await.unwrap();
    restored.integrity_check().await.unwrap();
    let fixed = FixedClock::new(now);
    apply_pending(&restored, &Rules::default(), &fixed).await.unwrap();

    let replayed = Store::open_in_memory().await.unwrap();
    replayed.journal_copy_from(&restored).await.unwrap();
    apply_pending(&replayed, &Rules::default(), &fixed).await.unwrap();
    let a = restored.export_messages().await.unwrap();
    let b = replayed.export_messages().await.unwrap();
    assert!(!a.is_empty());
    assert_eq!(a, b, "the restored mirror is exactly what its journal says");
    let stats = restored.stats().await.unwrap();
    assert_eq!(stats.journal.pending, 0);
    assert!(restored.audit_verify().await.unwrap().ok);

    // Retention: old messages go (archived first), the journal stays whole.
    let mut archive = Vec::new();
    let before = stats.journal.received;
    let o = restored
        .apply_retention(now - 30 * 86_400, Some(&mut archive), "owner", now)
        .await
        .unwrap();
    assert!(o.messages > 0 && o.archived == o.messages, "{o:?}");
    assert_eq!(String::from_utf8(archive).unwrap().lines().count() as u64, o.archived);
    let after = restored.stats().await.unwrap();
    assert_eq!(after.journal.received, before, "the journal is never touched");
    let old: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message WHERE timestamp < ?")
        .bind(now - 30 * 86_400)
        .fetch_one(restored.pool())
        .await
        .unwrap();
    assert_eq!(old, 0);
    let actions = |s: Vec<coexist_core::audit::AuditEntry>| s.into_iter().map(|e| e.action).collect::<Vec<_>>();
    assert_eq!(
        actions(restored.audit_entries().await.unwrap()),
        vec!["restore", "retention"]
    );
    assert_eq!(
        actions(store.audit_entries().await.unwrap()),
        vec!["backup"],
        "the live workspace recorded the backup"
    );
}
