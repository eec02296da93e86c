//! Customer messages and the owner's phone echoes: one row each, the conversation touched,
//! opt-out keywords recorded as consent.

use super::*;

pub(super) async fn apply_messages(
    conn: &mut SqliteConnection,
    waba: &str,
    v: MessagesValue,
    rules: &Rules,
) -> sqlx::Result<()> {
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
        let who =
            who_from(&v.contacts, Some(&m.from), m.from_user_id.as_deref()).parent(m.from_parent_user_id.as_deref());
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

pub(super) async fn apply_echoes(
    conn: &mut SqliteConnection,
    waba: &str,
    v: EchoesValue,
    rules: &Rules,
) -> sqlx::Result<()> {
    note_account(conn, waba, v.metadata.as_ref()).await?;
    for m in &v.message_echoes {
        let who =
            who_from(&v.contacts, m.to.as_deref(), m.to_user_id.as_deref()).parent(m.to_parent_user_id.as_deref());
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

pub(super) async fn record_consent(
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

/// How long automation stays out of a chat after the Business Agent's last standby message.
const AGENT_HOLD_SECS: i64 = 24 * 3600;

/// `standby`: the customer's messages in chats Meta's Business Agent answers. They are mirrored
/// like any customer message (they open the service window); the chat is marked as the agent's
/// and automation stays out of it, so the customer does not get two answers.
pub(super) async fn apply_standby(
    conn: &mut SqliteConnection,
    waba: &str,
    v: MessagesValue,
    rules: &Rules,
) -> sqlx::Result<()> {
    let held: Vec<(Who, i64)> = v
        .messages
        .iter()
        .map(|m| {
            (
                who_from(&v.contacts, Some(&m.from), m.from_user_id.as_deref()),
                m.timestamp,
            )
        })
        .collect();
    apply_messages(conn, waba, v, rules).await?;
    for (who, at) in held {
        if let Some(contact) = contacts::upsert(conn, &who, "message", at).await? {
            sqlx::query(
                "UPDATE conversation SET agent_since = COALESCE(agent_since, ?1),
                        automation_paused_until = MAX(COALESCE(automation_paused_until, 0), ?2)
                 WHERE contact_id = ?3",
            )
            .bind(at)
            .bind(at + AGENT_HOLD_SECS)
            .bind(contact)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// `messaging_handovers`: the chat passed to this app (the agent stops) or the agent took it.
pub(super) async fn apply_handovers(conn: &mut SqliteConnection, v: HandoversValue, at: i64) -> sqlx::Result<()> {
    for h in &v.handovers {
        let who = who_from(&v.contacts, h.from.as_deref(), h.user_id.as_deref());
        let Some(contact) = contacts::upsert(conn, &who, "message", h.timestamp.unwrap_or(at)).await? else {
            continue;
        };
        let since = match (&h.pass_thread_control, &h.take_thread_control) {
            (Some(_), _) => None,
            (None, Some(_)) => Some(h.timestamp.unwrap_or(at)),
            (None, None) => continue,
        };
        sqlx::query(
            "INSERT INTO conversation (contact_id, agent_since) VALUES (?1, ?2)
             ON CONFLICT(contact_id) DO UPDATE SET agent_since = excluded.agent_since",
        )
        .bind(contact)
        .bind(since)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
