//! Read models of the mirror: counts, exports and the conversation list.

use super::Store;
use crate::error::Result;
use serde::Serialize;
use sqlx::Row;

/// The shape `coexist stats --json` prints (a contract: keys may be added, never renamed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Stats {
    pub contacts: ContactCounts,
    pub messages: MessageCounts,
    pub journal: JournalCounts,
    pub history: HistoryStats,
    pub link: crate::states::LinkState,
    pub consent: ConsentCounts,
    pub reminders_open: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ContactCounts {
    pub active: i64,
    pub removed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MessageCounts {
    pub customer: i64,
    pub phone: i64,
    pub api: i64,
    pub history: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct JournalCounts {
    /// Bodies Meta delivered (or files imported).
    pub received: i64,
    /// Our own records of sends Meta accepted, journaled so a replay rebuilds them.
    pub sent_records: i64,
    pub applied: i64,
    pub failed: i64,
    pub skipped: i64,
    pub pending: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryStats {
    pub state: crate::states::HistoryState,
    pub progress: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConsentCounts {
    pub opted_out: i64,
}

/// One message as `coexist export messages` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ExportedMessage {
    pub wamid: String,
    pub contact_wa_id: Option<String>,
    pub contact_bsuid: Option<String>,
    pub contact_name: Option<String>,
    pub origin: crate::states::Origin,
    pub direction: crate::states::Direction,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub status: Option<crate::states::DeliveryStatus>,
    pub status_at: Option<i64>,
    pub timestamp: i64,
    pub media_id: Option<String>,
    pub media_mime: Option<String>,
    pub edited: bool,
    pub revoked: bool,
    pub content_known: bool,
    pub error_code: Option<i64>,
    pub error: Option<String>,
    pub pricing_billable: Option<bool>,
    pub pricing_model: Option<String>,
    pub pricing_type: Option<String>,
    pub pricing_category: Option<String>,
    pub callback_data: Option<String>,
    /// The stored file, relative to the workspace folder (`media/ab/<sha256>`), once downloaded.
    pub media_file: Option<String>,
    /// A document's own name, as it was sent.
    pub media_filename: Option<String>,
}

/// A row of the conversation list: newest first, with the last message and its origin.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConversationRow {
    pub contact_id: i64,
    pub display_name: String,
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    pub vip: bool,
    pub unread: i64,
    pub last_message_at: Option<i64>,
    pub last_text: Option<String>,
    pub last_type: Option<String>,
    pub last_origin: Option<crate::states::Origin>,
    pub last_direction: Option<crate::states::Direction>,
    pub last_revoked: Option<bool>,
    pub service_window_open_until: Option<i64>,
    pub automation_paused_until: Option<i64>,
    pub assignee: Option<String>,
    /// Meta's Business Agent answers this chat since then (its messages arrive on `standby`).
    pub agent_since: Option<i64>,
}

/// Which conversations the inbox shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConversationFilter {
    #[default]
    All,
    Unread,
    Vip,
    /// The last message is the customer's: somebody should answer.
    NeedsReply,
    Unassigned,
    AssignedTo(String),
}

/// The inbox's filter buttons as the UI names them; "mine" needs to know who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum InboxFilter {
    #[default]
    All,
    Unread,
    Vip,
    NeedsReply,
    Unassigned,
    Mine,
}

impl InboxFilter {
    pub fn for_desk(self, me: &str) -> ConversationFilter {
        match self {
            InboxFilter::All => ConversationFilter::All,
            InboxFilter::Unread => ConversationFilter::Unread,
            InboxFilter::Vip => ConversationFilter::Vip,
            InboxFilter::NeedsReply => ConversationFilter::NeedsReply,
            InboxFilter::Unassigned => ConversationFilter::Unassigned,
            InboxFilter::Mine => ConversationFilter::AssignedTo(me.to_string()),
        }
    }
}

/// A contact's name as people would read it.
const DISPLAY_NAME: &str = "COALESCE(NULLIF(c.name, ''), NULLIF(c.profile_name, ''), NULLIF(c.username, ''), \
     CASE WHEN c.wa_id IS NOT NULL THEN '+' || c.wa_id END, c.bsuid)";

impl Store {
    /// All counts from one read transaction, so they agree with each other while the applier runs.
    pub async fn stats(&self) -> Result<Stats> {
        // The inbox first: a body moved into the journal between the two reads may count twice
        // for a moment, but is never missed.
        let (waiting, _) = self.intake_waiting().await?;
        let mut tx = self.pool().begin().await?;
        let pool = &mut *tx;
        let c = sqlx::query(
            "SELECT COALESCE(SUM(removed_at IS NULL), 0) AS active, COALESCE(SUM(removed_at IS NOT NULL), 0) AS removed FROM contact",
        )
        .fetch_one(&mut *pool)
        .await?;
        let m = sqlx::query(
            "SELECT COALESCE(SUM(origin = 'customer'), 0) AS customer, COALESCE(SUM(origin = 'phone'), 0) AS phone,
                    COALESCE(SUM(origin = 'api'), 0) AS api, COALESCE(SUM(origin = 'history'), 0) AS history FROM message",
        )
        .fetch_one(&mut *pool)
        .await?;
        let j = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM journal WHERE source = 'meta') AS received,
                    (SELECT COUNT(*) FROM journal WHERE source = 'sent') AS sent_records,
                    COALESCE(SUM(outcome = 'applied'), 0) AS applied,
                    COALESCE(SUM(outcome = 'failed'), 0) AS failed, COALESCE(SUM(outcome = 'skipped'), 0) AS skipped,
                    (SELECT COUNT(*) FROM journal) - COUNT(*) AS pending
             FROM journal_apply",
        )
        .fetch_one(&mut *pool)
        .await?;
        let a = sqlx::query("SELECT link_state, history_state, history_progress FROM account WHERE id = 1")
            .fetch_one(&mut *pool)
            .await?;
        let opted_out: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM consent c WHERE c.kind = 'opt_out' AND c.id = (
                 SELECT c2.id FROM consent c2 WHERE c2.contact_id = c.contact_id ORDER BY c2.at DESC, c2.id DESC LIMIT 1)",
        )
        .fetch_one(&mut *pool)
        .await?;
        let reminders_open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reminder WHERE acknowledged_at IS NULL")
            .fetch_one(&mut *pool)
            .await?;
        drop(tx);
        Ok(Stats {
            contacts: ContactCounts {
                active: c.get("active"),
                removed: c.get("removed"),
            },
            messages: MessageCounts {
                customer: m.get("customer"),
                phone: m.get("phone"),
                api: m.get("api"),
                history: m.get("history"),
            },
            journal: JournalCounts {
                received: j.get::<i64, _>("received") + waiting,
                sent_records: j.get("sent_records"),
                applied: j.get("applied"),
                failed: j.get("failed"),
                skipped: j.get("skipped"),
                pending: j.get::<i64, _>("pending") + waiting,
            },
            history: HistoryStats {
                state: a.get("history_state"),
                progress: a.get("history_progress"),
            },
            link: a.get("link_state"),
            consent: ConsentCounts { opted_out },
            reminders_open,
        })
    }

    /// Every message, oldest first (ties by wamid, so two mirrors of one journal export alike).
    pub async fn export_messages(&self) -> Result<Vec<ExportedMessage>> {
        let sql = format!(
            "SELECT m.wamid, c.wa_id AS contact_wa_id, c.bsuid AS contact_bsuid, {DISPLAY_NAME} AS contact_name,
                    m.origin, m.direction, m.type, m.text, m.status, m.status_at, m.timestamp, m.media_id,
                    m.media_mime, m.edited, m.revoked, m.content_known, m.error_code, m.error,
                    m.pricing_billable, m.pricing_model, m.pricing_type, m.pricing_category, m.callback_data,
                    (SELECT 'media/' || f.path FROM media_file f WHERE f.sha256 = m.media_sha256) AS media_file,
                    m.media_filename
             FROM message m LEFT JOIN contact c ON c.id = m.contact_id
             ORDER BY m.timestamp, m.wamid"
        );
        Ok(sqlx::query_as(&sql).fetch_all(self.pool()).await?)
    }

    /// A page of the conversation list, newest first.
    pub async fn list_conversations(
        &self,
        filter: &ConversationFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ConversationRow>> {
        let (clause, who) = match filter {
            ConversationFilter::All => ("1", None),
            ConversationFilter::Unread => ("v.unread > 0", None),
            ConversationFilter::Vip => ("c.vip = 1", None),
            ConversationFilter::NeedsReply => ("m.origin = 'customer'", None),
            ConversationFilter::Unassigned => ("v.assignee IS NULL", None),
            ConversationFilter::AssignedTo(w) => ("1", Some(w.as_str())),
        };
        let sql = format!(
            "SELECT c.id AS contact_id, {DISPLAY_NAME} AS display_name, c.wa_id, c.bsuid, c.vip,
                    v.unread, v.last_message_at, m.text AS last_text, m.type AS last_type, m.origin AS last_origin,
                    m.direction AS last_direction, m.revoked AS last_revoked,
                    v.last_inbound_at + {window} AS service_window_open_until, v.automation_paused_until, v.assignee,
                    v.agent_since
             FROM conversation v
             JOIN contact c ON c.id = v.contact_id
             LEFT JOIN message m ON m.id = v.last_message_id
             WHERE {clause} AND (?3 IS NULL OR v.assignee = ?3)
             ORDER BY v.last_message_at DESC, v.contact_id DESC
             LIMIT ?1 OFFSET ?2",
            window = crate::policy::SERVICE_WINDOW_SECS
        );
        Ok(sqlx::query_as(&sql)
            .bind(limit)
            .bind(offset)
            .bind(who)
            .fetch_all(self.pool())
            .await?)
    }
}

impl Store {
    /// Journal rows that could not be applied, newest first, with their reason.
    pub async fn failed_journal_rows(&self, limit: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT seq, COALESCE(error, '') FROM journal_apply WHERE outcome = 'failed' ORDER BY seq DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

/// A message as the thread view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ThreadMessage {
    pub id: i64,
    pub wamid: String,
    pub direction: crate::states::Direction,
    pub origin: crate::states::Origin,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub media_id: Option<String>,
    pub media_mime: Option<String>,
    pub media_available: bool,
    pub timestamp: i64,
    pub status: Option<crate::states::DeliveryStatus>,
    pub edited: bool,
    pub revoked: bool,
    pub content_known: bool,
    pub error: Option<String>,
    /// For API messages: `desk`, `campaign`, `automation` or `follow_up`, and who sent it.
    pub send_source: Option<String>,
    pub sent_by: Option<String>,
}

impl Store {
    /// The newest `limit` messages of a conversation older than `before` (a message id), returned
    /// oldest first for display.
    pub async fn thread(&self, contact_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<ThreadMessage>> {
        let mut rows: Vec<ThreadMessage> = sqlx::query_as(
            "SELECT m.id, m.wamid, m.direction, m.origin, m.type, m.text, m.media_id, m.media_mime, m.media_available,
                    m.timestamp, m.status, m.edited, m.revoked, m.content_known, m.error,
                    CASE WHEN o.campaign_id IS NOT NULL THEN 'campaign' ELSE o.source END AS send_source, o.actor AS sent_by
             FROM message m LEFT JOIN outbox o ON o.id = m.outbox_id
             WHERE m.contact_id = ?1
               AND (?2 IS NULL OR (m.timestamp, m.id) < (SELECT timestamp, id FROM message WHERE id = ?2))
             ORDER BY m.timestamp DESC, m.id DESC LIMIT ?3",
        )
        .bind(contact_id)
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Opening a conversation reads it: its unread count goes to zero.
    pub async fn mark_read(&self, contact_id: i64) -> Result<()> {
        sqlx::query("UPDATE conversation SET unread = 0 WHERE contact_id = ?")
            .bind(contact_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// Who this workspace is, as far as webhooks and settings have told it.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct AccountIds {
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub throughput_cap: i64,
}

impl Store {
    pub async fn account_ids(&self) -> Result<AccountIds> {
        Ok(
            sqlx::query_as("SELECT waba_id, phone_number_id, throughput_cap FROM account WHERE id = 1")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The number as Meta displays it, once connecting or a webhook told us.
    pub async fn display_number(&self) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT display_number FROM account WHERE id = 1")
            .fetch_one(self.pool())
            .await?)
    }

    /// When the last webhook body reached the journal.
    pub async fn last_received_at(&self) -> Result<Option<i64>> {
        let journaled: Option<i64> = sqlx::query_scalar("SELECT MAX(received_at) FROM journal")
            .fetch_one(self.pool())
            .await?;
        let (_, waiting) = self.intake_waiting().await?;
        Ok(journaled.max(waiting))
    }

    /// Is a dispatcher (e.g. `coexist serve`) sending for this workspace right now?
    pub async fn dispatcher_running(&self, now_ms: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lease WHERE name = 'dispatcher' AND expires_ms > ?")
            .bind(now_ms)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// The contact a person names by phone number (any formatting) or by BSUID.
    pub async fn contact_by_address(&self, address: &str) -> Result<Option<i64>> {
        let wa = crate::phone::normalize_wa_id(Some(address));
        Ok(
            sqlx::query_scalar("SELECT id FROM contact WHERE wa_id = ?1 OR bsuid = ?2")
                .bind(&wa)
                .bind(address.trim())
                .fetch_optional(self.pool())
                .await?,
        )
    }
}

impl Store {
    /// Flags a customer as VIP (or not), audited.
    pub async fn set_vip(&self, contact_id: i64, vip: bool, actor: &str, now: i64) -> Result<()> {
        let action = if vip {
            crate::audit::Action::ContactVip
        } else {
            crate::audit::Action::ContactUnvip
        };
        self.audited(now, actor, action, Some(&contact_id.to_string()), |tx| {
            Box::pin(async move {
                sqlx::query("UPDATE contact SET vip = ? WHERE id = ?")
                    .bind(vip)
                    .bind(contact_id)
                    .execute(&mut *tx)
                    .await?;
                Ok(((), serde_json::json!({})))
            })
        })
        .await
    }

    /// Assigns a conversation to a staff member (none: unassigned), audited.
    pub async fn set_assignee(&self, contact_id: i64, assignee: Option<&str>, actor: &str, now: i64) -> Result<()> {
        let assignee = assignee.map(str::to_string);
        let subject = contact_id.to_string();
        self.audited(
            now,
            actor,
            crate::audit::Action::ConversationAssign,
            Some(&subject),
            |tx| {
                Box::pin(async move {
                    sqlx::query("UPDATE conversation SET assignee = ? WHERE contact_id = ?")
                        .bind(&assignee)
                        .bind(contact_id)
                        .execute(&mut *tx)
                        .await?;
                    Ok(((), serde_json::json!({"assignee": assignee})))
                })
            },
        )
        .await
    }
}
