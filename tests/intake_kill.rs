//! A SIGKILL storm on intake: `coexist serve` is killed 20 times while 8 posters send 3,000
//! signed webhooks, each retried until answered 200 (as Meta does). Whatever was acknowledged is
//! in the mirror afterwards: nothing lost, nothing applied twice.

mod common;
use common::*;
use serde_json::json;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "storm-test-secret";
const POSTERS: usize = 8;
const BODIES: usize = 3_000;
const KILLS: usize = 20;

fn serve(dir: &std::path::Path, port: u16) -> Proc {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("COEXIST_APP_SECRET", SECRET)
        .env("COEXIST_VERIFY_TOKEN", "v")
        .env("COEXIST_ENGINE_LEASE_MS", "600")
        .env("COEXIST_LOG", "error")
        .env_remove("COEXIST_ACCESS_TOKEN");
    start(cmd).0
}

fn body(i: usize) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PN1"},
                  "contacts": [{"wa_id": format!("91980{:07}", i % 50), "profile": {"name": "Storm"}}],
                  "messages": [{"from": format!("91980{:07}", i % 50), "id": format!("wamid.storm.{i}"),
                                "timestamp": (1_795_000_000 + i as i64).to_string(),
                                "type": "text", "text": {"body": format!("message {i}")}}]}}]}]}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_storm_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/webhook");
    let server = Arc::new(std::sync::Mutex::new(Some(serve(dir.path(), port))));

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let posters: Vec<_> = (0..POSTERS)
        .map(|p| {
            let (client, url, acknowledged, retries) =
                (client.clone(), url.clone(), acknowledged.clone(), retries.clone());
            tokio::spawn(async move {
                for i in (p..BODIES).step_by(POSTERS) {
                    let b = body(i);
                    let sig = sign(SECRET, &b);
                    loop {
                        let answer = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("x-hub-signature-256", &sig)
                            .body(b.clone())
                            .send()
                            .await;
                        if matches!(&answer, Ok(a) if a.status() == 200) {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    // Meta's pace, roughly: the storm then falls while deliveries go on.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();

    // The storm: kill, restart, at uneven intervals while the posters run.
    let killer = {
        let (server, done, dir) = (server.clone(), done.clone(), dir.path().to_path_buf());
        tokio::spawn(async move {
            let mut seed: u64 = 0x5eed;
            let (mut kills, mut during) = (0, 0);
            while kills < KILLS {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                tokio::time::sleep(Duration::from_millis(100 + (seed >> 33) % 200)).await;
                if !done.load(Ordering::Relaxed) {
                    during += 1;
                }
                let mut old = server.lock().unwrap().take().unwrap();
                old.0.kill().unwrap();
                old.0.wait().unwrap();
                kills += 1;
                let fresh = tokio::task::spawn_blocking({
                    let dir = dir.clone();
                    move || serve(&dir, port)
                })
                .await
                .unwrap();
                *server.lock().unwrap() = Some(fresh);
            }
            (kills, during)
        })
    };
    for p in posters {
        p.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let (kills, during) = killer.await.unwrap();
    // The last serve applies whatever was journaled before the last kill.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let s = loop {
        let s = stats(dir.path());
        if s["journal"]["pending"] == 0 || std::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(server.lock().unwrap().take());
    eprintln!(
        "{kills} kills ({during} while posting); {} acknowledged after {} retries; mirror: {} customer messages, journal {}",
        acknowledged.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        s["messages"]["customer"],
        s["journal"]
    );
    assert_eq!(kills, KILLS);
    assert_eq!(acknowledged.load(Ordering::Relaxed), BODIES);
    assert_eq!(s["journal"]["pending"], 0);
    assert_eq!(s["journal"]["failed"], 0);
    assert_eq!(
        s["messages"]["customer"], BODIES,
        "every acknowledged message is in the mirror, once"
    );
}
