//! The audit log is append-only and hash-chained: entries edited, deleted, swapped or cut off
//! with plain SQL (triggers dropped, as someone with the file could) are each named by `verify`.

use coexist_core::Store;
use serde_json::json;

async fn log_of(n: i64) -> Store {
    let store = Store::open_in_memory().await.unwrap();
    for i in 1..=n {
        store
            .audit(
                1000 + i,
                if i % 2 == 0 { "ana" } else { "owner" },
                coexist_core::audit::Action::Send,
                Some("919800000001"),
                json!({"outbox": i}),
            )
            .await
            .unwrap();
    }
    store
}

async fn sql(store: &Store, q: &str) {
    sqlx::query(q).execute(store.pool()).await.unwrap();
}

#[tokio::test]
async fn an_untouched_log_verifies_and_the_triggers_refuse_edits() {
    let store = log_of(5).await;
    let v = store.audit_verify().await.unwrap();
    assert!(v.ok && v.entries == 5, "{v:?}");
    let e = sqlx::query("UPDATE audit SET actor = 'x' WHERE seq = 2")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(sqlx::query("DELETE FROM audit WHERE seq = 2")
        .execute(store.pool())
        .await
        .is_err());
}

#[tokio::test]
async fn edits_deletions_swaps_and_truncation_are_each_named() {
    let store = log_of(10).await;
    sql(&store, "DROP TRIGGER audit_no_update").await;
    sql(&store, "DROP TRIGGER audit_no_delete").await;
    // An edit: entry 3 now claims another actor.
    sql(&store, "UPDATE audit SET actor = 'nobody' WHERE seq = 3").await;
    // A deletion in the middle: entry 6.
    sql(&store, "DELETE FROM audit WHERE seq = 6").await;
    // A swap: entries 8 and 9 trade places.
    sql(
        &store,
        "UPDATE audit SET seq = CASE seq WHEN 8 THEN -9 WHEN 9 THEN -8 END WHERE seq IN (8, 9);
         UPDATE audit SET seq = -seq WHERE seq < 0;",
    )
    .await;
    let v = store.audit_verify().await.unwrap();
    assert!(!v.ok);
    let named: Vec<i64> = v.breaks.iter().map(|b| b.seq).collect();
    assert!(named.contains(&3), "the edit: {v:?}");
    assert!(
        v.breaks.iter().any(|b| b.seq == 7 && b.problem.contains("missing")),
        "the deletion: {v:?}"
    );
    assert!(named.contains(&8) && named.contains(&9), "the swap: {v:?}");
    assert!(
        !named.contains(&2) && !named.contains(&5),
        "untouched entries are not blamed: {v:?}"
    );

    // Cutting entries off the end leaves no gap, but the recorded head gives it away.
    let store = log_of(4).await;
    sql(&store, "DROP TRIGGER audit_no_delete").await;
    sql(&store, "DELETE FROM audit WHERE seq = 4").await;
    let v = store.audit_verify().await.unwrap();
    assert!(
        v.breaks.iter().any(|b| b.seq == 4 && b.problem.contains("cut off")),
        "{v:?}"
    );
}

/// Six entries sealed with the key kept in `keyring`.
async fn sealed_log(keyring: &coexist_core::secrets::MemorySecrets) -> Store {
    let store = Store::open_in_memory().await.unwrap();
    store.seal_audit_with(coexist_core::secrets::audit_key(keyring, 1000).unwrap());
    for i in 1..=6 {
        store
            .audit(
                1000 + i,
                "owner",
                coexist_core::audit::Action::Send,
                None,
                json!({"outbox": i}),
            )
            .await
            .unwrap();
    }
    store
}

/// A sealed log, and someone with the database file but not the keyring: recomputing the whole
/// chain with plain hashes, or cutting its end and moving the marker back, both show.
#[tokio::test]
async fn a_sealed_chain_cannot_be_recomputed_or_cut_without_the_key() {
    use coexist_core::audit::entry_hash;
    use coexist_core::secrets::{audit_key, MemorySecrets};
    let keyring = MemorySecrets::default();
    let store = sealed_log(&keyring).await;
    let v = store.audit_verify().await.unwrap();
    assert!(v.ok && v.sealed == 6 && v.key_available, "{v:?}");
    // The same key comes back from the keyring: nothing new is made.
    assert_eq!(audit_key(&keyring, 5000).unwrap().since, 1000);

    // Recomputed from the start with plain hashes, marked unsealed, head moved along.
    sql(&store, "DROP TRIGGER audit_no_update").await;
    let mut prev = coexist_core::audit::GENESIS.to_string();
    for e in store.audit_entries().await.unwrap() {
        let details = e.details.replace("\"outbox\":3", "\"outbox\":33");
        let hash = entry_hash(e.seq, e.at, &e.actor, &e.action, e.subject.as_deref(), &details, &prev);
        sqlx::query("UPDATE audit SET details = ?, prev_hash = ?, hash = ?, sealed = 0 WHERE seq = ?")
            .bind(&details)
            .bind(&prev)
            .bind(&hash)
            .bind(e.seq)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE setting SET value = ? WHERE key = 'audit.head'")
            .bind(format!("{}:{hash}", e.seq))
            .execute(store.pool())
            .await
            .unwrap();
        prev = hash;
    }
    let v = store.audit_verify().await.unwrap();
    assert!(!v.ok, "a recomputed chain must not verify: {v:?}");
    assert_eq!(v.breaks.len(), 6, "{:?}", v.breaks);
    assert!(v.breaks[0].problem.contains("not sealed with it"), "{:?}", v.breaks);

    // Cut the end of a sealed chain and move its marker back to the new last entry.
    let store = sealed_log(&keyring).await;
    sql(&store, "DROP TRIGGER audit_no_delete").await;
    sql(&store, "DELETE FROM audit WHERE seq > 4").await;
    let fourth = store.audit_entries().await.unwrap().pop().unwrap();
    sqlx::query("UPDATE setting SET value = ? WHERE key = 'audit.head'")
        .bind(format!("4:{}", fourth.hash))
        .execute(store.pool())
        .await
        .unwrap();
    let v = store.audit_verify().await.unwrap();
    assert!(!v.ok, "{v:?}");
    assert!(
        v.breaks
            .iter()
            .any(|b| b.problem.contains("rewritten without the audit key")),
        "{:?}",
        v.breaks
    );
}
