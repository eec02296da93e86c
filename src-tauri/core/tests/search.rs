//! Full-text search over the mirror: new messages, an edit (old words gone, new ones found), a
//! revoke (gone), history, and retention removing what it deletes.

use coexist_core::Store;
use coexist_testkit::{feed_all, fixture};

const NOW: i64 = 1_762_100_000;

async fn feed(store: &Store, prefixes: &[&str]) {
    let bodies: Vec<Vec<u8>> = prefixes.iter().map(|p| fixture(p)).collect();
    feed_all(store, &bodies, NOW).await;
}

async fn texts(store: &Store, q: &str) -> Vec<String> {
    store
        .search(q, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.snippet)
        .collect()
}

#[tokio::test]
async fn search_follows_new_messages_edits_revokes_and_retention() {
    let store = Store::open_in_memory().await.unwrap();
    feed(&store, &["01_", "07_", "10_", "11_"]).await;
    let hits = store.search("blue KURTA", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].origin, coexist_core::states::Origin::Customer);
    assert!(hits[0].contact_name.is_some());
    assert_eq!(
        texts(&store, "shall keep").await,
        vec!["Yes! M is in stock, shall I keep one aside for you?"]
    );
    assert!(store.search("", 10).await.unwrap().is_empty());
    assert!(
        store.search("\"*)(", 10).await.unwrap().is_empty(),
        "symbols alone are not a query"
    );

    // The echo was edited, then revoked: the index follows.
    feed(&store, &["09_"]).await;
    let edited = texts(&store, "stock").await;
    assert!(!edited.iter().any(|t| t.contains("keep one aside")), "{edited:?}");

    // History is searchable too; retention takes what it deletes out of the index.
    let history: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message WHERE origin = 'history' AND text IS NOT NULL")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(history > 0);
    let before = store.search("kurta", 50).await.unwrap().len();
    store
        .apply_retention::<Vec<u8>>(NOW + 86_400, None, "owner", NOW)
        .await
        .unwrap();
    assert!(store.search("kurta", 50).await.unwrap().len() < before.max(1));
    assert_eq!(store.index_search().await.unwrap(), 0, "nothing left to index");
}
