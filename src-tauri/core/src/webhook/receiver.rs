//! The HTTP receiver Meta posts webhooks to: verification handshake, signature check over the raw
//! bytes, journal, 200. Applying happens elsewhere so the answer is fast.

use super::journal::SignatureVerdict;
use super::signature;
use crate::clock::Clock;
use crate::secrets::Sensitive;
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct ReceiverState {
    pub store: Store,
    pub app_secret: Sensitive<String>,
    pub verify_token: Sensitive<String>,
    pub clock: Arc<dyn Clock>,
    /// Woken after each new journal row (the applier's waker).
    pub applied_wake: Arc<Notify>,
}

/// History chunks can be large; axum's 2 MB default would refuse them and Meta would retry forever.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

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

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let header = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !signature::verify(s.app_secret.expose().as_bytes(), &body, header) {
        tracing::warn!(bytes = body.len(), "refused a webhook post without a valid signature");
        return (StatusCode::UNAUTHORIZED, "invalid signature");
    }
    match s
        .store
        .journal_append(&body, SignatureVerdict::Valid, s.clock.now())
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
