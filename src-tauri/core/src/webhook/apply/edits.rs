//! Edits and revokes, from the customer (`messages`) or the phone (`smb_message_echoes`): kept
//! until their original arrives when they come first.

use super::*;

pub(super) fn edit_target(m: &WaMessage) -> Option<(&'static str, &str, Option<&str>)> {
    if let Some(e) = &m.edit {
        return Some(("edit", e.original_message_id.as_str(), e.new_text()));
    }
    m.revoke
        .as_ref()
        .map(|r| ("revoke", r.original_message_id.as_str(), None))
}

/// Keeps an edit or revoke as an event, then applies it if its original is in the mirror.
pub(super) async fn record_edit(
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
pub(super) async fn apply_pending_edits(conn: &mut SqliteConnection, original: &str) -> sqlx::Result<()> {
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
            // The newest edit with readable content wins, whatever order the edits arrived in; an
            // edit whose content could not be read never blanks the message.
            sqlx::query(
                "UPDATE message SET edited = 1, text = COALESCE((SELECT new_text FROM message_edit
                     WHERE original_wamid = ?1 AND kind = 'edit' AND new_text IS NOT NULL
                     ORDER BY at DESC, wamid DESC LIMIT 1), text)
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
