//! Helpers shared by the end-to-end tests: the built binaries, the shared fixtures, signing.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// A binary of this workspace, built by `cargo build --workspace` (the test script does that).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

#[allow(unused_imports)]
pub use coexist_testkit::{fixture_path as fixture, fixture_paths as all_fixtures, fixtures_dir, sign};

/// Runs `coexist --data-dir DIR ARGS...` and returns its output.
pub fn coexist(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin("coexist"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("COEXIST_LOG", "warn")
        .output()
        .expect("coexist runs")
}

pub fn stats(dir: &std::path::Path) -> serde_json::Value {
    let out = coexist(dir, &["stats", "--json"]);
    assert!(
        out.status.success(),
        "stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stats prints JSON")
}

/// Imports every fixture into the workspace `dir` through the CLI.
pub fn import_all_fixtures(dir: &std::path::Path) -> Output {
    let files: Vec<String> = all_fixtures().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    coexist(dir, &args)
}

/// A child process killed and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a binary and returns it with the first line it prints (its address).
pub fn start(mut cmd: Command) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Proc(child), line.trim().to_string())
}

/// The simulator's counters and records (`/_sim/stats`).
pub async fn sim_stats(sim: &str) -> serde_json::Value {
    reqwest::get(format!("{sim}/_sim/stats"))
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("stats are JSON")
}

/// Starts `coexist serve` (`cmd`, listening on a free port) and points the simulator's webhooks
/// at it.
pub async fn serve_for_sim(cmd: Command, sim: &str, http: &reqwest::Client) -> Proc {
    let (p, line) = start(cmd);
    let hook = line
        .strip_prefix("listening on ")
        .expect("serve prints its address")
        .to_string();
    http.post(format!("{sim}/_sim/webhook_url"))
        .json(&serde_json::json!({"url": hook}))
        .send()
        .await
        .unwrap();
    p
}

/// Points a `coexist` command at the simulator as its Cloud API, with test secrets in the
/// environment.
pub fn with_cloud(cmd: &mut Command, sim: &str, app_secret: &str) {
    cmd.env("COEXIST_API_BASE", sim)
        .env("COEXIST_ACCESS_TOKEN", "sim-access-token")
        .env("COEXIST_PHONE_NUMBER_ID", "106540352242922")
        .env("COEXIST_WABA_ID", "102290129340398")
        .env("COEXIST_APP_SECRET", app_secret)
        .env("COEXIST_VERIFY_TOKEN", "v")
        .env("COEXIST_LOG", "warn");
}
