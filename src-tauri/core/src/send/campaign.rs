//! Campaigns: an approved template to an audience chosen once and frozen (with each recipient's
//! parameters), launched into the outbox exactly once per recipient, paused, resumed, cancelled,
//! and stopped by Meta's stop codes.

use super::compose::{compose_template_with, HeaderMedia};
use crate::audit::Action;
use crate::error::{CoreError, Result};
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// What the owner can do to a campaign once it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    Pause,
    Resume,
    Cancel,
}

/// Who a campaign goes to.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub all: bool,
    pub vip: bool,
    pub tag: Option<String>,
    pub opted_in: bool,
    /// `phone,<param>…` rows: recipients with their own parameters.
    pub csv: Option<String>,
    /// Only contacts with a message (either way) since this time (unix seconds).
    pub active_since: Option<i64>,
    /// Only contacts with no message since this time (win-back campaigns).
    pub quiet_since: Option<i64>,
}

impl Audience {
    /// The builder's choice by name: `all`, `vip`, `opted_in` or `tag` (with its tag).
    pub fn chosen(choice: &str, tag: Option<String>) -> Audience {
        Audience {
            all: choice == "all",
            vip: choice == "vip",
            opted_in: choice == "opted_in",
            tag: tag.filter(|_| choice == "tag"),
            ..Audience::default()
        }
    }
}

/// Where a campaign stands; `stopped` is Meta's doing (a stop code), the rest the owner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum CampaignState {
    Draft,
    Running,
    Paused,
    Cancelled,
    Stopped,
}

crate::states::named!(CampaignState {
    Draft => "draft",
    Running => "running",
    Paused => "paused",
    Cancelled => "cancelled",
    Stopped => "stopped",
});

/// What became of one recipient: their outbox row's state, or skipped at launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum RecipientState {
    Queued,
    Dispatching,
    Accepted,
    Failed,
    Uncertain,
    Cancelled,
    Skipped,
}

crate::states::named!(RecipientState {
    Queued => "queued",
    Dispatching => "dispatching",
    Accepted => "accepted",
    Failed => "failed",
    Uncertain => "uncertain",
    Cancelled => "cancelled",
    Skipped => "skipped",
});

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CampaignStatus {
    pub id: i64,
    pub name: String,
    pub template: String,
    pub state: CampaignState,
    pub stopped_reason: Option<String>,
    pub total: i64,
    pub queued: i64,
    pub dispatching: i64,
    pub accepted: i64,
    pub failed: i64,
    pub uncertain: i64,
    pub cancelled: i64,
    /// Recipients the launch did not queue (opted out since creation, no phone number), with the
    /// reason kept per recipient.
    pub skipped: i64,
    pub delivered: i64,
    pub read: i64,
}

/// Template parameters: `("1", "Asha")` positional, `("first_name", "Asha")` named.
pub type Params = Vec<(String, String)>;

/// Reads a recipients CSV: a `phone` column (a phone number, or the BSUID of a customer known
/// only by a username; `wa_id`, `bsuid`, `user_id` and `recipient` are taken as its heading too)
/// and one column per parameter. A bad row names its line.
pub fn parse_recipients_csv(text: &str) -> Result<Vec<(String, Params)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CoreError::Invalid(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let phone_col = headers
        .iter()
        .position(|h| {
            ["phone", "wa_id", "bsuid", "user_id", "recipient"]
                .iter()
                .any(|k| h.eq_ignore_ascii_case(k))
        })
        .ok_or_else(|| CoreError::Invalid("the CSV needs a `phone` column".into()))?;
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| CoreError::Invalid(format!("line {line}: {e}")))?;
        let phone = row.get(phone_col).unwrap_or_default();
        if !crate::phone::looks_like_bsuid(phone)
            && crate::phone::normalize_wa_id(Some(phone)).is_none_or(|d| d.len() < 7)
        {
            return Err(CoreError::Invalid(format!(
                "line {line}: {phone:?} is neither a phone number nor a WhatsApp user id (BSUID)"
            )));
        }
        let params = headers
            .iter()
            .zip(row.iter())
            .enumerate()
            .filter(|(j, _)| *j != phone_col)
            .map(|(_, (h, v))| (h.to_string(), v.to_string()))
            .collect();
        out.push((phone.to_string(), params));
    }
    Ok(out)
}

impl Store {
    /// Creates a draft campaign with its audience and parameters frozen now; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_campaign(
        &self,
        name: &str,
        template: &str,
        language: &str,
        audience: &Audience,
        shared_params: &[(String, String)],
        header: Option<&HeaderMedia>,
        scheduled_at: Option<i64>,
        actor: &str,
        now: i64,
    ) -> Result<(i64, usize)> {
        // A time in milliseconds (or a typo) would be accepted and never come: refuse it.
        if let Some(at) = scheduled_at {
            if !(946_684_800..=4_102_444_800).contains(&at) {
                return Err(CoreError::Invalid(format!(
                    "the start time {at} is not a date between 2000 and 2100 in unix seconds{}",
                    if at > 4_102_444_800 {
                        " (is it in milliseconds?)"
                    } else {
                        ""
                    }
                )));
            }
        }
        // Who: from the CSV, or from the filters over the contacts.
        if audience.csv.is_none() && !(audience.all || audience.vip || audience.opted_in || audience.tag.is_some()) {
            return Err(CoreError::Invalid(
                "choose an audience: all, VIP, a tag, opted-in, or a CSV".into(),
            ));
        }
        let mut people: Vec<(String, Params)> = match &audience.csv {
            Some(text) => parse_recipients_csv(text)?,
            None => {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT c.wa_id FROM contact c
                     WHERE c.wa_id IS NOT NULL AND c.removed_at IS NULL
                       AND (NOT ?3 OR c.vip = 1)
                       AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ?2))
                       AND (NOT ?4 OR (SELECT kind FROM consent WHERE contact_id = c.id ORDER BY at DESC, id DESC LIMIT 1) = 'opt_in')
                       AND (?5 IS NULL OR (SELECT last_message_at FROM conversation WHERE contact_id = c.id) >= ?5)
                       AND (?6 IS NULL OR COALESCE((SELECT last_message_at FROM conversation WHERE contact_id = c.id), 0) < ?6)
                     ORDER BY c.id",
                )
                .bind(audience.all) // ?1 only documents the choice: "all" adds no condition
                .bind(&audience.tag)
                .bind(audience.vip)
                .bind(audience.opted_in)
                .bind(audience.active_since)
                .bind(audience.quiet_since)
                .fetch_all(self.pool())
                .await?;
                rows.into_iter().map(|w| (w, Vec::new())).collect()
            }
        };
        if people.is_empty() {
            return Err(CoreError::CannotSend("the audience is empty: nobody matches".into()));
        }
        for (_, params) in &mut people {
            for p in shared_params {
                if !params.iter().any(|(k, _)| k == &p.0) {
                    params.push(p.clone());
                }
            }
        }
        // Every recipient must pass the template rules now (approved, consent for marketing).
        let mut frozen = Vec::with_capacity(people.len());
        let mut skipped = 0usize;
        for (phone, params) in &people {
            match compose_template_with(self, phone, template, language, params, header, now).await {
                Ok(c) => frozen.push((c.contact_id, params.clone())),
                Err(CoreError::CannotSend(why)) if why.contains("opted") => skipped += 1,
                Err(e) => return Err(e),
            }
        }
        if frozen.is_empty() {
            return Err(CoreError::CannotSend(format!(
                "nobody in the audience may receive {template}: {skipped} without marketing consent"
            )));
        }
        let description = format!(
            "{}{}{}{}{}",
            if audience.csv.is_some() { "csv " } else { "" },
            if audience.all { "all " } else { "" },
            if audience.vip { "vip " } else { "" },
            audience.tag.as_deref().map(|t| format!("tag:{t} ")).unwrap_or_default(),
            if audience.opted_in { "opted-in" } else { "" }
        );
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO campaign (name, template_name, language, audience, scheduled_at, created_at, header_media)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(template)
        .bind(language)
        .bind(description.trim())
        .bind(scheduled_at)
        .bind(now)
        .bind(header.map(|h| serde_json::to_string(h).expect("header serialises")))
        .fetch_one(&mut *tx)
        .await?;
        for (contact, params) in &frozen {
            sqlx::query("INSERT OR IGNORE INTO campaign_recipient (campaign_id, contact_id, params) VALUES (?, ?, ?)")
                .bind(id)
                .bind(contact)
                .bind(serde_json::to_string(params).expect("params serialise"))
                .execute(&mut *tx)
                .await?;
        }
        crate::audit::append_with(
            &mut tx,
            self.sealing().as_ref(),
            now,
            actor,
            crate::audit::Action::CampaignCreate,
            Some(&format!("campaign:{id}")),
            &serde_json::json!({"recipients": frozen.len(), "template": template, "header": header.map(|h| &h.kind)}),
        )
        .await?;
        tx.commit().await?;
        Ok((id, frozen.len()))
    }

    /// Puts every recipient's message in the outbox, once: a launch interrupted by a crash can be
    /// repeated and only adds what is missing, and two launches at once (the window and the CLI)
    /// queue nobody twice: each recipient is claimed inside an immediate transaction, and the
    /// database refuses a second outbox row for one (campaign, contact). A recipient who may no
    /// longer receive it (opted out since the campaign was created, no phone number) is skipped
    /// and recorded with the reason; the others go out. Returns how many were queued by this call.
    pub async fn launch_campaign(&self, id: i64, actor: &str, now: i64) -> Result<usize> {
        let (template, language, scheduled_at, header): (String, String, Option<i64>, Option<String>) =
            sqlx::query_as("SELECT template_name, language, scheduled_at, header_media FROM campaign WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| CoreError::Invalid(format!("there is no campaign #{id}")))?;
        let header: Option<HeaderMedia> = header.as_deref().and_then(|h| serde_json::from_str(h).ok());
        // The state moves in one statement that names the states it may come from.
        let started = sqlx::query(
            "UPDATE campaign SET state = 'running', launched_at = COALESCE(launched_at, ?)
             WHERE id = ? AND state IN ('draft', 'running')",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if started == 0 {
            let state: String = sqlx::query_scalar("SELECT state FROM campaign WHERE id = ?")
                .bind(id)
                .fetch_one(self.pool())
                .await?;
            return Err(CoreError::Invalid(format!(
                "campaign #{id} is {state}; only a draft can be launched"
            )));
        }
        let pending: Vec<(i64, Option<String>, Option<String>, String)> = sqlx::query_as(
            "SELECT r.contact_id, c.wa_id, c.bsuid, r.params FROM campaign_recipient r JOIN contact c ON c.id = r.contact_id
             WHERE r.campaign_id = ? AND r.outbox_id IS NULL AND r.skipped_reason IS NULL ORDER BY r.contact_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        let start_ms = scheduled_at.map(|s| s.saturating_mul(1000)).unwrap_or(super::now_ms());
        let (mut added, mut skipped) = (0usize, 0usize);
        for chunk in pending.chunks(500) {
            // Composed outside the transaction (it reads templates, consent and windows); the
            // dispatcher checks consent again before the send.
            let mut composed = Vec::with_capacity(chunk.len());
            for (contact, wa, bsuid, params) in chunk {
                let params: Vec<(String, String)> = serde_json::from_str(params).unwrap_or_default();
                let to = wa.as_deref().or(bsuid.as_deref()).unwrap_or_default();
                let c = match compose_template_with(self, to, &template, &language, &params, header.as_ref(), now).await
                {
                    Ok(c) => Ok(c),
                    Err(CoreError::CannotSend(why)) => Err(why),
                    Err(e) => return Err(e),
                };
                composed.push((*contact, c));
            }
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            for (contact, c) in composed {
                // Claimed under the write lock: another launch may have queued it meanwhile.
                let still_pending: bool = sqlx::query_scalar(
                    "SELECT outbox_id IS NULL AND skipped_reason IS NULL FROM campaign_recipient
                     WHERE campaign_id = ? AND contact_id = ?",
                )
                .bind(id)
                .bind(contact)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(false);
                if !still_pending {
                    continue;
                }
                match c {
                    Ok(c) => {
                        let oid = super::outbox::insert_outbox(&mut tx, &c, Some(id), now, start_ms).await?;
                        sqlx::query(
                            "UPDATE campaign_recipient SET outbox_id = ?
                             WHERE campaign_id = ? AND contact_id = ? AND outbox_id IS NULL",
                        )
                        .bind(oid)
                        .bind(id)
                        .bind(contact)
                        .execute(&mut *tx)
                        .await?;
                        added += 1;
                    }
                    Err(why) => {
                        sqlx::query(
                            "UPDATE campaign_recipient SET skipped_reason = ?
                             WHERE campaign_id = ? AND contact_id = ? AND outbox_id IS NULL",
                        )
                        .bind(&why)
                        .bind(id)
                        .bind(contact)
                        .execute(&mut *tx)
                        .await?;
                        skipped += 1;
                    }
                }
            }
            tx.commit().await?;
        }
        self.audit(
            now,
            actor,
            Action::CampaignLaunch,
            Some(&format!("campaign:{id}")),
            serde_json::json!({"queued": added, "skipped": skipped}),
        )
        .await?;
        Ok(added)
    }

    /// Every campaign, newest first, with its counts (for the campaigns view).
    pub async fn campaigns(&self) -> Result<Vec<CampaignStatus>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM campaign ORDER BY id DESC LIMIT 200")
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.campaign_status(id).await?);
        }
        Ok(out)
    }

    /// Pause, resume or cancel (cancel also withdraws what is still queued), by `actor`: the
    /// state change, the withdrawal and the audit entry commit together or not at all.
    pub async fn set_campaign_state(&self, id: i64, action: CampaignAction, actor: &str, now: i64) -> Result<()> {
        // Which states each action may leave, checked in the update itself so it cannot race.
        let (from, to, audited): (&[&str], &str, Action) = match action {
            CampaignAction::Pause => (&["running"], "paused", Action::CampaignPause),
            // A campaign Meta stopped (a stop code) resumes only when the owner says so.
            CampaignAction::Resume => (&["paused", "stopped"], "running", Action::CampaignResume),
            CampaignAction::Cancel => (
                &["draft", "running", "paused", "stopped"],
                "cancelled",
                Action::CampaignCancel,
            ),
        };
        let from = serde_json::to_string(from).expect("strings serialise");
        self.audited(now, actor, audited, Some(&format!("campaign:{id}")), |tx| {
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE campaign SET state = ? WHERE id = ? AND state IN (SELECT value FROM json_each(?))",
                )
                .bind(to)
                .bind(id)
                .bind(from)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(CoreError::Invalid(format!(
                        "campaign #{id} cannot be {to} from its current state"
                    )));
                }
                if action == CampaignAction::Cancel {
                    sqlx::query(
                        "UPDATE outbox SET state = 'cancelled', updated_at = ? WHERE campaign_id = ? AND state = 'queued'",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                Ok(((), serde_json::json!({})))
            })
        })
        .await
    }

    pub async fn campaign_status(&self, id: i64) -> Result<CampaignStatus> {
        let row: Option<(String, String, CampaignState, Option<String>)> =
            sqlx::query_as("SELECT name, template_name, state, stopped_reason FROM campaign WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        let (name, template, state, stopped_reason) =
            row.ok_or_else(|| CoreError::Invalid(format!("there is no campaign #{id}")))?;
        let c: (i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(o.state = 'queued' OR (o.id IS NULL AND r.skipped_reason IS NULL)), 0),
                    COALESCE(SUM(o.state = 'dispatching'), 0),
                    COALESCE(SUM(o.state = 'accepted'), 0), COALESCE(SUM(o.state = 'failed'), 0),
                    COALESCE(SUM(o.state = 'uncertain'), 0), COALESCE(SUM(o.state = 'cancelled'), 0),
                    COALESCE(SUM(o.id IS NULL AND r.skipped_reason IS NOT NULL), 0)
             FROM campaign_recipient r LEFT JOIN outbox o ON o.id = r.outbox_id WHERE r.campaign_id = ?",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        let (delivered, read): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(m.status IN ('delivered', 'read', 'played')), 0), COALESCE(SUM(m.status IN ('read', 'played')), 0)
             FROM outbox o JOIN message m ON m.wamid = o.wamid WHERE o.campaign_id = ?",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        Ok(CampaignStatus {
            id,
            name,
            template,
            state,
            stopped_reason,
            total: c.0,
            queued: c.1,
            dispatching: c.2,
            accepted: c.3,
            failed: c.4,
            uncertain: c.5,
            cancelled: c.6,
            skipped: c.7,
            delivered,
            read,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creating_and_launching_are_audited_by_the_core_for_the_actor() {
        let store = Store::open_in_memory().await.unwrap();
        let t = crate::cloud::TemplateInfo {
            id: "1".into(),
            name: "order_ready".into(),
            language: "en".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: serde_json::json!([{"type": "BODY", "text": "Ready"}]),
        };
        store.upsert_template(&t, 1).await.unwrap();
        store
            .import_contacts_csv(
                "phone,tags\n+447700900123,regulars\n+447700900124,regulars\n",
                "owner",
                1,
            )
            .await
            .unwrap();
        let audience = Audience {
            tag: Some("regulars".into()),
            ..Audience::default()
        };
        let (id, n) = store
            .create_campaign("Ready", "order_ready", "en", &audience, &[], None, None, "ana", 2)
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(store.launch_campaign(id, "ana", 3).await.unwrap(), 2);
        let log = store.audit_entries().await.unwrap();
        let ours: Vec<(&str, &str)> = log
            .iter()
            .filter(|e| e.action.starts_with("campaign."))
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect();
        assert_eq!(ours, vec![("campaign.create", "ana"), ("campaign.launch", "ana")]);
        assert!(store.audit_verify().await.unwrap().ok);
    }

    #[test]
    fn csv_rows_carry_their_parameters_and_bad_rows_name_their_line() {
        let ok = parse_recipients_csv("phone,1,first_name\n+91 98765 43210,Asha,A\n5511987654321,Lucas,L\n").unwrap();
        let bsuid = parse_recipients_csv("bsuid,1\nDE.77aa88bb,Mika\n").unwrap();
        assert_eq!(bsuid[0].0, "DE.77aa88bb");
        assert_eq!(ok.len(), 2);
        assert_eq!(
            ok[0].1,
            vec![
                ("1".to_string(), "Asha".to_string()),
                ("first_name".to_string(), "A".to_string())
            ]
        );
        let err = parse_recipients_csv("phone,1\n919876543210,Asha\nnot-a-number,Bob\n").unwrap_err();
        assert!(err.to_string().starts_with("line 3:"), "{err}");
        let err = parse_recipients_csv("name\nAsha\n").unwrap_err();
        assert!(err.to_string().contains("phone"), "{err}");
    }
}

/// One recipient of a campaign and what became of their message.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CampaignRecipient {
    pub contact_id: Option<i64>,
    pub name: String,
    pub state: RecipientState,
    /// Meta's latest status once accepted.
    pub status: Option<crate::states::DeliveryStatus>,
    pub error: Option<String>,
}

impl Store {
    /// Per-recipient outcomes, problems first.
    pub async fn campaign_recipients(&self, id: i64, limit: i64) -> Result<Vec<CampaignRecipient>> {
        Ok(sqlx::query_as(
            "SELECT r.contact_id, COALESCE(c.name, c.profile_name, c.username, '+' || c.wa_id, c.bsuid, '+' || o.recipient) AS name,
                    COALESCE(o.state, CASE WHEN r.skipped_reason IS NOT NULL THEN 'skipped' ELSE 'queued' END) AS state,
                    m.status, COALESCE(m.error, o.last_error, r.skipped_reason) AS error
             FROM campaign_recipient r LEFT JOIN contact c ON c.id = r.contact_id
                  LEFT JOIN outbox o ON o.id = r.outbox_id LEFT JOIN message m ON m.outbox_id = o.id
             WHERE r.campaign_id = ?
             ORDER BY CASE WHEN o.state IN ('failed', 'uncertain') OR m.status = 'failed' OR r.skipped_reason IS NOT NULL
                           THEN 0 ELSE 1 END, r.contact_id
             LIMIT ?",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
