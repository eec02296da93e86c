//! The audit log: append-only and hash-chained. Every entry's hash covers its content and the
//! previous entry's hash, so `verify` finds any edited, deleted or reordered entry even when
//! someone bypasses the append-only triggers with plain SQL.

use crate::error::Result;
use crate::store::Store;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

/// Every kind of audited event, named once. The stored names are the ones earlier versions wrote,
/// so old chains read the same; a new operation adds its variant here, not a string at the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A message handed to the outbox (desk, automation or campaign).
    Send,
    /// Automation routed a chat to a person.
    Route,
    AutomationSettings,
    AutomationPause,
    AutomationResume,
    Backup,
    Restore,
    Retention,
    ContactTags,
    Consent,
    ContactsImport,
    ContactVip,
    ContactUnvip,
    ConversationAssign,
    CampaignCreate,
    CampaignLaunch,
    CampaignPause,
    CampaignResume,
    CampaignCancel,
    TemplateCreate,
    ExportBilling,
    ExportMessages,
    ExportAudit,
    RateCard,
    MarketMap,
    PricingPolicy,
    SecretSet,
    Connect,
    OwnerPin,
    ProfileAdd,
    OutboxRelease,
}

impl Action {
    /// The name stored in the chain (and hashed): stable across versions.
    pub fn as_str(self) -> &'static str {
        use Action::*;
        match self {
            Send => "send",
            Route => "route",
            AutomationSettings => "settings.automation",
            AutomationPause => "automation.pause",
            AutomationResume => "automation.resume",
            Backup => "backup",
            Restore => "restore",
            Retention => "retention",
            ContactTags => "contact.tags",
            Consent => "consent",
            ContactsImport => "contacts.import",
            ContactVip => "contact.vip",
            ContactUnvip => "contact.unvip",
            ConversationAssign => "conversation.assign",
            CampaignCreate => "campaign.create",
            CampaignLaunch => "campaign.launch",
            CampaignPause => "campaign.pause",
            CampaignResume => "campaign.resume",
            CampaignCancel => "campaign.cancel",
            TemplateCreate => "template.create",
            ExportBilling => "export.billing",
            ExportMessages => "export.messages",
            ExportAudit => "export.audit",
            RateCard => "settings.rate_card",
            MarketMap => "settings.market_map",
            PricingPolicy => "settings.pricing_policy",
            SecretSet => "secret.set",
            Connect => "secret.connect",
            OwnerPin => "secret.owner_pin",
            ProfileAdd => "profile.add",
            OutboxRelease => "outbox.release",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// One break in the chain, named by the entry where it shows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Break {
    pub seq: i64,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Verification {
    pub entries: i64,
    pub ok: bool,
    pub breaks: Vec<Break>,
}

/// The hash of an entry: its fields, length-prefixed so no two entries can collide by moving text
/// from one field to the next.
pub fn entry_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    details: &str,
    prev: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        seq.to_string().as_str(),
        at.to_string().as_str(),
        actor,
        action,
        subject.unwrap_or("\u{0}"),
        details,
        prev,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an entry on an open connection (inside the caller's transaction when there is one).
pub async fn append(
    conn: &mut SqliteConnection,
    at: i64,
    actor: &str,
    action: Action,
    subject: Option<&str>,
    details: &Value,
) -> Result<i64> {
    let action = action.as_str();
    let last: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let details = details.to_string();
    let hash = entry_hash(seq, at, actor, action, subject, &details, &prev);
    sqlx::query(
        "INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(&details)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    // The head is kept apart too: cutting entries off the end shows as a head with nothing under it.
    sqlx::query("INSERT INTO setting (key, value) VALUES ('audit.head', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(format!("{seq}:{hash}"))
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

impl Store {
    /// Records an action by `actor`. Its own write transaction, so two writers never fork the chain.
    pub async fn audit(
        &self,
        at: i64,
        actor: &str,
        action: Action,
        subject: Option<&str>,
        details: Value,
    ) -> Result<i64> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let seq = append(&mut tx, at, actor, action, subject, &details).await?;
        tx.commit().await?;
        Ok(seq)
    }

    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        Ok(
            sqlx::query_as("SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit ORDER BY seq")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Walks the chain and names every entry that was edited, removed or moved.
    pub async fn audit_verify(&self) -> Result<Verification> {
        let entries = self.audit_entries().await?;
        let mut breaks = Vec::new();
        let mut prev_hash = GENESIS.to_string();
        let mut expected_seq = 1;
        for e in &entries {
            if e.seq != expected_seq {
                breaks.push(Break {
                    seq: e.seq,
                    problem: if e.seq > expected_seq {
                        format!("entries {expected_seq}..{} are missing (deleted)", e.seq - 1)
                    } else {
                        format!("entry {} appears out of order", e.seq)
                    },
                });
            }
            let computed = entry_hash(
                e.seq,
                e.at,
                &e.actor,
                &e.action,
                e.subject.as_deref(),
                &e.details,
                &e.prev_hash,
            );
            if computed != e.hash {
                breaks.push(Break {
                    seq: e.seq,
                    problem: "its content was changed after it was written (hash mismatch)".into(),
                });
            }
            if e.prev_hash != prev_hash && e.seq == expected_seq {
                breaks.push(Break {
                    seq: e.seq,
                    problem: "it does not follow the entry before it (the chain was cut, or entries were swapped)"
                        .into(),
                });
            }
            prev_hash = e.hash.clone();
            expected_seq = e.seq + 1;
        }
        let head: Option<String> = sqlx::query_scalar("SELECT value FROM setting WHERE key = 'audit.head'")
            .fetch_optional(self.pool())
            .await?;
        if let Some((seq, hash)) = head.as_deref().and_then(|h| h.split_once(':')) {
            let seq: i64 = seq.parse().unwrap_or(0);
            match entries.last() {
                Some(last) if last.seq == seq && last.hash != hash => breaks.push(Break {
                    seq,
                    problem: "the newest entry is not the one last written".into(),
                }),
                Some(last) if last.seq < seq => breaks.push(Break {
                    seq: last.seq + 1,
                    problem: format!("entries {}..{seq} were cut off the end (deleted)", last.seq + 1),
                }),
                None if seq > 0 => breaks.push(Break {
                    seq: 1,
                    problem: format!("all {seq} entries were deleted"),
                }),
                _ => {}
            }
        }
        Ok(Verification {
            entries: entries.len() as i64,
            ok: breaks.is_empty(),
            breaks,
        })
    }
}
