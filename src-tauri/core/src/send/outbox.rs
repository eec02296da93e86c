//! The outbox: a row per API send, written before any network call, moving
//! `queued → dispatching → accepted | failed`, or `uncertain` when a crash or a lost answer
//! leaves its fate unknown (never resent silently).

use super::compose::Compose;
use crate::error::Result;
use crate::store::Store;
use serde::Serialize;
use sqlx::SqliteConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum OutboxState {
    Queued,
    Dispatching,
    Accepted,
    Failed,
    Uncertain,
    Cancelled,
}

crate::states::named!(OutboxState {
    Queued => "queued",
    Dispatching => "dispatching",
    Accepted => "accepted",
    Failed => "failed",
    Uncertain => "uncertain",
    Cancelled => "cancelled",
});

impl OutboxState {
    /// Still on its way: the dispatcher has not had Meta's answer yet.
    pub fn pending(self) -> bool {
        matches!(self, OutboxState::Queued | OutboxState::Dispatching)
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OutboxRow {
    pub id: i64,
    pub recipient: String,
    pub kind: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub wamid: Option<String>,
    pub last_error_code: Option<i64>,
    pub last_error: Option<String>,
    pub callback_token: Option<String>,
    /// Why a queued send waits for the owner (restored from a backup).
    pub held_reason: Option<String>,
}

/// One outbox row, with its callback token: the token comes back on every status of this
/// message, which is how an `uncertain` send is recognised later.
/// An outbox row written by automation (`automation` or `follow_up`), inside the caller's transaction.
pub(crate) async fn insert_automation(
    conn: &mut sqlx::SqliteConnection,
    c: &Compose,
    source: &str,
    now: i64,
) -> Result<i64> {
    let id = insert_outbox(&mut *conn, c, None, now, super::now_ms()).await?;
    sqlx::query("UPDATE outbox SET source = ?, actor = 'automation' WHERE id = ?")
        .bind(source)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

pub(crate) async fn insert_outbox(
    conn: &mut sqlx::SqliteConnection,
    c: &Compose,
    campaign_id: Option<i64>,
    now: i64,
    next_attempt_ms: i64,
) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (contact_id, recipient, kind, payload, text, template_name, template_category, campaign_id,
                             next_attempt_ms, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(c.contact_id)
    .bind(&c.recipient)
    .bind(c.kind)
    .bind(c.payload.to_string())
    .bind(&c.text)
    .bind(&c.template_name)
    .bind(&c.template_category)
    .bind(campaign_id)
    .bind(next_attempt_ms)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE outbox SET callback_token = 'outbox:' || id WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Keeps one template as Meta described it.
async fn upsert_template_on(conn: &mut sqlx::SqliteConnection, t: &crate::cloud::TemplateInfo, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO template (id, name, language, category, status, components, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name, language) DO UPDATE SET id = excluded.id, category = excluded.category,
             status = excluded.status, components = excluded.components, synced_at = excluded.synced_at",
    )
    .bind(&t.id)
    .bind(&t.name)
    .bind(&t.language)
    .bind(t.category.to_uppercase())
    .bind(t.status.to_uppercase())
    .bind(t.components.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a restore held back for the owner to review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreHolds {
    pub held: i64,
    pub held_follow_ups: i64,
    pub paused_campaigns: i64,
}

impl Store {
    /// Writes the send to the outbox; the dispatcher takes it from there.
    pub async fn enqueue(&self, c: &Compose, campaign_id: Option<i64>, now: i64, now_ms: i64) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        let id = insert_outbox(&mut tx, c, campaign_id, now, now_ms).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A send from the desk by `actor`: queued, audited, and automation steps back in that chat
    /// (a person took over) for `pause_secs`.
    pub async fn enqueue_from_desk(
        &self,
        c: &Compose,
        actor: &str,
        pause_secs: i64,
        now: i64,
        now_ms: i64,
    ) -> Result<i64> {
        // Owned copies: the write runs as its own future inside the audited transaction.
        let (c, actor_name) = (c.clone(), actor.to_string());
        let recipient = c.recipient.clone();
        self.audited(now, actor, crate::audit::Action::Send, Some(&recipient), |tx| {
            Box::pin(async move {
                let id = insert_outbox(&mut *tx, &c, None, now, now_ms).await?;
                sqlx::query("UPDATE outbox SET source = 'desk', actor = ? WHERE id = ?")
                    .bind(&actor_name)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE conversation SET automation_paused_until = MAX(COALESCE(automation_paused_until, 0), ?) WHERE contact_id = ?",
                )
                .bind(now + pause_secs)
                .bind(c.contact_id)
                .execute(&mut *tx)
                .await?;
                Ok((id, serde_json::json!({"outbox": id, "kind": c.kind, "template": c.template_name})))
            })
        })
        .await
    }

    /// A send from the desk; automation steps back in that chat for the configured take-over
    /// pause (`takeover_pause_hours`).
    pub async fn send_from_desk(&self, c: &Compose, actor: &str, now: i64) -> Result<i64> {
        let pause = self.automation_config().await?.takeover_pause_hours * 3600;
        self.enqueue_from_desk(c, actor, pause, now, super::now_ms()).await
    }

    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>> {
        Ok(sqlx::query_as(
            "SELECT id, recipient, kind, state, attempts, wamid, last_error_code, last_error, callback_token, held_reason
             FROM outbox WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn outbox_rows(&self, state: Option<&str>) -> Result<Vec<OutboxRow>> {
        Ok(sqlx::query_as(
            "SELECT id, recipient, kind, state, attempts, wamid, last_error_code, last_error, callback_token, held_reason
             FROM outbox WHERE ?1 IS NULL OR state = ?1 ORDER BY id",
        )
        .bind(state)
        .fetch_all(self.pool())
        .await?)
    }

    /// Right after a restore: every queued send is held and every running campaign paused, so
    /// nothing goes out a second time before the owner has looked. Returns (held, paused).
    pub async fn hold_after_restore(&self) -> Result<RestoreHolds> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let held = sqlx::query(
            "UPDATE outbox SET held_reason = 'Restored from a backup: this message was waiting when the backup was taken and may have been sent since. Check the chat, then send it or cancel it.'
             WHERE state = 'queued' AND held_reason IS NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let held_follow_ups = sqlx::query(
            "UPDATE follow_up SET held_reason = 'Restored from a backup: this follow-up was waiting when the backup was taken and may have been sent since.'
             WHERE state = 'waiting' AND held_reason IS NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let paused = sqlx::query("UPDATE campaign SET state = 'paused' WHERE state = 'running'")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(RestoreHolds {
            held: held as i64,
            held_follow_ups: held_follow_ups as i64,
            paused_campaigns: paused as i64,
        })
    }

    /// Takes (or keeps) the workspace's dispatcher lease; false while someone else holds it.
    pub async fn take_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        crate::store::leases::take(self.db(), name, holder, now_ms, ttl_ms).await
    }

    /// Who holds a lease that has not expired, and until when (unix milliseconds).
    pub async fn lease_holder(&self, name: &str, now_ms: i64) -> Result<Option<(String, i64)>> {
        crate::store::leases::holder(self.db(), name, now_ms).await
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        crate::store::leases::release(self.db(), name, holder).await
    }
}

impl Store {
    /// The local copy of the account's templates.
    pub async fn templates(&self) -> Result<Vec<crate::cloud::TemplateInfo>> {
        let rows: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, name, language, category, status, components FROM template ORDER BY name, language",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, language, category, status, components)| crate::cloud::TemplateInfo {
                    id,
                    name,
                    language,
                    category,
                    status,
                    components: serde_json::from_str(&components).unwrap_or_default(),
                },
            )
            .collect())
    }

    /// Keeps one template as Meta described it (e.g. just submitted, PENDING).
    pub async fn upsert_template(&self, t: &crate::cloud::TemplateInfo, now: i64) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        upsert_template_on(&mut conn, t, now).await
    }

    /// Replaces the local copy of the account's templates with what Meta lists.
    pub async fn sync_templates(&self, list: &[crate::cloud::TemplateInfo], now: i64) -> Result<usize> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM template").execute(&mut *tx).await?;
        for t in list {
            upsert_template_on(&mut tx, t, now).await?;
        }
        tx.commit().await?;
        Ok(list.len())
    }
}

/// An `uncertain` send queued again (the owner accepted it may arrive twice); false when the row
/// is not uncertain.
pub(crate) async fn requeue_uncertain(
    conn: &mut SqliteConnection,
    id: i64,
    now: i64,
    now_ms: i64,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE outbox SET state = 'queued', next_attempt_ms = ?, updated_at = ? WHERE id = ? AND state = 'uncertain'",
    )
    .bind(now_ms)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Held sends (one, or all with the held follow-ups) may go out; how many were released.
pub(crate) async fn release_held(conn: &mut SqliteConnection, id: Option<i64>, now: i64) -> sqlx::Result<u64> {
    let mut n = sqlx::query(
        "UPDATE outbox SET held_reason = NULL, updated_at = ?1
         WHERE held_reason IS NOT NULL AND state = 'queued' AND (?2 IS NULL OR id = ?2)",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if id.is_none() {
        n += sqlx::query("UPDATE follow_up SET held_reason = NULL WHERE held_reason IS NOT NULL AND state = 'waiting'")
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// A queued send withdrawn before it went out; false when it is not queued any more.
pub(crate) async fn cancel_queued(conn: &mut SqliteConnection, id: i64, now: i64) -> sqlx::Result<bool> {
    let n = sqlx::query("UPDATE outbox SET state = 'cancelled', updated_at = ? WHERE id = ? AND state = 'queued'")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}
