//! A download survives SIGKILL: `coexist serve` is killed while a customer's large photo is half
//! written, on a slow line. Nothing half-written is counted as a file; after a restart the photo
//! is fetched again, whole, and it matches Meta's checksum.

mod common;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "media-kill-secret";

async fn serve(ws: &Path, sim: &str, http: &reqwest::Client) -> Proc {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir").arg(ws).args(["serve", "--listen", "127.0.0.1:0"]);
    with_cloud(&mut cmd, sim, SECRET);
    serve_for_sim(cmd, sim, http).await
}

/// Every file under `dir`, with its size.
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.clone(), e.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
    out
}

async fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_killed_midway_leaves_no_half_file_and_is_fetched_whole_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let media = ws.join("media");
    let http = reqwest::Client::new();
    let (_sim, line) = start({
        let mut c = Command::new(bin("coexist-sim"));
        c.args(["--listen", "127.0.0.1:0", "--app-secret", SECRET, "--seed", "5"]);
        c
    });
    let sim = line.strip_prefix("simulator on ").unwrap().to_string();

    // A slow line: 64 KiB every 40 ms, so a photo of several megabytes takes seconds.
    http.post(format!("{sim}/_sim/faults"))
        .json(&json!({"slow_media_ms": 40}))
        .send()
        .await
        .unwrap();
    let mut server = serve(&ws, &sim, &http).await;
    let sent: Value = http
        .post(format!("{sim}/_sim/customer_message"))
        .json(&json!({"from": "+919800011111", "text": "the big receipt", "photo": 1400}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sent["id"].is_string(), "{sent}");

    // Kill the process once the part file holds some of the photo but not all of it.
    let part = until("the download never started", 60, || {
        files(&media.join(".tmp"))
            .into_iter()
            .find(|(p, len)| p.extension().is_some_and(|e| e == "part") && *len >= 256 * 1024)
    })
    .await;
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let after_kill = stats(&ws);
    assert_eq!(after_kill["media"]["files"], 0, "a half file was counted: {after_kill}");
    assert_eq!(after_kill["media"]["pending"], 1, "{after_kill}");
    let stored: Vec<_> = files(&media)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(media.join(".tmp")))
        .collect();
    assert!(
        stored.is_empty(),
        "a file reached the store before it was whole: {stored:?}"
    );
    let half = std::fs::metadata(&part.0).map(|m| m.len()).unwrap_or(0);

    // Restart on a normal line: the download is taken up again and finished.
    http.post(format!("{sim}/_sim/faults"))
        .json(&json!({"slow_media_ms": 0}))
        .send()
        .await
        .unwrap();
    let _server = serve(&ws, &sim, &http).await;
    let done = until("the photo was not fetched after the restart", 60, || {
        let s = stats(&ws);
        (s["media"]["files"] == 1 && s["media"]["pending"] == 0).then_some(s)
    })
    .await;
    let stored: Vec<_> = files(&media)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(media.join(".tmp")))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (path, len) = &stored[0];
    assert_eq!(done["media"]["bytes"].as_u64(), Some(*len), "{done}");
    assert!(
        *len > half,
        "the stored file ({len} bytes) is no bigger than the cut one ({half})"
    );
    let bytes = std::fs::read(path).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(
        path.file_name().unwrap().to_string_lossy(),
        sha,
        "stored by its content"
    );
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a whole PNG");

    // Meta's checksum for that media id is the one the file has; the simulator served it twice
    // (the cut download and the whole one), and no part file is left behind.
    let served = sim_stats(&sim).await;
    let downloads = served["counters"]["media_downloads"].as_object().unwrap();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    let (media_id, count) = downloads.iter().next().unwrap();
    assert_eq!(count, 2, "one cut download and one whole one");
    let node: Value = http
        .get(format!("{sim}/v21.0/{media_id}"))
        .bearer_auth("sim-access-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(node["sha256"], sha.as_str(), "{node}");
    assert!(files(&media.join(".tmp")).is_empty(), "a part file was left behind");
}
