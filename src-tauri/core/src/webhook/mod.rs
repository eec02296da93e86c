//! Webhook intake: the journal (raw bodies, durable first), the applier that turns journaled
//! bodies into the mirror, signature checks and the HTTP receiver.

mod applier;
mod apply;
mod contacts;
pub(crate) mod intake;
pub(crate) mod journal;
mod lenient;
pub mod model;
pub mod receiver;
pub(crate) mod sent;
pub mod signature;

pub use applier::{apply_pending, ApplierHandle, ApplyReport};
pub use apply::BodyOutcome;

/// What the fuzzer drives: one body through the applier, on a transaction rolled back after, so
/// millions of bodies leave the database as it was.
#[cfg(feature = "testkit")]
pub async fn apply_and_discard(store: &crate::Store, body: &[u8], received_at: i64) -> crate::Result<BodyOutcome> {
    let mut tx = store.pool().begin().await?;
    let outcome = apply::apply_body(&mut tx, body, received_at, &Rules::default()).await?;
    tx.rollback().await?;
    Ok(outcome)
}
pub(crate) use apply::touch_conversation;
pub use apply::Rules;
pub use journal::{Appended, SignatureVerdict};
