//! Secrets through the real OS keyring (the Secret Service: GNOME Keyring over D-Bus, as on a
//! Linux desktop): `coexist connect` stores them from standard input, every later command reads
//! them back from the keyring alone, and none of them ever reaches the database files, the logs
//! or any command's output.
//!
//! Needs a D-Bus session with an unlocked keyring: `scripts/test.sh` runs it under
//! `dbus-run-session` after `gnome-keyring-daemon --unlock`, with `--ignored`.

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const TOKEN: &str = "sim-access-token";
const APP_SECRET: &str = "app-secret-5f3a9c1e77";
const VERIFY: &str = "verify-token-b81d42";

/// `coexist` with the simulator as the API and no secret in the environment.
fn coexist_kr(dir: &std::path::Path, sim: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("COEXIST_API_BASE", sim)
        .env("COEXIST_LOG", "trace")
        .env_remove("COEXIST_ACCESS_TOKEN")
        .env_remove("COEXIST_APP_SECRET")
        .env_remove("COEXIST_VERIFY_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn assert_no_secret(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for s in [TOKEN, APP_SECRET, VERIFY] {
        assert!(!text.contains(s), "a secret reached {what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a D-Bus session with an unlocked keyring (scripts/test.sh runs it)"]
async fn secrets_round_trip_through_the_keyring_and_leak_nowhere() {
    let mut sim_cmd = Command::new(bin("coexist-sim"));
    sim_cmd.args(["--listen", "127.0.0.1:0", "--app-secret", APP_SECRET]);
    let (_sim, line) = start(sim_cmd);
    let sim = line.strip_prefix("simulator on ").unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();

    let out = coexist_kr(
        dir.path(),
        &sim,
        &[
            "connect",
            "--waba-id",
            "102290129340398",
            "--phone-number-id",
            "106540352242922",
            "--json",
        ],
        Some(&format!("{TOKEN}\n{APP_SECRET}\n{VERIFY}\n")),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["secrets"]["access_token"], "set (keyring)");
    assert_eq!(
        c["link"]["linked"], true,
        "the token read back from the keyring worked: {c}"
    );
    outputs.push(out);

    // Every later command finds them in the keyring alone.
    let out = coexist_kr(dir.path(), &sim, &["templates", "sync"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    outputs.push(out);
    let out = coexist_kr(dir.path(), &sim, &["doctor", "--json"], None);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["keyring"]["working"], true);
    for k in ["access_token", "app_secret", "verify_token"] {
        assert_eq!(d["keyring"]["secrets"][k], "set (keyring)", "{d}");
    }
    outputs.push(out);

    // The receiver verifies signatures with the app secret from the keyring.
    let mut serve = Command::new(bin("coexist"));
    serve
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("COEXIST_API_BASE", &sim)
        .env("COEXIST_LOG", "warn")
        .env_remove("COEXIST_ACCESS_TOKEN")
        .env_remove("COEXIST_APP_SECRET")
        .env_remove("COEXIST_VERIFY_TOKEN");
    let (serve, line) = start(serve);
    let hook = line.strip_prefix("listening on ").unwrap().to_string();
    let body = std::fs::read(fixture("01_")).unwrap();
    let http = reqwest::Client::new();
    let r = http
        .post(&hook)
        .header("X-Hub-Signature-256", sign(APP_SECRET, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!(
            "{hook}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=42"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "42");
    drop(serve);

    for (i, o) in outputs.iter().enumerate() {
        assert_no_secret(&format!("the output of command {i}"), &o.stdout);
        assert_no_secret(&format!("the trace log of command {i}"), &o.stderr);
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_no_secret(&path.display().to_string(), &std::fs::read(&path).unwrap());
        }
    }
}
