//! Downloading 500 media files through the queue from the simulator over loopback: 490 files of
//! 256 KiB and 10 of 50 MiB (random bytes, so nothing compresses). Prints the time, the
//! throughput and the peak memory the download added on top of the process's baseline (the
//! simulator runs in this process and holds every file in memory; that is the baseline).
//!
//! `cargo bench -p coexist-core --bench media_download` (sizes: MEDIA_SMALL, MEDIA_BIG counts).

use coexist_core::cloud::CloudClient;
use coexist_core::media::{media_dir, MediaHandle, MediaSettings};
use coexist_core::secrets::Sensitive;
use coexist_core::{Clock, Store, SystemClock};
use coexist_sim::{Sim, SimConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The process's peak resident memory so far (VmHWM), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let (small, big) = (count("MEDIA_SMALL", 490), count("MEDIA_BIG", 10));
    let now = SystemClock.now();
    let sim = Sim::new(SimConfig {
        start_time: now,
        ..SimConfig::default()
    });
    let url = format!("http://{}", sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap());
    let http = reqwest::Client::new();
    let mut media: Vec<Value> = Vec::new();
    for (n, size) in [(small, 256 * 1024), (big, 50 * 1024 * 1024)] {
        let r: Value = http
            .post(format!("{url}/_sim/media"))
            .json(&json!({"count": n, "size": size}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        media.extend(r["media"].as_array().unwrap().iter().cloned());
    }
    let total: u64 = media.iter().map(|m| m["size"].as_u64().unwrap()).sum();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let messages: Vec<Value> = media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({"from": "5511987650000", "id": format!("wamid.BENCH{i}"), "timestamp": now.to_string(),
                   "type": "document", "document": {"id": m["id"], "mime_type": "application/pdf",
                   "sha256": m["sha256"], "filename": format!("file{i}.pdf")}})
        })
        .collect();
    let body = coexist_testkit::envelope_at(
        "messages",
        json!({"messaging_product": "whatsapp", "contacts": [{"wa_id": "5511987650000"}], "messages": messages}),
        now,
    );
    let applied = coexist_testkit::feed(&store, body, now).await;
    assert_eq!(applied.failed, 0);

    let baseline = peak_mib();
    let client = CloudClient::new(
        &url,
        "v21.0",
        Sensitive::new("sim-access-token".into()),
        Duration::from_secs(30),
    );
    let start = Instant::now();
    let _d = MediaHandle::spawn(
        store.clone(),
        client,
        media_dir(dir.path()),
        Arc::new(SystemClock),
        MediaSettings::default(),
        Default::default(),
    );
    let files = media.len() as i64;
    loop {
        let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media_download WHERE state = 'done'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let stuck: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media_download WHERE state IN ('failed', 'expired')")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(stuck, 0, "a download failed");
        if done == files {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "only {done} of {files} after 30 min"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let peak = peak_mib();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media_file")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let mib = total as f64 / 1_048_576.0;
    println!(
        "media_download: {files} files ({small} × 256 KiB, {big} × 50 MiB; {mib:.0} MiB) in {secs:.1} s = {:.0} MiB/s, {:.0} files/s; {stored} stored, checked against Meta's sha256",
        mib / secs,
        files as f64 / secs
    );
    println!(
        "media_download: peak memory {peak:.0} MiB, {:.0} MiB above the {baseline:.0} MiB before the downloads started (the in-process simulator holds the files)",
        peak - baseline
    );
}
