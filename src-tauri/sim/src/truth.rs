//! Ground truth: what a faithful mirror of everything the simulator posted must hold. Kept in
//! the same shape as `coexist stats --json` and `coexist export` so tests compare directly.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Truth {
    /// Contacts by key (phone number, or BSUID when there is none), with whether removed.
    pub contacts: BTreeMap<String, bool>,
    /// Every message by wamid.
    pub messages: BTreeMap<String, TruthMessage>,
    pub history_state: String,
    pub history_progress: i64,
    pub history_chunks: BTreeSet<(i64, i64)>,
    pub link: String,
    pub opted_out: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TruthMessage {
    pub origin: String,
    pub text: Option<String>,
    pub status: Option<String>,
    pub edited: bool,
    pub revoked: bool,
}

fn rank(s: &str) -> i32 {
    match s {
        "sent" => 1,
        "delivered" => 2,
        "read" | "played" => 3,
        _ => 0,
    }
}

impl Truth {
    pub fn contact(&mut self, key: &str) {
        if !key.is_empty() {
            self.contacts.entry(key.to_string()).or_insert(false);
        }
    }

    pub fn remove_contact(&mut self, key: &str) {
        self.contacts.insert(key.to_string(), true);
    }

    pub fn message(&mut self, wamid: &str, origin: &str, text: Option<&str>, status: Option<&str>) {
        self.messages.entry(wamid.to_string()).or_insert_with(|| TruthMessage {
            origin: origin.into(),
            text: text.map(Into::into),
            status: status.map(Into::into),
            edited: false,
            revoked: false,
        });
    }

    pub fn edit(&mut self, wamid: &str, text: &str) {
        if let Some(m) = self.messages.get_mut(wamid) {
            m.text = Some(text.into());
            m.edited = true;
        }
    }

    pub fn revoke(&mut self, wamid: &str) {
        if let Some(m) = self.messages.get_mut(wamid) {
            m.revoked = true;
        }
    }

    /// A status for an API message: monotonic, and `failed` only before delivery.
    pub fn status(&mut self, wamid: &str, status: &str) {
        let m = self.messages.entry(wamid.to_string()).or_insert_with(|| TruthMessage {
            origin: "api".into(),
            text: None,
            status: None,
            edited: false,
            revoked: false,
        });
        let cur = m.status.as_deref();
        let advance = match (cur, status) {
            (None, _) => true,
            (Some("failed"), s) => rank(s) >= 2,
            (Some(c), "failed") => rank(c) < 2,
            (Some(c), s) => rank(s) > rank(c),
        };
        if advance {
            m.status = Some(status.into());
        }
    }

    /// The `stats --json` figures a mirror of this truth must show.
    pub fn expected_stats(&self) -> serde_json::Value {
        let count = |o: &str| self.messages.values().filter(|m| m.origin == o).count();
        serde_json::json!({
            "contacts": {
                "active": self.contacts.values().filter(|r| !**r).count(),
                "removed": self.contacts.values().filter(|r| **r).count(),
            },
            "messages": {"customer": count("customer"), "phone": count("phone"), "api": count("api"), "history": count("history")},
            "history": {"state": if self.history_state.is_empty() { "none" } else { &self.history_state }, "progress": self.history_progress},
            "link": if self.link.is_empty() { "connected" } else { &self.link },
        })
    }
}
