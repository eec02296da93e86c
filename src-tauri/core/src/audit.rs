//! The audit log: append-only and hash-chained. Every entry's hash covers its content and the
//! previous entry's hash, so `verify` finds any edited, deleted or reordered entry even when
//! someone bypasses the append-only triggers with plain SQL.
//!
//! A plain hash chain can be recomputed by whoever holds the file, so once the workspace has an
//! audit key (kept in the OS keyring, made on first use) entries are sealed: their hash is an
//! HMAC under that key, and so is the marker of the newest entry. Rewriting the chain, cutting its
//! end or recomputing it without the key then shows.

use crate::error::Result;
use crate::store::Store;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

/// The key that seals the chain, and since when entries must be sealed. `Debug` shows no key.
#[derive(Clone, Debug)]
pub struct AuditKey {
    key: crate::secrets::Sensitive<Vec<u8>>,
    pub since: i64,
}

impl AuditKey {
    pub fn new(key: Vec<u8>, since: i64) -> Self {
        AuditKey {
            key: crate::secrets::Sensitive::new(key),
            since,
        }
    }

    fn mac<S: AsRef<str>>(&self, parts: &[S]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(self.key.expose()).expect("HMAC takes any key length");
        length_prefixed(parts, |b| m.update(b));
        hex::encode(m.finalize().into_bytes())
    }
}

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
    OutboxResend,
    OutboxCancel,
    SyncRequest,
    MediaPolicy,
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
            OutboxResend => "outbox.resend",
            OutboxCancel => "outbox.cancel",
            SyncRequest => "sync.request",
            MediaPolicy => "settings.media",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an audited write returns: its result and the audit entry's details.
pub(crate) type Write<'c, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(T, Value)>> + Send + 'c>>;

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
    /// Sealed with the workspace's audit key.
    pub sealed: bool,
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
    /// Entries sealed with the audit key.
    pub sealed: i64,
    /// Whether the key was at hand to check the seals (it lives in the OS keyring).
    pub key_available: bool,
}

/// An entry's fields in the order they are hashed; no subject is a NUL, so it differs from "".
fn fields(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    details: &str,
    prev: &str,
) -> [String; 7] {
    [
        seq.to_string(),
        at.to_string(),
        actor.to_string(),
        action.to_string(),
        subject.unwrap_or("\u{0}").to_string(),
        details.to_string(),
        prev.to_string(),
    ]
}

/// Feeds `parts` length-prefixed, so no two entries collide by moving text between fields.
fn length_prefixed<S: AsRef<str>>(parts: &[S], mut update: impl FnMut(&[u8])) {
    for p in parts {
        let p = p.as_ref();
        update(&(p.len() as u64).to_be_bytes());
        update(p.as_bytes());
    }
}

/// The hash of an entry: its fields and the previous entry's hash.
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
    length_prefixed(&fields(seq, at, actor, action, subject, details, prev), |b| h.update(b));
    hex::encode(h.finalize())
}

/// Appends an entry on an open connection (inside the caller's transaction when there is one).
/// Sealed when `key` is given.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append_with(
    conn: &mut SqliteConnection,
    key: Option<&AuditKey>,
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
    let hash = match key {
        Some(k) => k.mac(&fields(seq, at, actor, action, subject, &details, &prev)),
        None => entry_hash(seq, at, actor, action, subject, &details, &prev),
    };
    sqlx::query(
        "INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(&details)
    .bind(&prev)
    .bind(&hash)
    .bind(key.is_some())
    .execute(&mut *conn)
    .await?;
    // The head is kept apart too: cutting entries off the end shows as a head with nothing under
    // it. Sealed, so it cannot be moved back without the key either.
    let head = match key {
        Some(k) => format!("{seq}:{hash}:{}", k.mac(&["head", &seq.to_string(), &hash])),
        None => format!("{seq}:{hash}"),
    };
    sqlx::query("INSERT INTO setting (key, value) VALUES ('audit.head', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(head)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

impl Store {
    /// From now on, seal new audit entries with `key` (read from the keyring when the workspace
    /// opens).
    pub fn seal_audit_with(&self, key: AuditKey) {
        *self.audit_key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }

    pub(crate) fn sealing(&self) -> Option<AuditKey> {
        self.audit_key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

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
        let seq = append_with(&mut tx, self.sealing().as_ref(), at, actor, action, subject, &details).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// One audited change: `write` and its audit entry commit together or not at all. `write`
    /// returns its result and the entry's details (which often name what it changed); an error
    /// from it rolls everything back and no entry is written.
    pub(crate) async fn audited<T>(
        &self,
        at: i64,
        actor: &str,
        action: Action,
        subject: Option<&str>,
        write: impl for<'c> FnOnce(&'c mut SqliteConnection) -> Write<'c, T>,
    ) -> Result<T> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let (out, details) = write(&mut tx).await?;
        append_with(&mut tx, self.sealing().as_ref(), at, actor, action, subject, &details).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        Ok(sqlx::query_as(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash, sealed FROM audit ORDER BY seq",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Walks the chain and names every entry that was edited, removed or moved.
    pub async fn audit_verify(&self) -> Result<Verification> {
        let entries = self.audit_entries().await?;
        let key = self.sealing();
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
            let computed = match (&key, e.sealed) {
                (Some(k), true) => Some(k.mac(&fields(
                    e.seq,
                    e.at,
                    &e.actor,
                    &e.action,
                    e.subject.as_deref(),
                    &e.details,
                    &e.prev_hash,
                ))),
                // A seal cannot be checked without the key: the chain around it still is.
                (None, true) => None,
                (_, false) => Some(entry_hash(
                    e.seq,
                    e.at,
                    &e.actor,
                    &e.action,
                    e.subject.as_deref(),
                    &e.details,
                    &e.prev_hash,
                )),
            };
            if let (Some(k), false) = (&key, e.sealed) {
                if e.at >= k.since {
                    breaks.push(Break {
                        seq: e.seq,
                        problem: "it was written after the audit key was made but is not sealed with it (the chain was recomputed without the key)".into(),
                    });
                }
            }
            if computed.is_some_and(|c| c != e.hash) {
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
        let mut parts = head.as_deref().map(|h| h.splitn(3, ':'));
        let head = parts.as_mut().and_then(|p| Some((p.next()?, p.next()?, p.next())));
        if let (Some(k), Some((seq, hash, seal))) = (&key, head) {
            let sealed_entries = entries.iter().any(|e| e.sealed);
            if sealed_entries && seal != Some(k.mac(&["head", seq, hash]).as_str()) {
                breaks.push(Break {
                    seq: seq.parse().unwrap_or(0),
                    problem: "the marker of the newest entry was rewritten without the audit key".into(),
                });
            }
        }
        if let Some((seq, hash, _)) = head {
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
            sealed: entries.iter().filter(|e| e.sealed).count() as i64,
            key_available: key.is_some(),
        })
    }
}
