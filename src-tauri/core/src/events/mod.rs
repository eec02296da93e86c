//! Events the core announces (sends settling, campaign progress) for whoever listens: the
//! desktop shell forwards them to the window, the CLI may print them. A broadcast channel, so a
//! slow listener never holds the core back (it misses old events instead).

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum CoreEvent {
    /// An outbox row reached a new state.
    Outbox {
        id: i64,
        state: crate::send::OutboxState,
        campaign_id: Option<i64>,
    },
    /// A campaign moved on: counts so far.
    CampaignProgress {
        campaign_id: i64,
        accepted: i64,
        failed: i64,
        uncertain: i64,
        total: i64,
    },
    /// Meta is limiting the account (131048, 368): campaigns stopped, the owner must look.
    AccountLimited { code: i64, reason: String },
    /// Webhook bodies were applied to the mirror: new messages, statuses, contacts or link
    /// changes may be there to show.
    MirrorChanged { applied: u64 },
    /// A file's download moved on (`downloading`, `done`, `expired`, `failed`, `queued` again):
    /// the message showing it redraws.
    MediaChanged { message_id: i64, state: String },
    /// Another process took the workspace over: this one's engine stopped every task, and the
    /// window is now that process's client.
    EngineLost { taken_by: String },
}

#[derive(Debug, Clone)]
pub struct EventBus(broadcast::Sender<CoreEvent>);

impl Default for EventBus {
    fn default() -> Self {
        EventBus(broadcast::channel(1024).0)
    }
}

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.0.subscribe()
    }

    /// Announces an event; nobody listening is fine.
    pub fn emit(&self, e: CoreEvent) {
        let _ = self.0.send(e);
    }
}

mod relay;
pub use relay::Relay;
