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
const ROUNDS: usize = 3;

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

    // How much of the apply is only reading the JSON (both passes the applier makes).
    let t = Instant::now();
    let mut parsed = 0usize;
    for b in &bodies {
        let env: coexist_core::webhook::model::Envelope = serde_json::from_slice(b).unwrap();
        for c in env.entry.iter().flat_map(|e| e.changes.iter()) {
            let v: coexist_core::webhook::model::HistoryValue = serde_json::from_str(c.value.get()).unwrap();
            parsed += v
                .history
                .iter()
                .flat_map(|h| h.threads.iter())
                .map(|t| t.messages.len())
                .sum::<usize>();
        }
    }
    assert_eq!(parsed, messages);
    println!("JSON parse alone: {:.2} s", t.elapsed().as_secs_f64());

    let mut results = Vec::new();
    for round in 1..=ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let apply_secs = through_coexist(&dir.path().join("applied"), &bodies, messages, start_ts).await;
        let bare_secs = bare_insert(&dir.path().join("bare"), &rows, threads).await;
        let (apply_rate, bare_rate) = (messages as f64 / apply_secs, messages as f64 / bare_secs);
        println!(
            "round {round}: apply {apply_rate:>8.0} msg/s ({apply_secs:.2} s) | bare insert {bare_rate:>8.0} msg/s ({bare_secs:.2} s) | ratio {:.2}",
            apply_rate / bare_rate
        );
        results.push((apply_rate, bare_rate, apply_rate / bare_rate));
    }
    let median = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = results.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (apply, bare, ratio) = (median(|r| r.0), median(|r| r.1), median(|r| r.2));
    println!("median of {ROUNDS}: apply (Coexist) {apply:.0} messages/s, bare batched insert {bare:.0} messages/s, ratio {ratio:.2}");
    println!(
        "targets: >= 50000 messages/s [{}], ratio >= 0.50 [{}]",
        if apply >= 50_000.0 { "met" } else { "NOT met" },
        if ratio >= 0.5 { "met" } else { "NOT met" }
    );
}

/// Journal every chunk, then time the applier (parse, contacts, upserts, conversations).
async fn through_coexist(dir: &std::path::Path, bodies: &[Vec<u8>], messages: usize, start_ts: i64) -> f64 {
    let store = Store::open_dir(dir).await.unwrap();
    for b in bodies {
        store
            .journal_append(b, SignatureVerdict::Imported, start_ts)
            .await
            .unwrap();
    }
    let t = Instant::now();
    let report = apply_pending(&store, &Rules::default(), &FixedClock::new(start_ts + 1_000_000))
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(report.failed, 0);
    assert_eq!(store.stats().await.unwrap().messages.history as usize, messages);
    store.close().await;
    secs
}

/// The same rows, already in memory, inserted with multi-row INSERTs of the same batch size in
/// transactions of the same chunking, into the same schema.
async fn bare_insert(dir: &std::path::Path, rows: &[BareRow], threads: usize) -> f64 {
    let bare = Store::open_dir(dir).await.unwrap();
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
    let secs = t.elapsed().as_secs_f64();
    bare.close().await;
    secs
}
