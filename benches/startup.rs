//! Startup of the real app on a 1,000,000-message mirror: from launching the binary to the
//! inbox's first page on screen (the UI reports it through `ui_ready`; target < 1.5 s), and the
//! resident memory of the app and its WebKit processes once settled (target < 200 MB).
//!
//! Needs a display: `make bench` runs it under `xvfb-run dbus-run-session`.
//! `COEXIST_BENCH_MESSAGES` changes the size; `COEXIST_BENCH_RUNS` the number of launches.

use coexist_core::Store;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Resident set size of a process, in kB (`VmRSS` in /proc).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Every descendant of `pid` (WebKit runs its web and network processes as children).
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // Fields after the command name (which may hold spaces): state, ppid, …
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok());
            if ppid == Some(p) {
                all.push(child);
                frontier.push(child);
            }
        }
    }
    all
}

fn main() {
    let total = env_num("COEXIST_BENCH_MESSAGES", 1_000_000);
    // The first launch creates WebKit's caches; the rest are every later morning's start.
    let runs = env_num("COEXIST_BENCH_RUNS", 6).max(2);
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("shop");
    let t = Instant::now();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = Store::open_dir(&ws).await.unwrap();
        coexist_core::demo::synthetic_mirror(&store, total, 20_000)
            .await
            .unwrap();
        store.close().await;
    });
    println!(
        "mirror: {total} messages, 20000 contacts written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let app = env!("CARGO_BIN_EXE_coexist-app");
    let (mut launch, mut own, mut rss_app, mut rss_all) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut first = 0.0;
    for run in 0..runs {
        let home = dir.path().join("home");
        let start = Instant::now();
        let mut child = Command::new(app)
            .env("COEXIST_DATA_DIR", &ws)
            .env("COEXIST_LOG", "info")
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the app binary starts");
        let pid = child.id();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let verbose = std::env::var_os("COEXIST_BENCH_VERBOSE").is_some();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if verbose && line.contains("coexist") {
                    eprintln!("  {:>6} ms  {line}", start.elapsed().as_millis());
                }
                if line.contains("startup: inbox populated") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the window reported its inbox within 60 s (is there a display?)");
        let seen = start.elapsed().as_secs_f64() * 1e3;
        let ms: f64 = line
            .split("ms=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        assert!(line.contains("conversations=200"), "the first page is full: {line}");
        // Let the first refresh and WebKit settle before reading memory.
        std::thread::sleep(Duration::from_secs(3));
        let app_kb = rss_kb(pid);
        let all_kb = app_kb + descendants(pid).into_iter().map(rss_kb).sum::<u64>();
        let _ = child.kill();
        let _ = child.wait();
        println!(
            "run {}: inbox on screen {seen:.0} ms after launch (app's own clock {ms:.0} ms); RSS app {} MB, with WebKit {} MB",
            run + 1,
            app_kb / 1024,
            all_kb / 1024
        );
        if run == 0 {
            first = seen;
            continue;
        }
        launch.push(seen);
        own.push(ms);
        rss_app.push(app_kb as f64 / 1024.0);
        rss_all.push(all_kb as f64 / 1024.0);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let worst = launch.iter().cloned().fold(0.0, f64::max);
    println!(
        "startup to a populated inbox ({total} messages): median {:.0} ms from launch (target < 1500 ms), worst {worst:.0} ms, {:.0} ms by the app's clock; the very first launch (cold WebKit cache) {first:.0} ms",
        median(launch),
        median(own)
    );
    println!(
        "resident memory: app median {:.0} MB (target < 200 MB); app + WebKit processes {:.0} MB",
        median(rss_app),
        median(rss_all)
    );
}
