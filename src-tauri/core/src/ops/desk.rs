//! Operations of the desk (owner and front desk alike): consent, campaigns, templates.

use super::Ctx;
use crate::audit::Action;
use crate::cloud::{CloudClient, TemplateInfo};
use crate::error::{CoreError, Result};
use crate::send::CampaignAction;
use serde_json::json;

/// The contact a person names by phone number or BSUID, or a clear error.
pub async fn contact(ctx: &Ctx<'_>, address: &str) -> Result<i64> {
    ctx.store
        .contact_by_address(address)
        .await?
        .ok_or_else(|| CoreError::Invalid(format!("no contact {address} in this workspace")))
}

/// Consent given or withdrawn at the desk (a form signed at the counter), audited by contact.
pub async fn set_consent(ctx: &Ctx<'_>, contact_id: i64, opt_in: bool, note: &str) -> Result<()> {
    ctx.store
        .set_consent(contact_id, opt_in, note, &ctx.actor, ctx.now)
        .await
}

pub async fn campaign_action(ctx: &Ctx<'_>, id: i64, action: CampaignAction) -> Result<()> {
    ctx.store.set_campaign_state(id, action, &ctx.actor, ctx.now).await
}

/// A template to submit for Meta's review: body text with `{{1}}`-style placeholders.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub body: String,
}

/// Submits a template for review, mirrors Meta's answer and audits it.
pub async fn create_template(
    ctx: &Ctx<'_>,
    client: &CloudClient,
    waba_id: Option<&str>,
    t: &NewTemplate,
) -> Result<TemplateInfo> {
    let waba = waba_id.ok_or_else(|| {
        CoreError::NotConfigured("the WhatsApp Business Account id is unknown; connect the number first".into())
    })?;
    let name = crate::cloud::template_name(&t.name)
        .ok_or_else(|| CoreError::Invalid("a template name uses letters, digits and underscores only".into()))?;
    if t.body.trim().is_empty() {
        return Err(CoreError::Invalid("the template needs a body text".into()));
    }
    let category = crate::billing::category::normalize(&t.category).to_uppercase();
    if !matches!(category.as_str(), "MARKETING" | "UTILITY" | "AUTHENTICATION") {
        return Err(CoreError::Invalid(
            "a template's category is marketing, utility or authentication".into(),
        ));
    }
    let components = crate::cloud::template_components(&t.body);
    let info = client
        .create_template(waba, &name, t.language.trim(), &category, &components)
        .await
        .map_err(|e| CoreError::Meta {
            what: "the template".into(),
            code: e.code,
            reason: match &e.details {
                Some(d) if !d.is_empty() => format!("{} {d}", e.message),
                _ => e.message.clone(),
            },
        })?;
    ctx.store.upsert_template(&info, ctx.now).await?;
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::TemplateCreate,
            Some(&name),
            json!({"category": info.category, "language": info.language}),
        )
        .await?;
    Ok(info)
}

/// Replaces the automation settings (JSON) — owner only, since they answer customers.
pub async fn set_automation(ctx: &Ctx<'_>, json_text: &str) -> Result<crate::automation::AutomationConfig> {
    ctx.owner("change automation settings").await?;
    ctx.store.set_automation_config(json_text, &ctx.actor, ctx.now).await
}

/// The longest a chat can be taken by hand in one go: a year.
pub const MAX_TAKE_OVER_HOURS: i64 = 8_784;

/// Takes a chat by hand for `hours` (automation stays out), or with none hands it back.
/// Returns until when automation stays out.
pub async fn take_over(ctx: &Ctx<'_>, contact_id: i64, hours: Option<i64>) -> Result<Option<i64>> {
    let until = match hours {
        Some(h) if (1..=MAX_TAKE_OVER_HOURS).contains(&h) => Some(ctx.now + h * 3600),
        Some(_) => {
            return Err(CoreError::Invalid(format!(
                "a chat can be taken by hand for 1 to {MAX_TAKE_OVER_HOURS} hours"
            )))
        }
        None => None,
    };
    ctx.store
        .set_automation_pause(contact_id, until, &ctx.actor, ctx.now)
        .await?;
    Ok(until)
}

/// A file the desk sends to a customer.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub mime: String,
    pub bytes: Vec<u8>,
    pub caption: Option<String>,
}

/// Sends a file: its type and size are checked and the customer's window too, before anything
/// goes to Meta; the file is kept in the workspace, uploaded, then sent through the outbox like
/// any message (the cap, retries, crash safety, the bill). Returns the outbox row.
pub async fn send_media(
    ctx: &Ctx<'_>,
    client: &CloudClient,
    phone_number_id: &str,
    media_dir: &std::path::Path,
    to: &str,
    a: Attachment,
) -> Result<i64> {
    let kind = crate::media::check_outgoing(&a.mime, a.bytes.len() as u64, &a.name)?;
    crate::send::window_open(ctx.store, to, ctx.now).await?;
    let (name, caption) = (a.name.clone(), a.caption.clone());
    let media_id = upload(ctx, client, phone_number_id, media_dir, a).await?;
    let c = crate::send::compose_media(
        ctx.store,
        to,
        kind,
        &media_id,
        caption.as_deref(),
        Some(name.as_str()),
        ctx.now,
    )
    .await?;
    ctx.store.send_from_desk(&c, &ctx.actor, ctx.now).await
}

/// The picture, video or document a campaign's template shows at its top: checked, kept in the
/// workspace and uploaded to Meta once, before the campaign is created; every send then names it.
pub async fn campaign_header(
    ctx: &Ctx<'_>,
    client: &CloudClient,
    phone_number_id: &str,
    media_dir: &std::path::Path,
    template: (&str, &str),
    a: Attachment,
) -> Result<crate::send::HeaderMedia> {
    let kind = crate::media::check_outgoing(&a.mime, a.bytes.len() as u64, &a.name)?;
    let (name, language) = template;
    match crate::send::template_header_kind(ctx.store, name, language).await? {
        Some(wanted) if wanted == kind => {}
        Some(wanted) => {
            return Err(CoreError::Invalid(format!(
                "template {name} ({language}) shows a {} at its top; {} is not one",
                crate::send::header_word(wanted),
                a.name
            )))
        }
        None => {
            return Err(CoreError::Invalid(format!(
                "template {name} ({language}) has no picture, video or document at its top"
            )))
        }
    }
    let name = a.name.clone();
    let media_id = upload(ctx, client, phone_number_id, media_dir, a).await?;
    Ok(crate::send::HeaderMedia {
        kind: kind.to_string(),
        media_id,
        filename: (kind == "document").then_some(name),
    })
}

/// Keeps a checked file in the workspace and uploads it; returns Meta's media id.
async fn upload(
    ctx: &Ctx<'_>,
    client: &CloudClient,
    phone_number_id: &str,
    media_dir: &std::path::Path,
    a: Attachment,
) -> Result<String> {
    let sha = crate::media::store_file(ctx.store, media_dir, &a.bytes, &a.mime, ctx.now).await?;
    let media_id = client
        .upload_media(phone_number_id, a.bytes, &a.mime, &a.name)
        .await
        .map_err(|e| CoreError::Meta {
            what: format!("the file {}", a.name),
            code: e.code,
            reason: match &e.details {
                Some(d) if !d.is_empty() => format!("{} {d}", e.message),
                _ => e.message.clone(),
            },
        })?;
    ctx.store
        .record_upload(&media_id, &sha, &a.mime, &a.name, ctx.now)
        .await?;
    Ok(media_id)
}

/// Asks Meta for the contact sync or the history import: once each, within 24 hours of
/// connecting (the core refuses a second request or a late one in words). What Meta answered is
/// audited, so the log says who asked and when even when the answer was lost.
pub async fn request_sync(
    ctx: &Ctx<'_>,
    client: &CloudClient,
    sync: crate::onboarding::SyncType,
) -> Result<crate::onboarding::SyncOutcome> {
    let phone =
        ctx.store.account_ids().await?.phone_number_id.ok_or_else(|| {
            CoreError::NotConfigured("connect the number first: its phone number id is unknown".into())
        })?;
    let outcome = ctx.store.request_sync(client, &phone, sync, ctx.now).await?;
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::SyncRequest,
            Some(sync.api_name()),
            json!({"result": outcome.result, "request_id": outcome.request_id}),
        )
        .await?;
    Ok(outcome)
}

/// Requests each sync in turn; a refused one does not stop the next, and reads `not requested`
/// with why.
pub async fn request_syncs(
    ctx: &Ctx<'_>,
    client: &CloudClient,
    kinds: &[crate::onboarding::SyncType],
) -> Vec<crate::onboarding::SyncOutcome> {
    let mut out = Vec::new();
    for &sync_type in kinds {
        out.push(match request_sync(ctx, client, sync_type).await {
            Ok(o) => o,
            Err(e) => crate::onboarding::SyncOutcome {
                sync_type,
                request_id: None,
                result: "not requested".into(),
                message: e.to_string(),
            },
        });
    }
    out
}

/// A chat marked VIP (or no longer): it sorts first and the desk sees it in the VIP filter.
pub async fn set_vip(ctx: &Ctx<'_>, contact_id: i64, vip: bool) -> Result<()> {
    ctx.store.set_vip(contact_id, vip, &ctx.actor, ctx.now).await
}

/// A contact's tags, replaced as a whole (campaign audiences choose by tag).
pub async fn set_tags(ctx: &Ctx<'_>, contact_id: i64, tags: &[String]) -> Result<()> {
    ctx.store.set_tags(contact_id, tags, &ctx.actor, ctx.now).await
}

/// Contacts from a CSV's text: good rows are kept, each bad one is named by its line.
pub async fn import_contacts(ctx: &Ctx<'_>, csv: &str) -> Result<crate::directory::ImportReport> {
    ctx.store.import_contacts_csv(csv, &ctx.actor, ctx.now).await
}

/// Queues a created campaign's messages (once: a second launch queues nothing new).
pub async fn launch_campaign(ctx: &Ctx<'_>, id: i64) -> Result<usize> {
    ctx.store.launch_campaign(id, &ctx.actor, ctx.now).await
}

/// "I opened the phone app": restarts the 13-day clock; the status as it is now.
pub async fn acknowledge_heartbeat(ctx: &Ctx<'_>) -> Result<crate::reminders::HeartbeatStatus> {
    ctx.store.acknowledge_heartbeat(ctx.now).await?;
    ctx.store.heartbeat_status(ctx.now).await
}
