//! Webhook intake: the journal (raw bodies, durable first), the applier that turns journaled
//! bodies into the mirror, signature checks and the HTTP receiver.

mod applier;
mod apply;
mod contacts;
pub(crate) mod journal;
pub mod model;
pub mod receiver;
pub mod signature;

pub use applier::{apply_pending, ApplierHandle, ApplyReport};
pub(crate) use apply::touch_conversation;
pub use apply::Rules;
pub use journal::{Appended, SignatureVerdict};
