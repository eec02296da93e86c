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
                        apply_history(conn, &entry.id, v).await.map(Ok)?
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
            who = who.profile(
                c.profile.name.as_deref(),
                c.profile.username.as_deref(),
                c.profile.country_code.as_deref(),
            );
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
                              media_available, timestamp, status, status_at, referral_source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(wamid) DO UPDATE SET
           contact_id = COALESCE(message.contact_id, excluded.contact_id), direction = excluded.direction,
           origin = excluded.origin, type = excluded.type, text = excluded.text, media_id = excluded.media_id,
           media_mime = excluded.media_mime, media_sha256 = excluded.media_sha256,
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

async fn apply_messages(conn: &mut SqliteConnection, waba: &str, v: MessagesValue, rules: &Rules) -> sqlx::Result<()> {
    note_account(conn, waba, v.metadata.as_ref()).await?;
    for m in &v.messages {
        // A changed number or user id: the customer goes on as the same contact under the new id.
        if let Some(sys) = m.system.as_ref().filter(|s| s.kind.starts_with("user_changed_")) {
            let old = Who::new(
                non_empty_str(&m.from),
                m.from_user_id.as_deref().or(sys.previous_user_id.as_deref()),
            );
            let new = match sys.kind.as_str() {
                "user_changed_number" => Who::new(sys.new_wa_id.as_deref().or(sys.wa_id.as_deref()), None),
                _ => Who::new(None, sys.user_id.as_deref()),
            };
            contacts::change_id(conn, &old, &new, m.timestamp).await?;
            continue;
        }
        let who = who_from(&v.contacts, Some(&m.from), m.from_user_id.as_deref());
        let contact = contacts::upsert(conn, &who, "message", m.timestamp).await?;
        if let Some(edit_target) = edit_target(m) {
            record_edit(conn, m, edit_target).await?;
            continue;
        }
        let referral = m
            .referral
            .as_ref()
            .map(|r| r.source_type.clone().unwrap_or_else(|| "ad".into()));
        let row = Row {
            wamid: &m.id,
            contact_id: contact,
            direction: "inbound",
            origin: "customer",
            kind: &m.kind,
            text: m.display_text().map(Cow::into_owned),
            media: m.media(),
            timestamp: m.timestamp,
            status: None,
            referral: referral.clone(),
        };
        let Some(id) = insert_message(conn, &row).await? else {
            continue;
        };
        apply_pending_edits(conn, &m.id).await?;
        let Some(contact_id) = contact else { continue };
        crate::billing::mark_window(conn, contact_id, m.timestamp).await?;
        let touch = Touch {
            inbound_live: true,
            free_entry_until: referral.map(|_| m.timestamp + policy::FREE_ENTRY_POINT_SECS),
            pause_until: None,
        };
        touch_conversation(conn, contact_id, id, m.timestamp, touch).await?;
        if m.kind == "text" {
            let keywords: Vec<&str> = rules.opt_out_keywords.iter().map(String::as_str).collect();
            if row.text.as_deref().is_some_and(|t| policy::is_opt_out(t, &keywords)) {
                record_consent(
                    conn,
                    contact_id,
                    "opt_out",
                    "keyword",
                    &m.id,
                    row.text.as_deref(),
                    m.timestamp,
                )
                .await?;
            }
        }
    }
    for s in &v.statuses {
        apply_status(conn, s).await?;
    }
    Ok(())
}

async fn apply_echoes(conn: &mut SqliteConnection, waba: &str, v: EchoesValue, rules: &Rules) -> sqlx::Result<()> {
    note_account(conn, waba, v.metadata.as_ref()).await?;
    for m in &v.message_echoes {
        let who = who_from(&v.contacts, m.to.as_deref(), m.to_user_id.as_deref());
        let contact = contacts::upsert(conn, &who, "message", m.timestamp).await?;
        if let Some(target) = edit_target(m) {
            record_edit(conn, m, target).await?;
            continue;
        }
        let row = Row {
            wamid: &m.id,
            contact_id: contact,
            direction: "outbound",
            origin: "phone",
            kind: &m.kind,
            text: m.display_text().map(Cow::into_owned),
            media: m.media(),
            timestamp: m.timestamp,
            status: None,
            referral: None,
        };
        let Some(id) = insert_message(conn, &row).await? else {
            continue;
        };
        crate::billing::mark_dirty(conn, id).await?;
        apply_pending_edits(conn, &m.id).await?;
        if let Some(contact_id) = contact {
            // A person answered from the phone: automation steps back in this chat. Echoes do
            // not open or extend the customer-service window.
            let touch = Touch {
                pause_until: Some(m.timestamp + rules.automation_pause_secs),
                ..Default::default()
            };
            touch_conversation(conn, contact_id, id, m.timestamp, touch).await?;
        }
    }
    Ok(())
}

fn edit_target(m: &WaMessage) -> Option<(&'static str, &str, Option<&str>)> {
    if let Some(e) = &m.edit {
        return Some((
            "edit",
            e.original_message_id.as_str(),
            e.text.as_ref().map(|t| t.body.as_str()),
        ));
    }
    m.revoke
        .as_ref()
        .map(|r| ("revoke", r.original_message_id.as_str(), None))
}

/// Keeps an edit or revoke as an event, then applies it if its original is in the mirror.
async fn record_edit(
    conn: &mut SqliteConnection,
    m: &WaMessage,
    (kind, original, text): (&str, &str, Option<&str>),
) -> sqlx::Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO message_edit (wamid, original_wamid, kind, new_text, at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(wamid) DO NOTHING",
    )
    .bind(&m.id)
    .bind(original)
    .bind(kind)
    .bind(text)
    .bind(m.timestamp)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted > 0 {
        apply_pending_edits(conn, original).await?;
    }
    Ok(())
}

/// Applies edits and revokes waiting for `original`, in the order they were made.
async fn apply_pending_edits(conn: &mut SqliteConnection, original: &str) -> sqlx::Result<()> {
    let pending: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.wamid, e.kind FROM message_edit e JOIN message m ON m.wamid = e.original_wamid
         WHERE e.original_wamid = ? AND e.applied = 0 ORDER BY e.at, e.wamid",
    )
    .bind(original)
    .fetch_all(&mut *conn)
    .await?;
    for (wamid, kind) in pending {
        if kind == "edit" {
            sqlx::query("UPDATE message_edit SET previous_text = (SELECT text FROM message WHERE wamid = ?), applied = 1 WHERE wamid = ?")
                .bind(original)
                .bind(&wamid)
                .execute(&mut *conn)
                .await?;
            // The newest edit wins, whatever order the edits arrived in.
            sqlx::query(
                "UPDATE message SET edited = 1, text = (SELECT new_text FROM message_edit
                     WHERE original_wamid = ?1 AND kind = 'edit' ORDER BY at DESC, wamid DESC LIMIT 1)
                 WHERE wamid = ?1",
            )
            .bind(original)
            .execute(&mut *conn)
            .await?;
            crate::search::mark_changed(conn, original).await?;
        } else {
            sqlx::query("UPDATE message_edit SET applied = 1 WHERE wamid = ?")
                .bind(&wamid)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE message SET revoked = 1 WHERE wamid = ?")
                .bind(original)
                .execute(&mut *conn)
                .await?;
            crate::search::mark_changed(conn, original).await?;
        }
    }
    Ok(())
}

async fn record_consent(
    conn: &mut SqliteConnection,
    contact_id: i64,
    kind: &str,
    source: &str,
    source_ref: &str,
    detail: Option<&str>,
    at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO consent (contact_id, kind, source, source_ref, detail, at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(source_ref) DO NOTHING",
    )
    .bind(contact_id)
    .bind(kind)
    .bind(source)
    .bind(source_ref)
    .bind(detail)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Where a status sits in a message's life; a status never moves a message backwards.
fn status_rank(s: &str) -> Option<i32> {
    match s {
        "sent" => Some(1),
        "delivered" => Some(2),
        "read" | "played" => Some(3),
        _ => None,
    }
}

/// A status as the mirror stores it (lowercase; history sends `READ`, statuses `read`).
fn known_status(s: &str) -> Option<&'static str> {
    ["sent", "delivered", "read", "played", "failed"]
        .into_iter()
        .find(|k| s.eq_ignore_ascii_case(k))
        .or_else(|| s.eq_ignore_ascii_case("error").then_some("failed"))
}

/// Should `new` replace `current`? `failed` stands only while nothing was delivered or read.
fn status_advances(current: Option<&str>, new: &str) -> bool {
    match (current, new) {
        (None, _) => true,
        (Some("failed"), n) => status_rank(n).is_some_and(|r| r >= 2),
        (Some(c), "failed") => status_rank(c).is_none_or(|r| r < 2),
        (Some(c), n) => status_rank(n) > status_rank(c),
    }
}

async fn apply_status(conn: &mut SqliteConnection, s: &Status) -> sqlx::Result<()> {
    let Some(new_status) = known_status(&s.status) else {
        tracing::debug!(status = %s.status, "status value not handled");
        return Ok(());
    };
    let existing: Option<(i64, Option<String>)> = sqlx::query_as("SELECT id, status FROM message WHERE wamid = ?")
        .bind(&s.id)
        .fetch_optional(&mut *conn)
        .await?;
    let (id, current) = match existing {
        Some(e) => e,
        None => {
            // Sent by another tool or before a crash: count it anyway, content unknown.
            let who = Who::new(s.recipient_id.as_deref(), s.recipient_user_id.as_deref());
            let contact = contacts::upsert(conn, &who, "message", s.timestamp).await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO message (wamid, contact_id, direction, origin, type, timestamp, content_known)
                 VALUES (?, ?, 'outbound', 'api', 'unknown', ?, 0) RETURNING id",
            )
            .bind(&s.id)
            .bind(contact)
            .bind(s.timestamp)
            .fetch_one(&mut *conn)
            .await?;
            crate::billing::mark_dirty(conn, id).await?;
            if let Some(c) = contact {
                touch_conversation(conn, c, id, s.timestamp, Touch::default()).await?;
            }
            (id, None)
        }
    };
    if status_advances(current.as_deref(), new_status) {
        let (code, reason) = match (new_status, s.errors.first()) {
            ("failed", Some(e)) => (
                Some(e.code),
                Some(plain_reason(
                    e.code,
                    e.title.as_deref().or(e.message.as_deref()),
                    e.error_data.as_ref().and_then(|d| d.details.as_deref()),
                )),
            ),
            ("failed", None) => (
                None,
                Some("Meta reported the message as failed without a reason.".to_string()),
            ),
            _ => (None, None),
        };
        sqlx::query(
            "UPDATE message SET status = ?, status_at = ?, error_code = COALESCE(?, error_code), error = COALESCE(?, error)
             WHERE id = ?",
        )
        .bind(new_status)
        .bind(s.timestamp)
        .bind(code)
        .bind(reason)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    let delivered = matches!(new_status, "delivered" | "read" | "played");
    let pricing = s.pricing.as_ref();
    let conversation = s.conversation.as_ref();
    sqlx::query(
        "UPDATE message SET
           delivered_at = CASE WHEN ? THEN MIN(COALESCE(delivered_at, ?), ?) ELSE delivered_at END,
           pricing_billable = COALESCE(?, pricing_billable), pricing_model = COALESCE(?, pricing_model),
           pricing_type = COALESCE(?, pricing_type), pricing_category = COALESCE(?, pricing_category),
           conversation_id = COALESCE(?, conversation_id), conversation_origin = COALESCE(?, conversation_origin),
           callback_data = COALESCE(callback_data, ?)
         WHERE id = ?",
    )
    .bind(delivered)
    .bind(s.timestamp)
    .bind(s.timestamp)
    .bind(pricing.and_then(|p| p.billable))
    .bind(pricing.and_then(|p| p.pricing_model.clone()))
    .bind(pricing.and_then(|p| p.kind.clone()))
    .bind(pricing.and_then(|p| p.category.clone()))
    .bind(conversation.and_then(|c| c.id.clone()))
    .bind(
        conversation
            .and_then(|c| c.origin.as_ref())
            .and_then(|o| o.kind.clone()),
    )
    .bind(&s.biz_opaque_callback_data)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    // A status carrying an outbox token proves the send reached Meta: it settles a send whose
    // answer was lost (`uncertain`), one still waiting for its answer, and one put back in the
    // queue or failed after an ambiguous error (a 5xx after Meta really sent), so it is never
    // sent a second time.
    if let Some(outbox_id) = s
        .biz_opaque_callback_data
        .as_deref()
        .and_then(|t| t.strip_prefix("outbox:"))
        .and_then(|n| n.parse::<i64>().ok())
    {
        let settled = sqlx::query(
            "UPDATE outbox SET state = 'accepted', wamid = COALESCE(wamid, ?), last_error = NULL
             WHERE id = ? AND state IN ('uncertain', 'dispatching', 'queued', 'failed')",
        )
        .bind(&s.id)
        .bind(outbox_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if settled > 0 {
            // The mirror learns what was sent from the outbox row.
            sqlx::query(
                "UPDATE message SET outbox_id = o.id,
                        type = CASE WHEN message.content_known = 0 THEN o.kind ELSE message.type END,
                        text = CASE WHEN message.content_known = 0 THEN o.text ELSE message.text END,
                        template_name = COALESCE(message.template_name, o.template_name),
                        template_category = COALESCE(message.template_category, o.template_category),
                        contact_id = COALESCE(message.contact_id, o.contact_id),
                        content_known = 1
                 FROM (SELECT id, kind, text, template_name, template_category, contact_id FROM outbox WHERE id = ?) AS o
                 WHERE message.id = ?",
            )
            .bind(outbox_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Rows per multi-row insert of history messages (13 columns each, under SQLite's 32,766 variables).
const HISTORY_BATCH: usize = 1000;

async fn apply_history(conn: &mut SqliteConnection, waba: &str, v: HistoryValue) -> sqlx::Result<()> {
    let business = note_account(conn, waba, v.metadata.as_ref()).await?;
    for item in &v.history {
        for e in &item.errors {
            let detail = e
                .error_data
                .as_ref()
                .and_then(|d| d.details.clone())
                .or(e.title.clone());
            if e.code == policy::HISTORY_DECLINED_CODE {
                sqlx::query("UPDATE account SET history_error = ? WHERE id = 1")
                    .bind(&detail)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE account SET history_state = 'declined' WHERE id = 1 AND history_state = 'none'")
                    .execute(&mut *conn)
                    .await?;
            } else {
                let reason = plain_reason(e.code, e.title.as_deref(), detail.as_deref());
                sqlx::query("UPDATE account SET history_error = ? WHERE id = 1")
                    .bind(reason)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        for thread in &item.threads {
            apply_history_thread(conn, business.as_deref(), thread).await?;
        }
        if let Some(meta) = &item.metadata {
            sqlx::query(
                "INSERT INTO history_chunk (phase, chunk_order, progress) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(meta.phase)
            .bind(meta.chunk_order)
            .bind(meta.progress.clamp(0, 100))
            .execute(&mut *conn)
            .await?;
            // Chunks arrive in any order: progress is the furthest seen, complete once 100 arrived.
            sqlx::query(
                "UPDATE account SET
                   history_progress = (SELECT MAX(progress) FROM history_chunk),
                   history_state = CASE WHEN (SELECT MAX(progress) FROM history_chunk) >= 100 THEN 'complete' ELSE 'in_progress' END
                 WHERE id = 1",
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    for m in &v.message_echoes {
        apply_media_followup(conn, business.as_deref(), m).await?;
    }
    Ok(())
}

fn is_business(business: Option<&str>, from: &str) -> bool {
    match (business, normalize_wa_id(Some(from))) {
        (Some(b), Some(f)) => b == f,
        _ => false,
    }
}

async fn apply_history_thread(
    conn: &mut SqliteConnection,
    business: Option<&str>,
    thread: &HistoryThread,
) -> sqlx::Result<()> {
    let ctx = &thread.context;
    let wa = ctx
        .wa_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(Some(thread.id.as_str()));
    let who = Who::new(wa, ctx.user_id.as_deref()).profile(None, ctx.username.as_deref(), None);
    let first_at = thread.messages.iter().map(|m| m.timestamp).min().unwrap_or(0);
    let contact = contacts::upsert(conn, &who, "history", first_at).await?;
    for batch in thread.messages.chunks(HISTORY_BATCH) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO message (wamid, contact_id, direction, origin, type, text, media_id, media_mime, media_sha256,
                                  media_available, timestamp, status, status_at) ",
        );
        qb.push_values(batch, |mut b, m| {
            let media = m.media();
            let media_id = media.and_then(|x| x.id.clone());
            let status = m
                .history_context
                .as_ref()
                .and_then(|h| h.status.as_deref())
                .map(str::to_ascii_lowercase);
            let status = status.as_deref().and_then(known_status);
            b.push_bind(&m.id)
                .push_bind(contact)
                .push_bind(if is_business(business, &m.from) {
                    "outbound"
                } else {
                    "inbound"
                })
                .push_bind("history")
                .push_bind(&m.kind)
                .push_bind(m.display_text())
                .push_bind(media_id.is_some().then_some(media_id.clone()).flatten())
                .push_bind(media.and_then(|x| x.mime_type.clone()))
                .push_bind(media.and_then(|x| x.sha256.clone()))
                .push_bind(media_id.is_some())
                .push_bind(m.timestamp)
                .push_bind(status)
                .push_bind(status.map(|_| m.timestamp));
        });
        // A status seen before the history named this message left only a stub: fill it in. A
        // media follow-up that arrived before its chunk left no status: take the chunk's.
        qb.push(
            " ON CONFLICT(wamid) DO UPDATE SET
                origin = CASE WHEN message.content_known = 0 THEN 'history' ELSE message.origin END,
                direction = CASE WHEN message.content_known = 0 THEN excluded.direction ELSE message.direction END,
                type = CASE WHEN message.content_known = 0 THEN excluded.type ELSE message.type END,
                text = CASE WHEN message.content_known = 0 THEN excluded.text ELSE message.text END,
                timestamp = CASE WHEN message.content_known = 0 THEN excluded.timestamp ELSE message.timestamp END,
                contact_id = COALESCE(message.contact_id, excluded.contact_id),
                status = COALESCE(message.status, excluded.status),
                status_at = COALESCE(message.status_at, excluded.status_at),
                content_known = 1
              WHERE message.content_known = 0 OR message.status IS NULL",
        );
        qb.build().execute(&mut *conn).await?;
    }
    if let Some(contact_id) = contact {
        let last: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, timestamp FROM message WHERE contact_id = ? ORDER BY timestamp DESC, id DESC LIMIT 1",
        )
        .bind(contact_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((id, at)) = last {
            // History is the past: no unread flags, no service window, no automation.
            touch_conversation(conn, contact_id, id, at, Touch::default()).await?;
        }
    }
    Ok(())
}

/// Media for a history message that first came as `media_placeholder` (older than 14 days).
async fn apply_media_followup(conn: &mut SqliteConnection, business: Option<&str>, m: &WaMessage) -> sqlx::Result<()> {
    let media = m.media();
    let updated = sqlx::query(
        "UPDATE message SET type = ?, media_id = ?, media_mime = ?, media_sha256 = ?, media_available = 1,
                text = COALESCE(text, ?)
         WHERE wamid = ?",
    )
    .bind(&m.kind)
    .bind(media.and_then(|x| x.id.clone()))
    .bind(media.and_then(|x| x.mime_type.clone()))
    .bind(media.and_then(|x| x.sha256.clone()))
    .bind(media.and_then(|x| x.caption.clone()))
    .bind(&m.id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated > 0 {
        return Ok(());
    }
    // The placeholder has not arrived (yet): keep the message so nothing is lost.
    let outbound = is_business(business, &m.from);
    let who = if outbound {
        Who::new(m.to.as_deref(), m.to_user_id.as_deref())
    } else {
        Who::new(Some(&m.from), m.from_user_id.as_deref())
    };
    let contact = contacts::upsert(conn, &who, "history", m.timestamp).await?;
    let row = Row {
        wamid: &m.id,
        contact_id: contact,
        direction: if outbound { "outbound" } else { "inbound" },
        origin: "history",
        kind: &m.kind,
        text: m.display_text().map(Cow::into_owned),
        media,
        timestamp: m.timestamp,
        status: None,
        referral: None,
    };
    if let (Some(id), Some(c)) = (insert_message(conn, &row).await?, contact) {
        touch_conversation(conn, c, id, m.timestamp, Touch::default()).await?;
    }
    Ok(())
}

async fn apply_state_sync(conn: &mut SqliteConnection, v: StateSyncValue, at: i64) -> sqlx::Result<()> {
    for item in &v.state_sync {
        let Some(c) = item.contact.as_ref().filter(|_| item.kind == "contact") else {
            continue;
        };
        let ts = item.metadata.timestamp.unwrap_or(at);
        let mut who = Who::new(c.phone_number.as_deref(), c.user_id.as_deref()).profile(
            None,
            c.username.as_deref(),
            c.country_code.as_deref(),
        );
        who.name = crate::phone::non_empty(c.full_name.as_deref()).or(crate::phone::non_empty(c.first_name.as_deref()));
        let Some(id) = contacts::upsert(conn, &who, "state_sync", ts).await? else {
            continue;
        };
        match item.action.as_str() {
            "remove" => {
                sqlx::query("UPDATE contact SET removed_at = ? WHERE id = ? AND removed_at IS NULL")
                    .bind(ts)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {
                sqlx::query("UPDATE contact SET removed_at = NULL WHERE id = ? AND removed_at < ?")
                    .bind(id)
                    .bind(ts)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn apply_account_update(
    conn: &mut SqliteConnection,
    waba: &str,
    v: AccountUpdateValue,
    at: i64,
) -> sqlx::Result<()> {
    note_account(conn, waba, None).await?;
    let reason = v.disconnection_info.as_ref().and_then(|d| d.reason.clone());
    let Some(update) = account_event(&v, reason.as_deref()) else {
        tracing::info!(event = %v.event, "account update recorded in the journal only");
        return Ok(());
    };
    if let Some(state) = update.link {
        // Link events can arrive late: only a newer one changes the state.
        sqlx::query(
            "UPDATE account SET link_state = ?, link_reason = ?, link_changed_at = ?
             WHERE id = 1 AND (link_changed_at IS NULL OR link_changed_at <= ?)",
        )
        .bind(state)
        .bind(
            reason
                .clone()
                .or_else(|| (state != "connected").then(|| v.event.clone())),
        )
        .bind(at)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    if let Some((title, detail)) = update.tell {
        // Sending stopped: an urgent alarm (an OS notification and the dashboard); otherwise a notice.
        let (kind, urgency) = if update.link.is_some_and(|s| s != "connected") {
            ("link_dropped", "urgent")
        } else {
            ("account_notice", "normal")
        };
        sqlx::query(
            "INSERT INTO reminder (kind, urgency, source_ref, title, detail, due_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(source_ref) DO NOTHING",
        )
        .bind(kind)
        .bind(urgency)
        .bind(format!("{}:{}:{at}", kind, v.event))
        .bind(title)
        .bind(detail)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What an `account_update` event means for the link and what the owner is told.
struct AccountEvent {
    /// The new link state, when the event changes whether sending works.
    link: Option<&'static str>,
    /// A title and a sentence for the owner.
    tell: Option<(&'static str, String)>,
}

/// Meta's `account_update` events in the owner's words (DESIGN §4). An unknown disconnect reason
/// still means "disconnected"; an unknown event is kept in the journal only.
fn account_event(v: &AccountUpdateValue, reason: Option<&str>) -> Option<AccountEvent> {
    let dropped = "WhatsApp API disconnected from your number";
    let stopped = |title, detail: String| AccountEvent {
        link: Some("dropped"),
        tell: Some((title, detail)),
    };
    let info = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|i| format!(" ({})", summary(i)))
            .filter(|s| s != " ()")
            .unwrap_or_default()
    };
    Some(match v.event.as_str() {
        "PARTNER_REMOVED" => stopped(
            dropped,
            match reason {
                Some("PRIMARY_INACTIVITY") => "Meta disconnected the API because the WhatsApp Business app was not opened for about 14 days. Open the app on the phone, then reconnect the number.".into(),
                Some("COMPANION_INACTIVITY") => "Meta disconnected the API because a linked device was not used for about 30 days. Open the WhatsApp Business app on the phone, then reconnect the number.".into(),
                Some("BUSINESS_DOWNGRADE") => "The number was moved back to the plain WhatsApp Business app, so the API was disconnected. Reconnect it in Settings to send from Coexist again.".into(),
                Some("ACCOUNT_DISCONNECTED") => "The number was disconnected from the API in the WhatsApp Business app (Settings › Account › Business Platform). Reconnect it in Settings.".into(),
                Some("CHANGE_NUMBER") => "The business changed its phone number in the WhatsApp Business app, which disconnects the API. Connect the new number in Settings.".into(),
                Some("USER_RE_REGISTERED") => "WhatsApp Business was registered again on a phone, which disconnects the API. Reconnect the number in Settings (the history is not synced again).".into(),
                Some(r) => format!("Meta disconnected the API from this number ({r}). Reconnect it in Settings."),
                None => "Meta disconnected the API from this number. Reconnect it in Settings.".into(),
            },
        ),
        "ACCOUNT_OFFBOARDED" => AccountEvent {
            link: Some("offboarded"),
            tell: Some((
                "WhatsApp API messaging suspended",
                "Meta suspended API messaging for this number (offboarded). Every pending send waits until the number is reconnected; the phone app keeps working.".into(),
            )),
        },
        "ACCOUNT_RECONNECTED" => AccountEvent {
            link: Some("connected"),
            tell: None,
        },
        "PARTNER_APP_UNINSTALLED" => stopped(
            "Coexist's access to WhatsApp was removed",
            "The Coexist app was removed from the WhatsApp Business Account in Meta's settings, so nothing can be sent or received through the API. Connect the number again in Settings.".into(),
        ),
        "ACCOUNT_DELETED" => stopped(
            "WhatsApp Business Account deleted",
            "Meta reports that the WhatsApp Business Account was deleted. Sending has stopped; the mirror keeps everything received so far.".into(),
        ),
        "DISABLED_UPDATE" => stopped(
            "WhatsApp Business Account disabled",
            format!(
                "Meta disabled the WhatsApp Business Account{}. Sending has stopped; Meta's Business Support Home says why and how to appeal.",
                info(&v.ban_info)
            ),
        ),
        "ACCOUNT_RESTRICTION" => AccountEvent {
            link: None,
            tell: Some((
                "Meta restricted this WhatsApp account",
                format!(
                    "Meta restricted what this account may send{}. Some messages may be refused until it is lifted; Meta's Business Support Home has the details.",
                    info(&v.restriction_info)
                ),
            )),
        },
        "ACCOUNT_VIOLATION" => AccountEvent {
            link: None,
            tell: Some((
                "Meta reports a policy violation",
                format!(
                    "Meta reports a violation of its WhatsApp policies on this account{}. Repeated violations lead to limits or a ban; Meta's Business Support Home has the details.",
                    info(&v.violation_info)
                ),
            )),
        },
        _ => return None,
    })
}

/// The string values of a small JSON object, for a sentence: `DISABLE, 2026-11-02`.
fn summary(v: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let mut walk = vec![v];
    while let Some(x) = walk.pop() {
        match x {
            serde_json::Value::String(s) => out.push(s.replace('_', " ").to_lowercase()),
            serde_json::Value::Number(n) => out.push(n.to_string()),
            serde_json::Value::Array(a) => walk.extend(a.iter().rev()),
            serde_json::Value::Object(o) => walk.extend(o.values().collect::<Vec<_>>().into_iter().rev()),
            _ => {}
        }
    }
    out.join(", ")
}

async fn apply_user_preferences(conn: &mut SqliteConnection, v: UserPreferencesValue, at: i64) -> sqlx::Result<()> {
    for p in &v.user_preferences {
        let kind = match p.value.to_ascii_lowercase().as_str() {
            "stop" => "opt_out",
            "resume" => "opt_in",
            _ => continue,
        };
        let who = who_from(&v.contacts, p.wa_id.as_deref(), p.user_id.as_deref());
        let ts = p.timestamp.unwrap_or(at);
        let Some(contact) = contacts::upsert(conn, &who, "message", ts).await? else {
            continue;
        };
        let source_ref = format!(
            "user_preferences:{}:{}:{ts}:{kind}",
            who.wa_id.as_deref().unwrap_or(""),
            who.bsuid.as_deref().unwrap_or("")
        );
        let detail = p.detail.clone().or(p.category.clone());
        record_consent(
            conn,
            contact,
            kind,
            "user_preferences",
            &source_ref,
            detail.as_deref(),
            ts,
        )
        .await?;
    }
    Ok(())
}

/// A template was approved, rejected, paused… by Meta: the local copy follows.
async fn apply_template_status(conn: &mut SqliteConnection, v: TemplateStatusValue) -> sqlx::Result<()> {
    let id = v.message_template_id.as_ref().map(|i| match i {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    if v.event.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE template SET status = ?1
         WHERE (?2 IS NOT NULL AND id = ?2) OR (name = ?3 AND language = ?4)",
    )
    .bind(v.event.to_uppercase())
    .bind(id)
    .bind(&v.message_template_name)
    .bind(&v.message_template_language)
    .execute(&mut *conn)
    .await?;
    if let Some(reason) = v.reason.filter(|r| r != "NONE") {
        tracing::info!(template = ?v.message_template_name, %reason, "template status changed");
    }
    Ok(())
}
