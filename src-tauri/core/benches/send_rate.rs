//! Sustained sending rate against the simulator: ≥ 10,000 template sends, each to a different
//! customer, at a cap of 20/s and 200/s. Prints the rate as a fraction of the cap (target ≥ 0.98),
//! the throttle errors the simulator issued (target 0) and the p99 gap between consecutive sends.
//!
//! `cargo bench -p coexist-core --bench send_rate` (COEXIST_BENCH_SENDS, COEXIST_BENCH_CAPS="20,200").

use coexist_core::cloud::CloudClient;
use coexist_core::secrets::Sensitive;
use coexist_core::send::{compose_template, now_ms, DispatcherHandle, SendSettings};
use coexist_core::{Clock, Store, SystemClock};
use coexist_sim::{Scenario, Sim, SimConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let sends: usize = std::env::var("COEXIST_BENCH_SENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let caps: Vec<u32> = std::env::var("COEXIST_BENCH_CAPS")
        .unwrap_or_else(|_| "20,200".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for cap in caps {
        rt.block_on(run(cap, sends));
    }
}

async fn run(cap: u32, sends: usize) {
    let now = SystemClock.now();
    let sim = Sim::new(SimConfig {
        throughput: cap,
        start_time: now,
        onboarded_at: now - 3600,
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sim.run_scenario(&Scenario::CampaignLoad { customers: sends });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let client = CloudClient::new(
        &format!("http://{addr}"),
        "v21.0",
        Sensitive::new("sim-access-token".into()),
        Duration::from_secs(10),
    );
    let list = client.templates("102290129340398").await.unwrap();
    store.sync_templates(&list, now).await.unwrap();
    let customers: Vec<String> = reqwest::get(format!("http://{addr}/_sim/customers"))
        .await
        .unwrap()
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap()
        .iter()
        .map(|c| c["wa_id"].as_str().unwrap().to_string())
        .collect();
    for to in &customers {
        let c = compose_template(&store, to, "hello_world", "en_US", &[], now)
            .await
            .unwrap();
        store.enqueue(&c, None, now, now_ms()).await.unwrap();
    }
    let started = Instant::now();
    let d = DispatcherHandle::spawn(
        store.clone(),
        client,
        SendSettings::new("106540352242922", cap),
        Arc::new(SystemClock),
    );
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state IN ('accepted', 'failed', 'uncertain')")
                .fetch_one(store.pool())
                .await
                .unwrap();
        if done as usize >= sends {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    d.shutdown().await;
    let accepted = sim.accepted();
    let mut times: Vec<i64> = accepted.iter().map(|a| a.accepted_ms).collect();
    times.sort();
    let span_s = (times[times.len() - 1] - times[0]) as f64 / 1000.0;
    // n sends span n-1 intervals at the cap.
    let rate = (times.len() - 1) as f64 / span_s;
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let p99 = gaps[((gaps.len() as f64) * 0.99) as usize - 1];
    let p50 = gaps[gaps.len() / 2];
    let errors = sim.errors_by_code();
    let throttled = errors.get(&130429).copied().unwrap_or(0);
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state != 'accepted'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    println!(
        "cap {cap}/s: {} sends in {wall:.1} s | sustained {rate:.2}/s = {:.3} of cap | 130429 issued: {throttled} | not accepted: {failed} | gap p50 {p50} ms, p99 {p99} ms (ideal {} ms)",
        accepted.len(),
        rate / cap as f64,
        1000 / cap
    );
    println!(
        "  targets: >= 0.98 of cap [{}], zero throttle errors [{}]",
        if rate / cap as f64 >= 0.98 { "met" } else { "NOT met" },
        if throttled == 0 { "met" } else { "NOT met" }
    );
}
