//! The once-only history import (threads in chunks, media placeholders merged with their
//! follow-up) and the contact sync.

use super::*;

/// Rows per multi-row insert of history messages (13 columns each, under SQLite's 32,766 variables).
const HISTORY_BATCH: usize = 1000;

/// `at`: when Meta sent this body. A media id in a history follow-up is new then, so its 7 days
/// (1 hour under No Storage) count from `at`, not from the message's own date up to 14 days
/// before onboarding, or every such photo would expire before its first download.
pub(super) async fn apply_history(
    conn: &mut SqliteConnection,
    waba: &str,
    v: HistoryValue,
    at: i64,
) -> sqlx::Result<()> {
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
            for m in thread
                .messages
                .iter()
                .filter(|m| m.media().is_some_and(|x| x.id.is_some()))
            {
                media_deadline_from(conn, &m.id, at).await?;
            }
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
    for m in v.message_echoes.iter().chain(v.messages.iter()) {
        apply_media_followup(conn, business.as_deref(), m).await?;
        media_deadline_from(conn, &m.id, at).await?;
    }
    Ok(())
}

/// Gives a history message's queued download Meta's full window from `at`.
async fn media_deadline_from(conn: &mut SqliteConnection, wamid: &str, at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE media_download SET expires_at = MAX(expires_at, ?1 + CASE WHEN
                (SELECT value FROM setting WHERE key = 'media.no_storage') = '1' THEN ?3 ELSE ?4 END)
         WHERE state = 'queued' AND message_id = (SELECT id FROM message WHERE wamid = ?2)",
    )
    .bind(at)
    .bind(wamid)
    .bind(crate::media::NO_STORAGE_TTL_SECS)
    .bind(crate::media::MEDIA_TTL_SECS)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) fn is_business(business: Option<&str>, from: &str) -> bool {
    match (business, normalize_wa_id(Some(from))) {
        (Some(b), Some(f)) => b == f,
        _ => false,
    }
}

pub(super) async fn apply_history_thread(
    conn: &mut SqliteConnection,
    business: Option<&str>,
    thread: &HistoryThread,
) -> sqlx::Result<()> {
    let ctx = &thread.context;
    // A thread is named by the customer's phone, or by their BSUID when they withhold it.
    let thread_bsuid = thread.id.contains('.').then_some(thread.id.as_str());
    let wa = ctx
        .wa_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(Some(thread.id.as_str()).filter(|_| thread_bsuid.is_none()));
    let who = Who::new(wa, ctx.user_id.as_deref().or(thread_bsuid)).profile(None, ctx.username.as_deref(), None);
    let first_at = thread.messages.iter().map(|m| m.timestamp).min().unwrap_or(0);
    let contact = contacts::upsert(conn, &who, "history", first_at).await?;
    for batch in thread.messages.chunks(HISTORY_BATCH) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO message (wamid, contact_id, direction, origin, type, text, media_id, media_mime, media_sha256,
                                  media_available, timestamp, status, status_at, media_filename) ",
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
                .push_bind(status.map(|_| m.timestamp))
                .push_bind(media.and_then(|x| x.filename.clone()));
        });
        // A status seen before the history named this message left only a stub: fill it in. A
        // media follow-up that arrived before its chunk left no status: take the chunk's. A
        // follow-up in the thread form (the same wamid, now with its media id) fills the
        // placeholder's media, whichever came first.
        qb.push(
            " ON CONFLICT(wamid) DO UPDATE SET
                origin = CASE WHEN message.content_known = 0 THEN 'history' ELSE message.origin END,
                direction = CASE WHEN message.content_known = 0 THEN excluded.direction ELSE message.direction END,
                type = CASE WHEN message.content_known = 0 OR (message.media_id IS NULL AND excluded.media_id IS NOT NULL)
                            THEN excluded.type ELSE message.type END,
                text = CASE WHEN message.content_known = 0 THEN excluded.text ELSE COALESCE(message.text, excluded.text) END,
                media_id = COALESCE(message.media_id, excluded.media_id),
                media_mime = CASE WHEN message.media_id IS NULL AND excluded.media_id IS NOT NULL
                                  THEN excluded.media_mime ELSE message.media_mime END,
                media_sha256 = CASE WHEN message.media_id IS NULL AND excluded.media_id IS NOT NULL
                                    THEN excluded.media_sha256 ELSE message.media_sha256 END,
                media_filename = COALESCE(message.media_filename, excluded.media_filename),
                media_available = MAX(message.media_available, excluded.media_available),
                timestamp = CASE WHEN message.content_known = 0 THEN excluded.timestamp ELSE message.timestamp END,
                contact_id = COALESCE(message.contact_id, excluded.contact_id),
                status = COALESCE(message.status, excluded.status),
                status_at = COALESCE(message.status_at, excluded.status_at),
                content_known = 1
              WHERE message.content_known = 0 OR message.status IS NULL
                 OR (message.media_id IS NULL AND excluded.media_id IS NOT NULL)",
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
pub(super) async fn apply_media_followup(
    conn: &mut SqliteConnection,
    business: Option<&str>,
    m: &WaMessage,
) -> sqlx::Result<()> {
    let media = m.media();
    let updated = sqlx::query(
        "UPDATE message SET type = ?, media_id = COALESCE(?, media_id), media_mime = COALESCE(?, media_mime),
                media_sha256 = COALESCE(?, media_sha256), media_available = media_id IS NOT NULL OR ? IS NOT NULL,
                media_filename = COALESCE(?, media_filename), text = COALESCE(text, ?)
         WHERE wamid = ?",
    )
    .bind(&m.kind)
    .bind(media.and_then(|x| x.id.clone()))
    .bind(media.and_then(|x| x.mime_type.clone()))
    .bind(media.and_then(|x| x.sha256.clone()))
    .bind(media.and_then(|x| x.id.clone()))
    .bind(media.and_then(|x| x.filename.clone()))
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
        Who::new(m.to.as_deref(), m.to_user_id.as_deref()).parent(m.to_parent_user_id.as_deref())
    } else {
        Who::new(Some(&m.from), m.from_user_id.as_deref()).parent(m.from_parent_user_id.as_deref())
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

pub(super) async fn apply_state_sync(conn: &mut SqliteConnection, v: StateSyncValue, at: i64) -> sqlx::Result<()> {
    for item in &v.state_sync {
        let Some(c) = item.contact.as_ref().filter(|_| item.kind == "contact") else {
            continue;
        };
        let ts = item.metadata.timestamp.unwrap_or(at);
        let mut who = Who::new(c.phone_number.as_deref(), c.user_id.as_deref())
            .profile(None, c.username.as_deref(), c.country_code.as_deref())
            .parent(c.parent_user_id.as_deref());
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
