//! The inbox's queries on a mirror of 1,000,000 messages and 20,000 contacts in a real SQLite
//! file (DESIGN §7): a conversation-list page (< 5 ms), a thread page (< 5 ms) and full-text
//! search (< 50 ms), plus the one-off time to build the search index. Figures are printed.
//!
//! `cargo bench -p coexist-core --bench mirror_queries` (COEXIST_BENCH_MESSAGES changes the size).

use coexist_core::store::ConversationFilter;
use coexist_core::Store;
use std::time::Instant;

const CONTACTS: i64 = 20_000;

fn main() {
    let total: i64 = std::env::var("COEXIST_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    tokio::runtime::Runtime::new().unwrap().block_on(run(total));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn run(total: i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let t = Instant::now();
    coexist_core::demo::synthetic_mirror(&store, total, CONTACTS)
        .await
        .unwrap();
    println!(
        "mirror: {total} messages, {CONTACTS} contacts written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let indexed = store.index_search().await.unwrap();
    println!(
        "search index built once: {indexed} messages in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut list = Vec::new();
    let mut thread = Vec::new();
    for k in 0..20 {
        let t = Instant::now();
        let page = store
            .list_conversations(&ConversationFilter::All, 100, k * 100)
            .await
            .unwrap();
        list.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(page.len(), 100);
        let t = Instant::now();
        let msgs = store.thread(page[0].contact_id, None, 100).await.unwrap();
        thread.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!msgs.is_empty());
    }
    println!(
        "conversation list page (100 rows): median {:.2} ms (target < 5 ms)",
        median(list)
    );
    println!(
        "thread page (100 messages): median {:.2} ms (target < 5 ms)",
        median(thread)
    );
    let t = Instant::now();
    store.index_search().await.unwrap();
    println!(
        "index catch-up with nothing new: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    for q in ["zardozi", "blue kurta", "silk gift wrap", "order"] {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..10 {
            let t = Instant::now();
            n = store.search(q, 100).await.unwrap().len();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "search {q:?}: {n} hits (top 100), median {:.1} ms (target < 50 ms)",
            median(times)
        );
    }
}
