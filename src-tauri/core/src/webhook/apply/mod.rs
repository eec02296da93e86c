//! Applying one journaled body to the mirror. Deterministic (time comes from the body or the
//! journal row, never the wall clock) and idempotent (keyed on wamids and event ids), so applying
//! twice changes nothing and a replay of the journal gives the same mirror.

use super::contacts::{self, Who};
use super::model::*;
use crate::cloud::plain_reason;
use crate::phone::normalize_wa_id;
use crate::policy;
use sqlx::{QueryBuilder, SqliteConnection};
use std::borrow::Cow;

mod account;
mod edits;
mod history;
mod messages;
mod statuses;

use account::*;
use edits::*;
use history::*;
use messages::*;
use statuses::*;

/// Settings the applier honours.
#[derive(Debug, Clone)]
pub struct Rules {
    pub opt_out_keywords: Vec<String>,
    pub automation_pause_secs: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            opt_out_keywords: policy::DEFAULT_OPT_OUT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
            automation_pause_secs: policy::DEFAULT_AUTOMATION_PAUSE_SECS,
        }
    }
}

/// What became of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyOutcome {
    Applied,
    /// Only fields Coexist does not handle: kept in the journal, not an error.
    Skipped(String),
    /// Unreadable, or some change in it was; what could be applied was.
    Failed(String),
}

pub(crate) async fn apply_body(
    conn: &mut SqliteConnection,
    body: &[u8],
    received_at: i64,
    rules: &Rules,
) -> sqlx::Result<BodyOutcome> {
    if let Some(sent) = super::sent::parse(body) {
        return Ok(match sent {
            Ok(m) => {
                super::sent::apply(conn, &m).await?;
                BodyOutcome::Applied
            }
            Err(e) => BodyOutcome::Failed(format!("not a readable record of a sent message: {e}")),
        });
    }
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => return Ok(BodyOutcome::Failed(format!("not a readable webhook body: {e}"))),
    };
    if envelope.object != "whatsapp_business_account" {
        return Ok(BodyOutcome::Failed(format!(
            "not a WhatsApp Business Account webhook (object is {:?})",
            envelope.object
        )));
    }
    let mut applied = 0usize;
    let mut skipped = Vec::new();
    let mut errors = Vec::new();
    // Elements set aside while the rest of their change was applied.
    let mut rejected: Vec<(usize, String)> = Vec::new();
    for entry in &envelope.entry {
        let at = entry.time.unwrap_or(received_at);
        for (i, change) in entry.changes.iter().enumerate() {
            let json = change.value.get();
            let result = match change.field.as_str() {
                "messages" => match serde_json::from_str::<MessagesValue>(json) {
                    Ok(v) => {
                        rejected.extend(v.rejected().into_iter().map(|e| (i, e)));
                        apply_messages(conn, &entry.id, v, rules).await.map(Ok)?
                    }
                    Err(e) => Err(e),
                },
                // Meta's Business Agent answers these chats: mirror them, keep automation out.
                "standby" => match serde_json::from_str::<MessagesValue>(json) {
                    Ok(v) => {
                        rejected.extend(v.rejected().into_iter().map(|e| (i, e)));
                        apply_standby(conn, &entry.id, v, rules).await.map(Ok)?
                    }
                    Err(e) => Err(e),
                },
                "messaging_handovers" => match serde_json::from_str::<HandoversValue>(json) {
                    Ok(v) => apply_handovers(conn, v, at).await.map(Ok)?,
                    Err(e) => Err(e),
                },
                "smb_message_echoes" => match serde_json::from_str::<EchoesValue>(json) {
                    Ok(v) => {
                        rejected.extend(v.rejected().into_iter().map(|e| (i, e)));
                        apply_echoes(conn, &entry.id, v, rules).await.map(Ok)?
                    }
                    Err(e) => Err(e),
                },
                "history" => match serde_json::from_str::<HistoryValue>(json) {
                    Ok(v) => {
                        rejected.extend(v.rejected().into_iter().map(|e| (i, e)));
                        apply_history(conn, &entry.id, v, at).await.map(Ok)?
                    }
                    Err(e) => Err(e),
                },
                "smb_app_state_sync" => match serde_json::from_str::<StateSyncValue>(json) {
                    Ok(v) => apply_state_sync(conn, v, at).await.map(Ok)?,
                    Err(e) => Err(e),
                },
                "account_update" => match serde_json::from_str::<AccountUpdateValue>(json) {
                    Ok(v) => apply_account_update(conn, &entry.id, v, at).await.map(Ok)?,
                    Err(e) => Err(e),
                },
                "user_preferences" => match serde_json::from_str::<UserPreferencesValue>(json) {
                    Ok(v) => apply_user_preferences(conn, v, at).await.map(Ok)?,
                    Err(e) => Err(e),
                },
                "message_template_status_update" => match serde_json::from_str::<TemplateStatusValue>(json) {
                    Ok(v) => apply_template_status(conn, v).await.map(Ok)?,
                    Err(e) => Err(e),
                },
                other => {
                    tracing::debug!(field = other, "webhook field not handled; kept in the journal");
                    skipped.push(other.to_string());
                    continue;
                }
            };
            match result {
                Ok(()) => applied += 1,
                Err(e) => errors.push(format!("change {} ({}) could not be read: {e}", i + 1, change.field)),
            }
            for (_, e) in rejected.drain(..) {
                errors.push(format!(
                    "change {} ({}): {e} — set aside, the rest of the change was applied",
                    i + 1,
                    change.field
                ));
            }
        }
    }
    Ok(if !errors.is_empty() {
        BodyOutcome::Failed(errors.join("; "))
    } else if applied == 0 && !skipped.is_empty() {
        BodyOutcome::Skipped(format!("fields not handled: {}", skipped.join(", ")))
    } else if applied == 0 {
        BodyOutcome::Skipped("no changes in this body".into())
    } else {
        BodyOutcome::Applied
    })
}

/// Remembers which business number and account the webhooks are about.
async fn note_account(
    conn: &mut SqliteConnection,
    waba_id: &str,
    metadata: Option<&Metadata>,
) -> sqlx::Result<Option<String>> {
    let (display, phone_id) = match metadata {
        Some(m) => (
            normalize_wa_id(Some(&m.display_phone_number)),
            crate::phone::non_empty(Some(&m.phone_number_id)),
        ),
        None => (None, None),
    };
    sqlx::query(
        "UPDATE account SET waba_id = COALESCE(NULLIF(?, ''), waba_id), display_number = COALESCE(?, display_number),
                phone_number_id = COALESCE(?, phone_number_id) WHERE id = 1",
    )
    .bind(waba_id)
    .bind(&display)
    .bind(&phone_id)
    .execute(&mut *conn)
    .await?;
    if display.is_some() {
        return Ok(display);
    }
    sqlx::query_scalar("SELECT display_number FROM account WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
}

fn non_empty_str(s: &str) -> Option<&str> {
    (!s.trim().is_empty()).then_some(s)
}

/// Profile data from `contacts[]` for the person a message names.
fn who_from(contacts: &[WaContact], wa_id: Option<&str>, bsuid: Option<&str>) -> Who {
    let base = Who::new(wa_id, bsuid);
    let found = contacts.iter().find(|c| {
        let cw = normalize_wa_id(c.wa_id.as_deref());
        let cb = crate::phone::normalize_bsuid(c.user_id.as_deref());
        (cw.is_some() && cw == base.wa_id) || (cb.is_some() && cb == base.bsuid)
    });
    let found = found.or(if contacts.len() == 1 { contacts.first() } else { None });
    match found {
        Some(c) => {
            let mut who = Who {
                wa_id: base.wa_id.or_else(|| normalize_wa_id(c.wa_id.as_deref())),
                bsuid: base
                    .bsuid
                    .or_else(|| crate::phone::normalize_bsuid(c.user_id.as_deref())),
                ..Default::default()
            };
            who = who
                .profile(
                    c.profile.name.as_deref(),
                    c.profile.username.as_deref(),
                    c.profile.country_code.as_deref(),
                )
                .parent(c.parent_user_id.as_deref());
            who
        }
        None => base,
    }
}

/// One message ready for the `message` table.
struct Row<'a> {
    wamid: &'a str,
    contact_id: Option<i64>,
    direction: &'static str,
    origin: &'static str,
    kind: &'a str,
    text: Option<String>,
    media: Option<&'a Media>,
    timestamp: i64,
    status: Option<&'static str>,
    referral: Option<String>,
}

/// Inserts a message; returns its id when it is new (or when it only existed as a status of
/// unknown content), none when the mirror already had it.
async fn insert_message(conn: &mut SqliteConnection, r: &Row<'_>) -> sqlx::Result<Option<i64>> {
    let media_id = r.media.and_then(|m| m.id.clone());
    sqlx::query_scalar(
        "INSERT INTO message (wamid, contact_id, direction, origin, type, text, media_id, media_mime, media_sha256,
                              media_available, timestamp, status, status_at, referral_source, media_filename)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(wamid) DO UPDATE SET
           contact_id = COALESCE(message.contact_id, excluded.contact_id), direction = excluded.direction,
           origin = excluded.origin, type = excluded.type, text = excluded.text, media_id = excluded.media_id,
           media_mime = excluded.media_mime, media_sha256 = excluded.media_sha256,
           media_filename = excluded.media_filename,
           media_available = excluded.media_available, timestamp = excluded.timestamp,
           referral_source = excluded.referral_source, content_known = 1
         WHERE message.content_known = 0
         RETURNING id",
    )
    .bind(r.wamid)
    .bind(r.contact_id)
    .bind(r.direction)
    .bind(r.origin)
    .bind(r.kind)
    .bind(&r.text)
    .bind(&media_id)
    .bind(r.media.and_then(|m| m.mime_type.clone()))
    .bind(r.media.and_then(|m| m.sha256.clone()))
    .bind(media_id.is_some())
    .bind(r.timestamp)
    .bind(r.status)
    .bind(r.status.map(|_| r.timestamp))
    .bind(&r.referral)
    .bind(r.media.and_then(|m| m.filename.clone()))
    .fetch_optional(&mut *conn)
    .await
}

/// How a new message changes its conversation.
#[derive(Default)]
pub(crate) struct Touch {
    /// A customer message received live: opens the service window and counts as unread.
    inbound_live: bool,
    free_entry_until: Option<i64>,
    pause_until: Option<i64>,
}

pub(crate) async fn touch_conversation(
    conn: &mut SqliteConnection,
    contact_id: i64,
    message_id: i64,
    at: i64,
    t: Touch,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO conversation (contact_id, last_message_at, last_message_id, last_inbound_at, free_entry_until,
                                   unread, automation_paused_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(contact_id) DO UPDATE SET
           last_message_id = CASE WHEN conversation.last_message_at IS NULL
                                   OR excluded.last_message_at >= conversation.last_message_at
                                  THEN excluded.last_message_id ELSE conversation.last_message_id END,
           last_message_at = MAX(COALESCE(conversation.last_message_at, excluded.last_message_at), excluded.last_message_at),
           last_inbound_at = MAX(COALESCE(conversation.last_inbound_at, excluded.last_inbound_at), COALESCE(excluded.last_inbound_at, conversation.last_inbound_at)),
           free_entry_until = MAX(COALESCE(conversation.free_entry_until, excluded.free_entry_until), COALESCE(excluded.free_entry_until, conversation.free_entry_until)),
           unread = conversation.unread + excluded.unread,
           automation_paused_until = MAX(COALESCE(conversation.automation_paused_until, excluded.automation_paused_until), COALESCE(excluded.automation_paused_until, conversation.automation_paused_until))",
    )
    .bind(contact_id)
    .bind(at)
    .bind(message_id)
    .bind(t.inbound_live.then_some(at))
    .bind(t.free_entry_until)
    .bind(i64::from(t.inbound_live))
    .bind(t.pause_until)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What an `account_update` event means for the link and what the owner is told.
struct AccountEvent {
    /// The new link state, when the event changes whether sending works.
    link: Option<&'static str>,
    /// A title and a sentence for the owner.
    tell: Option<(&'static str, String)>,
}
