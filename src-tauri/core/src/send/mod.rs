//! Sending through the Cloud API: compose rules, the persisted outbox, and the dispatcher that
//! paces sends under the number's limits, retries what may be retried and never resends a
//! message whose fate is unknown.

mod campaign;
mod compose;
mod dispatcher;
pub mod limit;
pub(crate) mod outbox;

pub use campaign::{
    parse_recipients_csv, Audience, CampaignAction, CampaignRecipient, CampaignState, CampaignStatus, RecipientState,
};
pub use compose::{
    compose_media, compose_template, compose_template_with, compose_text, header_word, template_header_kind,
    window_open, Compose, HeaderMedia,
};
pub use dispatcher::{DispatcherHandle, SendSettings};
pub(crate) use outbox::insert_automation;
pub use outbox::{OutboxRow, OutboxState, RestoreHolds};

/// Milliseconds since the epoch (pacing and retry times need more than seconds).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
