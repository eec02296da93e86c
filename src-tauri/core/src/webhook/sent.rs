//! What Coexist sent through the API, as the mirror records it. The dispatcher writes the API
//! message and a journal record of it in one transaction; the applier applies that record like a
//! webhook. Live, the message is already there and applying changes nothing; in a replay of the
//! journal the record rebuilds the message (text, template, category), so the replayed mirror
//! and its bill are the live ones.

use super::contacts::{self, Who};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

/// The `object` of a sent record: no Meta webhook carries it.
pub(crate) const OBJECT: &str = "coexist_sent";

/// An API message Meta accepted: what the mirror needs to show and bill it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SentMessage {
    pub wamid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bsuid: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_data: Option<String>,
    /// A file sent: Meta's media id, its type, and the stored copy's sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_sha256: Option<String>,
    /// When Meta accepted it (unix seconds): the message's time in the mirror.
    pub at: i64,
}

#[derive(Serialize, Deserialize)]
struct SentBody {
    object: String,
    sent: SentMessage,
}

/// A journaled body that is one of our sent records, read back; `None` for anything else.
pub(crate) fn parse(body: &[u8]) -> Option<Result<SentMessage, serde_json::Error>> {
    #[derive(Deserialize)]
    struct Object<'a> {
        #[serde(borrow, default)]
        object: &'a str,
    }
    let probe: Object = serde_json::from_slice(body).ok()?;
    (probe.object == OBJECT).then(|| serde_json::from_slice::<SentBody>(body).map(|b| b.sent))
}

/// Writes the API message (or fills in a placeholder a status created first), and journals the
/// record of it, inside the caller's transaction. Returns the message id when the mirror changed.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    m: &SentMessage,
    contact_id: Option<i64>,
    outbox_id: Option<i64>,
) -> sqlx::Result<Option<i64>> {
    let body = serde_json::to_vec(&SentBody {
        object: OBJECT.into(),
        sent: m.clone(),
    })
    .expect("a sent record serialises");
    super::journal::append_sent(conn, &body, m.at).await?;
    upsert(conn, m, contact_id, outbox_id).await
}

/// The sent record of outbox row `outbox_id`, which Meta took as `wamid`, built from the row, its
/// contact and the upload it names, with the contact's id. The dispatcher writes it on Meta's
/// answer; a status that settles a send whose answer was lost (timeout, 5xx, a crash mid-send)
/// writes it too, so a replay rebuilds that message and its bill like any other.
pub(crate) async fn of_outbox(
    conn: &mut SqliteConnection,
    outbox_id: i64,
    wamid: &str,
    at: i64,
) -> sqlx::Result<Option<(SentMessage, Option<i64>)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        contact_id: Option<i64>,
        known: bool,
        recipient: String,
        kind: String,
        payload: String,
        text: Option<String>,
        template_name: Option<String>,
        template_category: Option<String>,
        callback_token: Option<String>,
        wa_id: Option<String>,
        bsuid: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT o.contact_id, c.id IS NOT NULL AS known, o.recipient, o.kind, o.payload, o.text,
                o.template_name, o.template_category, o.callback_token, c.wa_id, c.bsuid
         FROM outbox o LEFT JOIN contact c ON c.id = o.contact_id WHERE o.id = ?",
    )
    .bind(outbox_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let (wa_id, bsuid) = if r.known {
        (r.wa_id, r.bsuid)
    } else {
        (Some(r.recipient), None)
    };
    // A file: the media id we sent, and the stored copy it was uploaded from.
    let media_id = serde_json::from_str::<serde_json::Value>(&r.payload)
        .ok()
        .and_then(|p| p[r.kind.as_str()]["id"].as_str().map(String::from));
    let upload: Option<(String, String)> = match &media_id {
        Some(id) => {
            sqlx::query_as("SELECT sha256, mime FROM media_upload WHERE media_id = ?")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    let (media_sha256, media_mime) = upload.unzip();
    let m = SentMessage {
        wamid: wamid.to_string(),
        wa_id,
        bsuid,
        kind: r.kind,
        text: r.text,
        template_name: r.template_name,
        template_category: r.template_category,
        callback_data: r.callback_token,
        media_id,
        media_mime,
        media_sha256,
        at,
    };
    Ok(Some((m, r.contact_id)))
}

/// Applies a journaled sent record: a no-op when the dispatcher already wrote the message.
pub(crate) async fn apply(conn: &mut SqliteConnection, m: &SentMessage) -> sqlx::Result<()> {
    let who = Who::new(m.wa_id.as_deref(), m.bsuid.as_deref());
    let contact = contacts::upsert(conn, &who, "manual", m.at).await?;
    upsert(conn, m, contact, None).await?;
    Ok(())
}

/// The one way an API message enters the mirror. A row that a status created first (content
/// unknown) takes the content; a row the dispatcher wrote (it has an outbox id) is left alone.
async fn upsert(
    conn: &mut SqliteConnection,
    m: &SentMessage,
    contact_id: Option<i64>,
    outbox_id: Option<i64>,
) -> sqlx::Result<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO message (wamid, contact_id, direction, origin, type, text, timestamp, template_name,
                              template_category, callback_data, outbox_id, media_id, media_mime, media_sha256,
                              media_available)
         VALUES (?, ?, 'outbound', 'api', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(wamid) DO UPDATE SET type = excluded.type, text = excluded.text,
             media_id = excluded.media_id, media_mime = excluded.media_mime,
             media_sha256 = excluded.media_sha256, media_available = excluded.media_available,
             template_name = excluded.template_name, template_category = excluded.template_category,
             callback_data = excluded.callback_data,
             contact_id = COALESCE(message.contact_id, excluded.contact_id),
             outbox_id = COALESCE(excluded.outbox_id, message.outbox_id), content_known = 1
         WHERE message.content_known = 0 OR message.outbox_id IS NULL AND excluded.outbox_id IS NOT NULL
            -- A status may have filled the content from the outbox first, without the file.
            OR message.media_id IS NULL AND excluded.media_id IS NOT NULL
         RETURNING id",
    )
    .bind(&m.wamid)
    .bind(contact_id)
    .bind(&m.kind)
    .bind(&m.text)
    .bind(m.at)
    .bind(&m.template_name)
    .bind(&m.template_category)
    .bind(&m.callback_data)
    .bind(outbox_id)
    .bind(&m.media_id)
    .bind(&m.media_mime)
    .bind(&m.media_sha256)
    .bind(m.media_id.is_some())
    .fetch_optional(&mut *conn)
    .await?;
    // A file we sent is already stored: nothing to download back.
    if let (Some(id), Some(sha)) = (id, &m.media_sha256) {
        sqlx::query(
            "UPDATE media_download SET state = 'done', error = NULL WHERE message_id = ?
               AND EXISTS (SELECT 1 FROM media_file WHERE sha256 = ?)",
        )
        .bind(id)
        .bind(sha)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(id) = id {
        crate::billing::mark_dirty(conn, id).await?;
        if let Some(contact) = contact_id {
            super::touch_conversation(conn, contact, id, m.at, Default::default()).await?;
            // A message we send takes the chat back from Meta's Business Agent.
            sqlx::query("UPDATE conversation SET agent_since = NULL WHERE contact_id = ? AND agent_since <= ?")
                .bind(contact)
                .bind(m.at)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(id)
}
