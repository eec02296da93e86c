//! Contacts are keyed on a phone number (`wa_id`), a business-scoped user id (`bsuid`), or both:
//! whichever arrives first creates the contact, and a later message naming both joins them.

use crate::phone::{non_empty, normalize_bsuid, normalize_wa_id};
use sqlx::SqliteConnection;

/// What a webhook tells about a person.
#[derive(Debug, Default, Clone)]
pub struct Who {
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    /// A parent BSUID (`US.ENT.…`, shared by linked portfolios): it finds the customer's one
    /// contact but never makes a second one.
    pub parent_bsuid: Option<String>,
    pub name: Option<String>,
    pub profile_name: Option<String>,
    pub username: Option<String>,
    pub country: Option<String>,
}

impl Who {
    pub fn new(wa_id: Option<&str>, bsuid: Option<&str>) -> Self {
        Who {
            wa_id: normalize_wa_id(wa_id),
            bsuid: normalize_bsuid(bsuid),
            ..Default::default()
        }
    }
    /// Adds the parent BSUID a payload names (`to_parent_user_id`, `parent_user_id`).
    pub fn parent(mut self, parent: Option<&str>) -> Self {
        if let Some(p) = normalize_bsuid(parent) {
            self.parent_bsuid = Some(p);
        }
        self
    }
    pub fn profile(mut self, name: Option<&str>, username: Option<&str>, country: Option<&str>) -> Self {
        self.profile_name = non_empty(name);
        self.username = non_empty(username);
        self.country = non_empty(country);
        self
    }
    pub fn is_empty(&self) -> bool {
        self.wa_id.is_none() && self.bsuid.is_none() && self.parent_bsuid.is_none()
    }
}

/// Finds or creates the contact `who` names, joining two records that turn out to be one person.
pub async fn upsert(conn: &mut SqliteConnection, who: &Who, source: &str, at: i64) -> sqlx::Result<Option<i64>> {
    if who.is_empty() {
        return Ok(None);
    }
    let by_wa = find(conn, "wa_id", who.wa_id.as_deref()).await?;
    let by_bs = find(conn, "bsuid", who.bsuid.as_deref()).await?;
    let by_parent = find(conn, "parent_bsuid", who.parent_bsuid.as_deref()).await?;
    let id = match (by_wa, by_bs, by_parent) {
        (Some(a), Some(b), _) if a != b => {
            merge(conn, a, b).await?;
            a
        }
        (Some(a), _, _) | (None, Some(a), _) | (None, None, Some(a)) => a,
        (None, None, None) => {
            return sqlx::query_scalar(
                "INSERT INTO contact (wa_id, bsuid, parent_bsuid, name, profile_name, username, country, source, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&who.wa_id)
            // Known by nothing but the parent: the contact is reached by it until its own BSUID
            // arrives and takes its place (a contact always has a phone or a BSUID).
            .bind(who.bsuid.as_ref().or(who.parent_bsuid.as_ref()))
            .bind(&who.parent_bsuid)
            .bind(&who.name)
            .bind(&who.profile_name)
            .bind(&who.username)
            .bind(&who.country)
            .bind(source)
            .bind(at)
            .fetch_one(&mut *conn)
            .await
            .map(Some);
        }
    };
    // A record known only by the parent BSUID is the same person: fold it in.
    if let Some(p) = by_parent.filter(|p| *p != id) {
        merge(conn, id, p).await?;
    }
    // Fill what we did not know; newer names win over older ones.
    sqlx::query(
        "UPDATE contact SET wa_id = COALESCE(wa_id, ?1),
                bsuid = CASE WHEN ?2 IS NOT NULL AND (bsuid IS NULL OR bsuid = parent_bsuid) THEN ?2 ELSE bsuid END,
                parent_bsuid = COALESCE(parent_bsuid, ?3), name = COALESCE(?4, name),
                profile_name = COALESCE(?5, profile_name), username = COALESCE(?6, username), country = COALESCE(country, ?7)
         WHERE id = ?8",
    )
    .bind(&who.wa_id)
    .bind(&who.bsuid)
    .bind(&who.parent_bsuid)
    .bind(&who.name)
    .bind(&who.profile_name)
    .bind(&who.username)
    .bind(&who.country)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}

/// A customer's phone number or BSUID changed (`user_changed_number`, `user_changed_user_id`): the
/// contact found by the old id takes the new one; a contact already known by the new id is folded
/// into it, so the thread goes on in one place. With no contact by the old id, the new id is
/// simply known from now on.
pub async fn change_id(conn: &mut SqliteConnection, old: &Who, new: &Who, at: i64) -> sqlx::Result<Option<i64>> {
    let current = match find(conn, "wa_id", old.wa_id.as_deref()).await? {
        Some(id) => Some(id),
        None => find(conn, "bsuid", old.bsuid.as_deref()).await?,
    };
    let Some(keep) = current else {
        return upsert(conn, new, "message", at).await;
    };
    let (col, value) = match (&new.wa_id, &new.bsuid) {
        (Some(w), _) => ("wa_id", w.clone()),
        (None, Some(b)) => ("bsuid", b.clone()),
        (None, None) => return Ok(Some(keep)),
    };
    let holder = find(conn, col, Some(&value)).await?;
    if let Some(other) = holder.filter(|o| *o != keep) {
        merge(conn, keep, other).await?;
    }
    sqlx::query(&format!("UPDATE contact SET {col} = ? WHERE id = ?"))
        .bind(&value)
        .bind(keep)
        .execute(&mut *conn)
        .await?;
    tracing::info!(
        contact = keep,
        field = col,
        "a customer's id changed; the contact goes on under the new one"
    );
    Ok(Some(keep))
}

/// The contact whose `col` (`wa_id` or `bsuid`, both unique, or `parent_bsuid`) is `value`.
async fn find(conn: &mut SqliteConnection, col: &'static str, value: Option<&str>) -> sqlx::Result<Option<i64>> {
    let Some(value) = value else { return Ok(None) };
    sqlx::query_scalar(&format!("SELECT id FROM contact WHERE {col} = ? ORDER BY id LIMIT 1"))
        .bind(value)
        .fetch_optional(&mut *conn)
        .await
}

/// Folds contact `other` into `keep`: its messages, consent and conversation move over.
async fn merge(conn: &mut SqliteConnection, keep: i64, other: i64) -> sqlx::Result<()> {
    tracing::debug!(keep, other, "joining two contacts that are one person");
    sqlx::query("UPDATE message SET contact_id = ? WHERE contact_id = ?")
        .bind(keep)
        .bind(other)
        .execute(&mut *conn)
        .await?;
    // Every row that names the other record moves over, or the delete below fails on a foreign
    // key and the body is lost from the live mirror while a replay (which has no outbox) succeeds.
    for table in ["consent", "outbox", "follow_up", "ledger"] {
        sqlx::query(&format!("UPDATE {table} SET contact_id = ?1 WHERE contact_id = ?2"))
            .bind(keep)
            .bind(other)
            .execute(&mut *conn)
            .await?;
    }
    // One row per (campaign, contact) and per contact: where both had one, the kept record's stays.
    for table in ["campaign_recipient", "away_sent"] {
        sqlx::query(&format!(
            "UPDATE OR IGNORE {table} SET contact_id = ?1 WHERE contact_id = ?2"
        ))
        .bind(keep)
        .bind(other)
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!("DELETE FROM {table} WHERE contact_id = ?"))
            .bind(other)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO conversation (contact_id, last_message_at, last_message_id, last_inbound_at, free_entry_until,
                                   unread, assignee, automation_paused_until)
         SELECT ?, last_message_at, last_message_id, last_inbound_at, free_entry_until, unread, assignee, automation_paused_until
         FROM conversation WHERE contact_id = ?
         ON CONFLICT(contact_id) DO UPDATE SET
           last_message_id = CASE WHEN conversation.last_message_at IS NULL
                                   OR excluded.last_message_at > conversation.last_message_at
                                  THEN excluded.last_message_id ELSE conversation.last_message_id END,
           last_message_at = MAX(COALESCE(conversation.last_message_at, excluded.last_message_at), COALESCE(excluded.last_message_at, conversation.last_message_at)),
           last_inbound_at = MAX(COALESCE(conversation.last_inbound_at, excluded.last_inbound_at), COALESCE(excluded.last_inbound_at, conversation.last_inbound_at)),
           free_entry_until = MAX(COALESCE(conversation.free_entry_until, excluded.free_entry_until), COALESCE(excluded.free_entry_until, conversation.free_entry_until)),
           unread = conversation.unread + excluded.unread,
           assignee = COALESCE(conversation.assignee, excluded.assignee),
           automation_paused_until = MAX(COALESCE(conversation.automation_paused_until, excluded.automation_paused_until), COALESCE(excluded.automation_paused_until, conversation.automation_paused_until))",
    )
    .bind(keep)
    .bind(other)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM conversation WHERE contact_id = ?")
        .bind(other)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE contact SET
           name = COALESCE(name, (SELECT name FROM contact WHERE id = ?2)),
           profile_name = COALESCE(profile_name, (SELECT profile_name FROM contact WHERE id = ?2)),
           username = COALESCE(username, (SELECT username FROM contact WHERE id = ?2)),
           country = COALESCE(country, (SELECT country FROM contact WHERE id = ?2)),
           parent_bsuid = COALESCE(parent_bsuid, (SELECT parent_bsuid FROM contact WHERE id = ?2)),
           vip = MAX(vip, (SELECT vip FROM contact WHERE id = ?2))
         WHERE id = ?1",
    )
    .bind(keep)
    .bind(other)
    .execute(&mut *conn)
    .await?;
    // The BSUID is unique: it can move only once the other record is gone.
    let bsuid: Option<String> = sqlx::query_scalar("SELECT bsuid FROM contact WHERE id = ?")
        .bind(other)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM contact WHERE id = ?")
        .bind(other)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE contact SET bsuid = COALESCE(bsuid, ?) WHERE id = ?")
        .bind(bsuid)
        .bind(keep)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
