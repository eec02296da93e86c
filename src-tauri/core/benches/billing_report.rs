//! A month of 1,000,000 messages over 20,000 contacts in a real SQLite file (customer messages,
//! API templates and free-form replies with Meta's pricing, phone echoes), then prints: the time
//! to price the whole ledger once, the monthly report with the ledger current (target < 500 ms,
//! DESIGN §7), and the report after 1,000 fresh status updates (the incremental path).
//!
//! `cargo bench -p coexist-core --bench billing_report` (COEXIST_BENCH_MESSAGES changes the size).

use coexist_core::billing::parse_day;
use coexist_core::Store;
use sqlx::QueryBuilder;
use std::time::Instant;

const CONTACTS: usize = 20_000;
const BATCH: usize = 2_000;

fn main() {
    let total: usize = std::env::var("COEXIST_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    tokio::runtime::Runtime::new().unwrap().block_on(run(total));
}

async fn run(total: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let month = parse_day("2026-09-01").unwrap();
    let span = 30 * 86_400;
    let t = Instant::now();
    for start in (0..CONTACTS).step_by(5_000) {
        let mut qb = QueryBuilder::new("INSERT INTO contact (wa_id, source, created_at) ");
        qb.push_values(start..(start + 5_000).min(CONTACTS), |mut b, i| {
            let prefix = ["91", "55", "44", "1555", "62", "49"][i % 6];
            b.push_bind(format!("{prefix}{:08}", i))
                .push_bind("message")
                .push_bind(0);
        });
        qb.build().execute(store.pool()).await.unwrap();
    }
    let categories = [None, Some("utility"), Some("marketing"), Some("authentication")];
    for start in (0..total).step_by(BATCH) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO message (wamid, contact_id, direction, origin, type, text, timestamp, status, delivered_at,
                                  template_category, pricing_billable, pricing_model, pricing_type, pricing_category) ",
        );
        qb.push_values(start..(start + BATCH).min(total), |mut b, i| {
            let contact = (i % CONTACTS) as i64 + 1;
            let at = month + (i as i64 * span / total as i64);
            let (origin, direction) = match i % 10 {
                0..=3 => ("customer", "inbound"),
                4..=6 => ("api", "outbound"),
                _ => ("phone", "outbound"),
            };
            let category = categories[i % 4];
            let api = origin == "api";
            let reported = category.unwrap_or("service");
            b.push_bind(format!("wamid.B{i}"))
                .push_bind(contact)
                .push_bind(direction)
                .push_bind(origin)
                .push_bind(if category.is_some() { "template" } else { "text" })
                .push_bind("hello")
                .push_bind(at)
                .push_bind(api.then_some("delivered"))
                .push_bind(api.then_some(at + 2))
                .push_bind(if api { category } else { None })
                .push_bind(api.then_some(category.is_some_and(|c| c != "utility")))
                .push_bind(api.then_some("PMP"))
                .push_bind(api.then_some(if category.is_some_and(|c| c != "utility") {
                    "regular"
                } else {
                    "free_customer_service"
                }))
                .push_bind(api.then_some(reported));
        });
        qb.build().execute(store.pool()).await.unwrap();
    }
    // Bulk rows bypass the code that marks new messages for pricing: mark them all.
    sqlx::query(
        "INSERT OR IGNORE INTO ledger_dirty (message_id) SELECT id FROM message WHERE origin IN ('api', 'phone')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    println!(
        "mirror: {total} messages, {CONTACTS} contacts written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let ctx = store.billing_context(month).await.unwrap();
    let t = Instant::now();
    let priced = store.refresh_ledger(&ctx).await.unwrap();
    println!(
        "ledger: {} messages priced from scratch in {:.2} s ({:.0} messages/s)",
        priced.priced,
        t.elapsed().as_secs_f64(),
        priced.priced as f64 / t.elapsed().as_secs_f64()
    );

    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..5 {
        let t = Instant::now();
        report = Some(store.billing_report(&ctx, month, month + span).await.unwrap());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let r = report.unwrap();
    println!(
        "monthly report, ledger current: median {:.0} ms, worst {:.0} ms over 5 runs (target < 500 ms): total {} {}, {} API + {} phone messages, savings {}",
        times[2], times[4], r.total, r.currency, r.messages.api, r.messages.phone, r.savings
    );

    sqlx::query(
        "UPDATE message SET status = 'read' WHERE id IN (SELECT id FROM message WHERE origin = 'api' LIMIT 1000)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let t = Instant::now();
    store.billing_report(&ctx, month, month + span).await.unwrap();
    println!(
        "monthly report after 1,000 status updates (prices them first): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}
