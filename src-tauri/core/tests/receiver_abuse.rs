//! The receiver under abuse: 300 slowloris sockets and 50 parallel 60 MB unsigned posts, while
//! Meta's signed posts keep arriving. Every signed post must be journaled and answered 200, the
//! slow sockets must be cut off by the header deadline, no unsigned byte may reach the journal,
//! and memory must stay bounded (the attackers send 3 GB). Prints the signed posts' latency and
//! the process's memory.

use coexist_core::webhook::receiver::Guards;
use coexist_core::{Clock, Store, SystemClock};
use coexist_testkit::{customer_text, sign, start_receiver};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "abuse-test-secret";
const SLOW_SOCKETS: usize = 300;
const HUGE_POSTS: usize = 50;
const HUGE_BYTES: usize = 60_000_000;
const SIGNED_POSTS: usize = 200;

/// This process's resident and peak resident memory, in MiB (Linux).
fn memory_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sends a request line and one header, then a header byte a second: never finishes.
async fn slowloris(addr: String, cut: Arc<AtomicUsize>) {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        return;
    };
    let _ = s.write_all(b"POST /webhook HTTP/1.1\r\nHost: coexist\r\n").await;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if s.write_all(b"X").await.is_err() {
            cut.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut b = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await {
            cut.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// A 60 MB post with a made-up signature, written as fast as the server takes it. Returns the
/// status the server answered, if it answered.
async fn huge_unsigned(addr: String) -> Option<u16> {
    let mut s = TcpStream::connect(&addr).await.ok()?;
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: coexist\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {HUGE_BYTES}\r\n\r\n",
        "0".repeat(64)
    );
    s.write_all(head.as_bytes()).await.ok()?;
    let chunk = vec![b' '; 1 << 20];
    let mut sent = 0;
    while sent < HUGE_BYTES {
        let n = chunk.len().min(HUGE_BYTES - sent);
        if s.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        sent += n;
    }
    status_within(&mut s, Duration::from_secs(30)).await
}

/// The HTTP status the server answered on `s`, if it answered within `wait`.
async fn status_within(s: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(wait, s.read(&mut answer)).await.ok()?.ok()?;
    let line = String::from_utf8_lossy(&answer[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}

fn signed_body(i: usize, at: i64) -> Vec<u8> {
    customer_text(&format!("wamid.abuse.{i}"), &format!("question {i}"), at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_huge_unsigned_posts_do_not_starve_meta() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let guards = Guards::default();
    let r = start_receiver(&store, SECRET, clock.clone(), guards).await;
    let addr = r.addr();
    let (rss_before, _) = memory_mib();

    let cut = Arc::new(AtomicUsize::new(0));
    let slow: Vec<_> = (0..SLOW_SOCKETS)
        .map(|_| tokio::spawn(slowloris(addr.clone(), cut.clone())))
        .collect();
    let huge: Vec<_> = (0..HUGE_POSTS)
        .map(|_| tokio::spawn(huge_unsigned(addr.clone())))
        .collect();

    // Meta's deliveries meanwhile, one every 25 ms.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut latencies = Vec::new();
    let mut answers = Vec::new();
    for i in 0..SIGNED_POSTS {
        let body = signed_body(i, clock.now());
        let started = Instant::now();
        let status = client
            .post(&r.url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign(SECRET, &body))
            .body(body)
            .send()
            .await
            .map(|a| a.status().as_u16());
        latencies.push(started.elapsed());
        answers.push(status);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let huge_answers: Vec<Option<u16>> = futures_join(huge).await;
    let (_, peak) = memory_mib();
    for s in slow {
        s.await.unwrap();
    }

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(latencies[((latencies.len() as f64 * q).ceil() as usize).min(latencies.len()) - 1]);
    println!(
        "signed posts under abuse: {SIGNED_POSTS} sent, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p(0.50),
        p(0.99),
        ms(*latencies.last().unwrap())
    );
    let mut by_status = std::collections::BTreeMap::new();
    for a in &huge_answers {
        *by_status
            .entry(a.map_or("no answer".to_string(), |s| s.to_string()))
            .or_insert(0) += 1;
    }
    println!("{HUGE_POSTS} unsigned 60 MB posts answered: {by_status:?}");
    println!(
        "slowloris sockets cut off by the header deadline: {} of {SLOW_SOCKETS}",
        cut.load(Ordering::Relaxed)
    );
    println!(
        "memory: {rss_before} MiB resident before, {peak} MiB peak (the attackers sent {} MB)",
        HUGE_POSTS * HUGE_BYTES / 1_000_000
    );

    assert!(
        answers.iter().all(|a| matches!(a, Ok(200))),
        "every signed post is answered 200: {:?}",
        answers
            .iter()
            .filter(|a| !matches!(a, Ok(200)))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        store.stats().await.unwrap().journal.received,
        SIGNED_POSTS as i64,
        "only signed posts are journaled"
    );
    assert!(
        huge_answers.iter().all(|a| *a != Some(200)),
        "no unsigned post is accepted"
    );
    assert_eq!(
        cut.load(Ordering::Relaxed),
        SLOW_SOCKETS,
        "every slow socket is cut off"
    );
    assert!(
        peak < rss_before + 800,
        "memory stays bounded: {peak} MiB peak from {rss_before} MiB"
    );
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Declares a 64 MiB body, sends its headers and then nothing. Returns the status the server
/// answered, if it answered within a minute.
async fn idle_declarer(addr: String) -> Option<u16> {
    let mut s = TcpStream::connect(&addr).await.ok()?;
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: coexist\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {}\r\n\r\n",
        "0".repeat(64),
        coexist_core::webhook::receiver::MAX_BODY_BYTES
    );
    s.write_all(head.as_bytes()).await.ok()?;
    status_within(&mut s, Duration::from_secs(60)).await
}

/// Issue 24, item 12: three clients declaring 64 MiB each (the whole 192 MiB large-body budget)
/// and sending nothing used to hold that budget for minutes, so Meta's large history chunks got
/// 503. Budget is drawn for bytes that arrived, and the pace counts from the first byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_declarers_hold_nothing_while_a_signed_5_mib_post_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let guards = Guards::default();
    assert_eq!(
        guards.large_budget_mib, 192,
        "three 64 MiB declarations are the whole budget"
    );
    let r = start_receiver(&store, SECRET, clock.clone(), guards).await;
    let addr = r.addr();
    let idle: Vec<_> = (0..3).map(|_| tokio::spawn(idle_declarer(addr.clone()))).collect();
    // Let the three be read by the server before Meta's post arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A history-sized text: 5 MiB in one signed body.
    let words = "a customer's long message ".repeat(5 * 1024 * 1024 / 26 + 1);
    let body = customer_text("wamid.large.1", &words, clock.now());
    assert!(body.len() > 5 * 1024 * 1024, "{} bytes", body.len());
    let status = reqwest::Client::new()
        .post(&r.url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(
        status, 200,
        "Meta's large post is taken while three idle declarations wait"
    );
    assert_eq!(store.stats().await.unwrap().journal.received, 1);

    let answers = futures_join(idle).await;
    assert_eq!(answers, vec![Some(408); 3], "each idle declarer is cut off as too slow");
}
