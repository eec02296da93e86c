//! Delivery statuses of what we or the phone sent: they only move forward, and carry Meta's
//! pricing for the ledger.

use super::*;

/// Where a status sits in a message's life; a status never moves a message backwards. `pending`
/// (history: the phone never sent it) comes before `sent`.
pub(super) fn status_rank(s: &str) -> Option<i32> {
    match s {
        "pending" => Some(0),
        "sent" => Some(1),
        "delivered" => Some(2),
        "read" | "played" => Some(3),
        _ => None,
    }
}

/// A status as the mirror stores it, lowercased (history sends `READ`, statuses `read`). History's
/// `ERROR` and `PENDING` are statuses of their own (DESIGN §4), kept as `error` and `pending`.
pub(super) fn known_status(s: &str) -> Option<&'static str> {
    ["sent", "delivered", "read", "played", "failed", "error", "pending"]
        .into_iter()
        .find(|k| s.eq_ignore_ascii_case(k))
}

/// A status that says the message did not go out: history's `error` stands like `failed`.
fn is_failure(s: &str) -> bool {
    matches!(s, "failed" | "error")
}

/// Should `new` replace `current`? A failure stands only while nothing was delivered or read.
pub(super) fn status_advances(current: Option<&str>, new: &str) -> bool {
    match (current, new) {
        (None, _) => true,
        (Some(c), n) if is_failure(c) => status_rank(n).is_some_and(|r| r >= 2),
        (Some(c), n) if is_failure(n) => status_rank(c).is_none_or(|r| r < 2),
        (Some(c), n) => status_rank(n) > status_rank(c),
    }
}

pub(super) async fn apply_status(conn: &mut SqliteConnection, s: &Status) -> sqlx::Result<()> {
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
            // The mirror learns what was sent from the outbox row, and the journal keeps the
            // record of it, so a replay (which has no outbox) rebuilds the message and its bill.
            if let Some((sent, contact)) = crate::webhook::sent::of_outbox(conn, outbox_id, &s.id, s.timestamp).await? {
                crate::webhook::sent::record(conn, &sent, contact, Some(outbox_id)).await?;
            }
        }
    }
    Ok(())
}
