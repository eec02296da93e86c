//! The HTTP receiver Meta posts webhooks to: verification handshake, signature check over the raw
//! bytes, journal, 200. Applying happens elsewhere so the answer is fast.
//!
//! It faces the internet unauthenticated until the signature is checked, and the signature covers
//! the whole body, so reading is guarded: a cap on open connections, a deadline for the headers and
//! for the body (at a minimum rate), and large bodies read only within a memory budget. Meta's own
//! posts are small and never wait behind someone's 60 MB upload; a refused post gets a 503 and
//! Meta delivers it again.

use super::journal::SignatureVerdict;
use super::signature;
use crate::clock::Clock;
use crate::secrets::Sensitive;
use crate::store::Store;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

#[derive(Clone)]
pub struct ReceiverState {
    pub store: Store,
    pub app_secret: Sensitive<String>,
    pub verify_token: Sensitive<String>,
    pub clock: Arc<dyn Clock>,
    /// Woken after each new journal row (the applier's waker).
    pub applied_wake: Arc<Notify>,
    pub guards: Guards,
    /// Memory for large bodies being read, in MiB (see [`Guards`]).
    large_budget: Arc<Semaphore>,
}

/// History chunks can be large; axum's 2 MB default would refuse them and Meta would retry forever.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Bodies up to this size are read without drawing on the large-body budget: Meta's messages and
/// statuses are a few KB.
pub const SMALL_BODY_BYTES: usize = 1024 * 1024;

/// How the receiver protects itself before a post has proved it comes from Meta.
#[derive(Debug, Clone, Copy)]
pub struct Guards {
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// The request line and headers must arrive within this.
    pub header_timeout: Duration,
    /// Large bodies being read at once may take this much memory (MiB).
    pub large_budget_mib: u32,
    /// A body must arrive at this rate at least (bytes per second), measured from its first
    /// byte with a slack of a couple of seconds.
    pub min_body_rate: u64,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            large_budget_mib: 192,
            min_body_rate: 256 * 1024,
        }
    }
}

impl ReceiverState {
    pub fn new(
        store: Store,
        app_secret: Sensitive<String>,
        verify_token: Sensitive<String>,
        clock: Arc<dyn Clock>,
        applied_wake: Arc<Notify>,
        guards: &Guards,
    ) -> Self {
        ReceiverState {
            store,
            app_secret,
            verify_token,
            clock,
            applied_wake,
            guards: *guards,
            large_budget: Arc::new(Semaphore::new(guards.large_budget_mib as usize)),
        }
    }
}

/// Serves `router` on `listener` under `guards` until `stop` resolves: each connection holds one
/// of `max_connections` permits (a connection over the cap is closed unanswered) and must send its
/// headers within `header_timeout`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    guards: Guards,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let permits = Arc::new(Semaphore::new(guards.max_connections));
    let shutdown = Arc::new(Notify::new());
    let stop_all = shutdown.clone();
    let stopped = tokio::spawn(async move {
        stop.await;
        stop_all.notify_waiters();
    });
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.notified() => break,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(cap = guards.max_connections, "too many open connections: closed one");
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(guards.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.notified() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    stopped.abort();
}

pub fn router(state: ReceiverState) -> Router {
    Router::new()
        .route("/webhook", get(verify).post(receive))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Meta's subscription handshake: echo the challenge when the verify token matches.
async fn verify(State(s): State<ReceiverState>, Query(q): Query<HashMap<String, String>>) -> (StatusCode, String) {
    let mode_ok = q.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = q
        .get("hub.verify_token")
        .is_some_and(|t| constant_time_eq(t.as_bytes(), s.verify_token.expose().as_bytes()));
    match (mode_ok && token_ok, q.get("hub.challenge")) {
        (true, Some(challenge)) => (StatusCode::OK, challenge.clone()),
        _ => {
            tracing::warn!("webhook verification refused: wrong mode or verify token");
            (StatusCode::FORBIDDEN, "verification failed".into())
        }
    }
}

/// How long a body may take to start, and how far it may fall behind `min_body_rate`: the pace
/// is measured from the first byte, so a client that declares a large body and sends nothing is
/// cut off within seconds instead of holding memory for minutes.
const BODY_SLACK: Duration = Duration::from_secs(2);

/// Reads a body under the guards: bytes beyond [`SMALL_BODY_BYTES`] draw on the large-body
/// budget as they arrive (a declared size reserves nothing, so idle declarers hold nothing; a
/// spent budget answers 503), and the body must keep to `min_body_rate` from its first byte.
async fn read_body(s: &ReceiverState, headers: &HeaderMap, body: Body) -> Result<Bytes, (StatusCode, &'static str)> {
    use http_body_util::BodyExt;
    const MIB: usize = 1024 * 1024;
    let guards = s.guards;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limit = match declared {
        Some(n) if n > MAX_BODY_BYTES => return Err((StatusCode::PAYLOAD_TOO_LARGE, "too large")),
        Some(n) => n,
        // Without a declared size only a small body is read (Meta declares its sizes).
        None => SMALL_BODY_BYTES,
    };
    let rate = guards.min_body_rate.max(1);
    let started = tokio::time::Instant::now();
    let mut body = body;
    let mut read: Vec<u8> = Vec::with_capacity(limit.min(SMALL_BODY_BYTES));
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        // Behind the pace once `read` bytes took longer than they may at `rate`, plus the slack.
        let due = started + BODY_SLACK + Duration::from_millis((read.len() as u64).saturating_mul(1000) / rate);
        let frame = match tokio::time::timeout_at(due, body.frame()).await {
            Err(_) => {
                tracing::warn!(
                    declared = limit,
                    read = read.len(),
                    "a webhook body arrived too slowly: cut off"
                );
                return Err((StatusCode::REQUEST_TIMEOUT, "too slow"));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err((StatusCode::BAD_REQUEST, "the body could not be read")),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        if read.len() + data.len() > limit {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "too large"));
        }
        let need_mib = (read.len() + data.len()).saturating_sub(SMALL_BODY_BYTES).div_ceil(MIB);
        let held_mib = held.as_ref().map_or(0, |h| h.num_permits());
        if need_mib > held_mib {
            match s
                .large_budget
                .clone()
                .try_acquire_many_owned((need_mib - held_mib) as u32)
            {
                Ok(more) => match held.as_mut() {
                    Some(h) => h.merge(more),
                    None => held = Some(more),
                },
                Err(_) => {
                    tracing::warn!(
                        declared = limit,
                        "large webhook bodies are being read already: answered 503"
                    );
                    return Err((StatusCode::SERVICE_UNAVAILABLE, "busy, try again"));
                }
            }
        }
        read.extend_from_slice(&data);
    }
    Ok(Bytes::from(read))
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Body) -> (StatusCode, &'static str) {
    let body = match read_body(&s, &headers, body).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let header = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !signature::verify(s.app_secret.expose().as_bytes(), &body, header) {
        tracing::warn!(bytes = body.len(), "refused a webhook post without a valid signature");
        return (StatusCode::UNAUTHORIZED, "invalid signature");
    }
    if let Err(e) = s.store.engine_may_write() {
        // Another process runs the workspace now: Meta delivers this again, to its receiver.
        tracing::warn!(error = %e, "refused a webhook: this process no longer runs the workspace");
        return (StatusCode::SERVICE_UNAVAILABLE, "try again");
    }
    match s
        .store
        .intake_append(&body, SignatureVerdict::Valid, s.clock.now())
        .await
    {
        Ok(a) => {
            if !a.duplicate {
                s.applied_wake.notify_one();
            }
            (StatusCode::OK, "EVENT_RECEIVED")
        }
        Err(e) => {
            // Not journaled: answer 5xx so Meta delivers it again.
            tracing::error!(error = %e, "could not journal a webhook");
            (StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Hash first so lengths leak nothing, then compare every byte.
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}
