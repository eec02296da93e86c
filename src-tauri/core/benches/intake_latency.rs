//! Webhook intake latency: signed posts at a steady 500/s over loopback to the real receiver
//! (signature check, journal write, 200) while the applier runs, and the latency distribution from
//! request to response. Target (DESIGN §7): p99 < 5 ms at 500 posts/s.
//!
//! `cargo bench -p coexist-core --bench intake_latency` (COEXIST_BENCH_POSTS to change the count).

use coexist_core::webhook::signature;
use coexist_core::{Clock, Store, SystemClock};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RATE: u64 = 500;
const SECRET: &str = "bench-secret";

fn main() {
    let posts: u64 = std::env::var("COEXIST_BENCH_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(posts));
}

async fn run(posts: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let coexist_testkit::Receiver { url, applier } =
        coexist_testkit::start_receiver(&store, SECRET, clock, Default::default()).await;

    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let interval = Duration::from_micros(1_000_000 / RATE);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(posts as usize);
    for i in 0..posts {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"display_phone_number":"15550001234","phone_number_id":"2"}},"contacts":[{{"profile":{{"name":"Customer {n}"}},"wa_id":"1555{n:07}"}}],"messages":[{{"from":"1555{n:07}","id":"wamid.BENCH.{i}","timestamp":"{ts}","type":"text","text":{{"body":"Hello, is the shop open today?"}}}}]}}}}]}}]}}"#,
            n = i % 500,
            ts = 1_760_000_000 + i
        );
        let sig = signature::sign(SECRET.as_bytes(), body.as_bytes());
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = client
                .post(&url)
                .header("X-Hub-Signature-256", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            t.elapsed()
        }));
    }
    let mut lat: Vec<Duration> = Vec::with_capacity(tasks.len());
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let wall = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat[((lat.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(lat.len() - 1)]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Let the applier finish, to show it kept up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.stats().await.unwrap().journal.pending > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = store.stats().await.unwrap();
    println!(
        "{posts} signed posts at {:.0}/s over loopback ({wall:.1} s)",
        posts as f64 / wall
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(*lat.last().unwrap())
    );
    println!(
        "applied {} of {} journaled; {} customer messages in the mirror",
        s.journal.applied, s.journal.received, s.messages.customer
    );
    println!(
        "target: p99 < 5 ms [{}]",
        if ms(pct(0.99)) < 5.0 { "met" } else { "NOT met" }
    );
    drop(applier);
}
