//! Applies a generated history import (≥ 200,000 messages) through the journal and applier, then
//! inserts the same rows into a fresh mirror with a bare batched INSERT, and prints both rates and
//! their ratio. Targets (DESIGN §7): ≥ 50,000 messages/s and ≥ 0.5 of the bare insert.
//!
//! `cargo bench -p coexist-core --bench history_apply` (set COEXIST_BENCH_MESSAGES to change the size).

use coexist_core::webhook::{apply_pending, Rules, SignatureVerdict};
use coexist_core::{demo, FixedClock, Store};
use sqlx::QueryBuilder;
use std::time::Instant;

const PER_THREAD: usize = 500;
const CHUNK: usize = 2_000;
const BATCH: usize = 1000;

fn main() {
    let total: usize = std::env::var("COEXIST_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let threads = total.div_ceil(PER_THREAD);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(threads));
}

struct BareRow {
    wamid: String,
    thread: usize,
    outbound: bool,
    text: String,
    timestamp: i64,
}

async fn run(threads: usize) {
    let start_ts = 1_740_000_000;
    let bodies = demo::history_import(threads, PER_THREAD, CHUNK, start_ts);
    let messages = threads * PER_THREAD;
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    println!(
        "history import: {messages} messages in {} chunks ({:.1} MB of JSON)",
        bodies.len(),
        bytes as f64 / 1e6
    );

    // 1. Through Coexist: journal, then the applier (parse, contacts, upserts, conversations).
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(&dir.path().join("applied")).await.unwrap();
    let clock = FixedClock::new(start_ts + 1_000_000);
    let t = Instant::now();
    for b in &bodies {
        store
            .journal_append(b, SignatureVerdict::Imported, start_ts)
            .await
            .unwrap();
    }
    let journal_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = apply_pending(&store, &Rules::default(), &clock).await.unwrap();
    let apply_secs = t.elapsed().as_secs_f64();
    assert_eq!(report.failed, 0);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.messages.history as usize, messages);
    store.close().await;

    // 2. Bare: the same rows, already in memory, inserted in batches of the same size and
    //    transactions of the same chunking, into the same schema.
    let rows: Vec<BareRow> = (0..threads)
        .flat_map(|t| {
            (0..PER_THREAD).map(move |i| BareRow {
                wamid: format!("wamid.GEN.{t}.{i}"),
                thread: t,
                outbound: i % 3 == 2,
                text: format!("message {i} in thread {t}: is the order ready for pick-up tomorrow?"),
                timestamp: start_ts + (t * PER_THREAD + i) as i64,
            })
        })
        .collect();
    let bare = Store::open_dir(&dir.path().join("bare")).await.unwrap();
    let mut tx = bare.pool().begin().await.unwrap();
    for t in 0..threads {
        sqlx::query("INSERT INTO contact (id, wa_id, source, created_at) VALUES (?, ?, 'history', 0)")
            .bind(t as i64 + 1)
            .bind(format!("1555{t:07}"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let t = Instant::now();
    for chunk in rows.chunks(CHUNK) {
        let mut tx = bare.pool().begin().await.unwrap();
        for batch in chunk.chunks(BATCH) {
            let mut qb = QueryBuilder::new(
                "INSERT INTO message (wamid, contact_id, direction, origin, type, text, timestamp, status, status_at) ",
            );
            qb.push_values(batch, |mut b, r| {
                b.push_bind(&r.wamid)
                    .push_bind(r.thread as i64 + 1)
                    .push_bind(if r.outbound { "outbound" } else { "inbound" })
                    .push_bind("history")
                    .push_bind("text")
                    .push_bind(&r.text)
                    .push_bind(r.timestamp)
                    .push_bind("read")
                    .push_bind(r.timestamp);
            });
            qb.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let bare_secs = t.elapsed().as_secs_f64();
    bare.close().await;

    let apply_rate = messages as f64 / apply_secs;
    let bare_rate = messages as f64 / bare_secs;
    println!(
        "journal append:        {:>10.0} bodies/s ({journal_secs:.2} s)",
        bodies.len() as f64 / journal_secs
    );
    println!("apply (Coexist):       {apply_rate:>10.0} messages/s ({apply_secs:.2} s)");
    println!("bare batched insert:   {bare_rate:>10.0} messages/s ({bare_secs:.2} s)");
    println!("ratio apply / bare:    {:>10.2}", apply_rate / bare_rate);
    println!(
        "targets: >= 50000 messages/s [{}], ratio >= 0.50 [{}]",
        if apply_rate >= 50_000.0 { "met" } else { "NOT met" },
        if apply_rate / bare_rate >= 0.5 {
            "met"
        } else {
            "NOT met"
        }
    );
}
