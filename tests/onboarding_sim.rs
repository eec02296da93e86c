//! Onboarding against `coexist-sim`: connect (link and eligibility checks), the contact and
//! history sync requested once inside the 24-hour window and refused cleanly after it or a
//! second time, then `doctor`, `reminders` and `heartbeat ack`.

mod common;
use common::*;
use serde_json::Value;
use std::process::{Command, Output};

const SECRET: &str = "onboarding-secret";

fn coexist_with(dir: &std::path::Path, sim: &str, args: &[&str]) -> Output {
    Command::new(bin("coexist"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("COEXIST_API_BASE", sim)
        .env("COEXIST_ACCESS_TOKEN", "sim-access-token")
        .env("COEXIST_APP_SECRET", SECRET)
        .env("COEXIST_VERIFY_TOKEN", "v")
        .env("COEXIST_LOG", "warn")
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

async fn sync_calls(sim: &str) -> u64 {
    sim_stats(sim).await["counters"]["sync_requests"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_then_sync_once_within_the_window() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut sim_cmd = Command::new(bin("coexist-sim"));
    sim_cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--app-secret",
        SECRET,
        "--start-time",
        &now.to_string(),
    ]);
    let (_sim, line) = start(sim_cmd);
    let sim = line.strip_prefix("simulator on ").unwrap().to_string();

    // The simulator onboarded the number an hour ago.
    let dir = tempfile::tempdir().unwrap();
    let onboarded = (now - 3600).to_string();
    let out = coexist_with(
        dir.path(),
        &sim,
        &[
            "connect",
            "--waba-id",
            "102290129340398",
            "--phone-number-id",
            "106540352242922",
            "--app-version",
            "2.25.3",
            "--onboarded-at",
            &onboarded,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = json_of(&out);
    assert_eq!(c["link"]["linked"], true, "{c}");
    assert_eq!(c["display_number"], "15550783881");
    assert_eq!(c["eligibility"]["eligible"], true, "{c}");
    assert_eq!(c["secrets"]["access_token"], "set (environment)");
    assert_eq!(c["sync_deadline"], now - 3600 + 24 * 3600);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        !printed.contains("sim-access-token") && !printed.contains(SECRET),
        "no secret in command results"
    );

    let out = coexist_with(dir.path(), &sim, &["sync", "both", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = json_of(&out);
    assert_eq!(
        (s[0]["result"].as_str(), s[1]["result"].as_str()),
        (Some("accepted"), Some("accepted")),
        "{s}"
    );
    assert_eq!(sync_calls(&sim).await, 2);

    // Once only: refused by Coexist, without asking Meta again.
    let out = coexist_with(dir.path(), &sim, &["sync", "history", "--json"]);
    assert!(!out.status.success());
    let s = json_of(&out);
    assert!(s[0]["message"].as_str().unwrap().contains("already requested"), "{s}");
    assert_eq!(sync_calls(&sim).await, 2, "no second call reached Meta");
    // Who asked, and what Meta answered, is in the audit log: once per request made, none for
    // the refused repeat.
    let out = coexist_with(dir.path(), &sim, &["audit", "export"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let syncs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "sync.request")
        .collect();
    let subjects: Vec<&str> = syncs.iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["smb_app_state_sync", "history"], "{syncs:?}");
    assert!(
        syncs
            .iter()
            .all(|e| e["details"].as_str().unwrap().contains("accepted")),
        "{syncs:?}"
    );

    let out = coexist_with(dir.path(), &sim, &["doctor", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d = json_of(&out);
    assert_eq!(d["link"]["state"], "connected");
    assert_eq!(d["link"]["api"]["linked"], true);
    assert_eq!(d["deadlines"]["sync_requests"].as_array().unwrap().len(), 2);
    assert_eq!(d["deadlines"]["sync_window_open"], true);
    assert_eq!(d["heartbeat"]["days_since"], 0);
    assert!(d["keyring"]["backend"].as_str().unwrap().contains("Secret Service"));
    assert_eq!(d["keyring"]["secrets"]["app_secret"], "set (environment)");

    let out = coexist_with(dir.path(), &sim, &["reminders", "--json"]);
    let r = json_of(&out);
    let kinds: Vec<&str> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.iter().all(|k| k.starts_with("heartbeat")),
        "sync reminders went once both were requested: {kinds:?}"
    );
    // Ten days after the heartbeat `connect` recorded (the processes may cross a second or two).
    let after = r[0]["due_at"].as_i64().unwrap() - now;
    assert!(
        (10 * 86_400..10 * 86_400 + 10).contains(&after),
        "first heartbeat reminder on day 10: {after}"
    );
    assert!(coexist_with(dir.path(), &sim, &["heartbeat", "ack"]).status.success());

    // A number connected 25 hours ago: the window has closed; Coexist says so and does not call.
    let late = tempfile::tempdir().unwrap();
    let onboarded = (now - 25 * 3600).to_string();
    let out = coexist_with(
        late.path(),
        &sim,
        &[
            "connect",
            "--waba-id",
            "102290129340398",
            "--phone-number-id",
            "106540352242922",
            "--onboarded-at",
            &onboarded,
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = coexist_with(late.path(), &sim, &["sync", "contacts"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("within 24 hours of connecting"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sync_calls(&sim).await, 2);
}
