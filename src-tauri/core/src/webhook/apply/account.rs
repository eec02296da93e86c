//! Account-level events: link changes and their reasons, user preferences (marketing opt-outs),
//! template reviews.

use super::*;

pub(super) async fn apply_account_update(
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

/// Meta's `account_update` events in the owner's words (DESIGN §4). An unknown disconnect reason
/// still means "disconnected"; an unknown event is kept in the journal only.
pub(super) fn account_event(v: &AccountUpdateValue, reason: Option<&str>) -> Option<AccountEvent> {
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
pub(super) fn summary(v: &serde_json::Value) -> String {
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

pub(super) async fn apply_user_preferences(
    conn: &mut SqliteConnection,
    v: UserPreferencesValue,
    at: i64,
) -> sqlx::Result<()> {
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
pub(super) async fn apply_template_status(conn: &mut SqliteConnection, v: TemplateStatusValue) -> sqlx::Result<()> {
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
