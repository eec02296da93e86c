//! What a desk reads, and the small desk writes that need no audit entry (marking a chat read).
//! Thin on purpose: each read is named here once so the window, the CLI and a remote desk ask the
//! same function, and the ones that show money or the audit log check the owner rule themselves.

use super::Ctx;
use crate::audit::Verification;
use crate::automation::{AutomationConfig, Decision, RunReport};
use crate::billing::{BillingContext, CardInfo, ReplyCost};
use crate::cloud::TemplateInfo;
use crate::directory::{ConsentEvent, ContactRow};
use crate::error::{CoreError, Result};
use crate::media::{CopyFor, MediaPolicy, MediaPreview, MediaUsage};
use crate::onboarding::OnboardingStatus;
use crate::profiles::Profile;
use crate::reminders::{HeartbeatStatus, Reminder};
use crate::reports::ResponseReport;
use crate::search::SearchHit;
use crate::send::{CampaignRecipient, CampaignStatus, OutboxRow, OutboxState};
use crate::store::{ConversationRow, InboxFilter, Stats, ThreadMessage};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The most rows one page of a list may ask for.
const MAX_PAGE: i64 = 500;

/// The number's ids as recorded when it was connected.
pub async fn account_ids(ctx: &Ctx<'_>) -> Result<crate::store::AccountIds> {
    ctx.store.account_ids().await
}

pub async fn stats(ctx: &Ctx<'_>) -> Result<Stats> {
    ctx.store.stats().await
}

/// A page of the inbox; `Mine` means the chats assigned to `assignee` (the caller by default).
pub async fn conversations(
    ctx: &Ctx<'_>,
    filter: InboxFilter,
    assignee: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ConversationRow>> {
    let filter = filter.for_desk(assignee.unwrap_or(&ctx.actor));
    ctx.store
        .list_conversations(&filter, limit.clamp(1, MAX_PAGE), offset.max(0))
        .await
}

/// A page of one conversation, newest last; `before` pages back from a message id.
pub async fn thread(ctx: &Ctx<'_>, contact_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<ThreadMessage>> {
    ctx.store.thread(contact_id, before, limit.clamp(1, MAX_PAGE)).await
}

/// The desk has seen this chat: its unread count goes to zero.
pub async fn mark_read(ctx: &Ctx<'_>, contact_id: i64) -> Result<()> {
    ctx.store.mark_read(contact_id).await
}

/// Who handles a chat (audited by the store).
pub async fn set_assignee(ctx: &Ctx<'_>, contact_id: i64, assignee: Option<&str>) -> Result<()> {
    ctx.store.set_assignee(contact_id, assignee, &ctx.actor, ctx.now).await
}

pub async fn search(ctx: &Ctx<'_>, text: &str) -> Result<Vec<SearchHit>> {
    ctx.store.search(text, 100).await
}

pub async fn contacts(ctx: &Ctx<'_>, query: Option<&str>, limit: i64, offset: i64) -> Result<Vec<ContactRow>> {
    ctx.store.contacts(query, limit.clamp(1, 10_000), offset.max(0)).await
}

pub async fn contact_count(ctx: &Ctx<'_>, query: Option<&str>) -> Result<i64> {
    ctx.store.contact_count(query).await
}

pub async fn consent_history(ctx: &Ctx<'_>, contact_id: i64) -> Result<Vec<ConsentEvent>> {
    ctx.store.consent_history(contact_id).await
}

/// The address a message to this contact goes to: the phone number, or the BSUID of a customer
/// known only by username.
pub async fn address_of(ctx: &Ctx<'_>, contact_id: i64) -> Result<String> {
    let c = ctx
        .store
        .contact(contact_id)
        .await?
        .ok_or_else(|| CoreError::CannotSend("this contact no longer exists".into()))?;
    c.wa_id
        .or(c.bsuid)
        .ok_or_else(|| CoreError::CannotSend("this contact has no number or username to write to".into()))
}

pub async fn response_report(ctx: &Ctx<'_>, from: i64, to: i64, utc_offset_secs: i64) -> Result<ResponseReport> {
    ctx.store.response_report(from, to, utc_offset_secs).await
}

pub async fn campaigns(ctx: &Ctx<'_>) -> Result<Vec<CampaignStatus>> {
    ctx.store.campaigns().await
}

pub async fn campaign_status(ctx: &Ctx<'_>, id: i64) -> Result<CampaignStatus> {
    ctx.store.campaign_status(id).await
}

pub async fn campaign_recipients(ctx: &Ctx<'_>, id: i64) -> Result<Vec<CampaignRecipient>> {
    ctx.store.campaign_recipients(id, MAX_PAGE).await
}

pub async fn templates(ctx: &Ctx<'_>) -> Result<Vec<TemplateInfo>> {
    ctx.store.templates().await
}

pub async fn heartbeat_status(ctx: &Ctx<'_>) -> Result<HeartbeatStatus> {
    ctx.store.heartbeat_status(ctx.now).await
}

/// The sync window's countdown and the history import's progress.
pub async fn onboarding_status(ctx: &Ctx<'_>) -> Result<OnboardingStatus> {
    ctx.store.onboarding_status(ctx.now).await
}

/// The reminders due or shown, planned afresh from what the mirror knows now.
pub async fn reminders(ctx: &Ctx<'_>) -> Result<Vec<Reminder>> {
    ctx.store.plan_reminders(ctx.now).await?;
    ctx.store.reminders().await
}

pub async fn media_usage(ctx: &Ctx<'_>) -> Result<MediaUsage> {
    ctx.store.media_usage().await
}

pub async fn media_policy(ctx: &Ctx<'_>) -> Result<MediaPolicy> {
    ctx.store.media_policy().await
}

/// A message's picture, voice note or document as stored under `media` (or why it is not).
pub async fn media_preview(ctx: &Ctx<'_>, message_id: i64, media: &Path) -> Result<Option<MediaPreview>> {
    ctx.store.media_preview(message_id, media).await
}

/// A copy of a message's file under its own name in `dest` (to keep, or to open).
pub async fn save_media_copy(
    ctx: &Ctx<'_>,
    message_id: i64,
    media: &Path,
    dest: &Path,
    purpose: CopyFor,
) -> Result<PathBuf> {
    ctx.store.save_media_copy(message_id, media, dest, purpose).await
}

pub async fn automation_config(ctx: &Ctx<'_>) -> Result<AutomationConfig> {
    ctx.store.automation_config().await
}

/// "Test this rule": what automation would do with a message now, sending nothing.
pub async fn automation_test(ctx: &Ctx<'_>, text: &str, first_contact: bool) -> Result<Decision> {
    let cfg = ctx.store.automation_config().await?;
    Ok(crate::automation::decide(
        &cfg,
        Some(text),
        first_contact,
        true,
        ctx.now,
    ))
}

/// One pass of automation over the mirror now (what the engine does every second).
pub async fn run_automation(ctx: &Ctx<'_>) -> Result<RunReport> {
    let cfg = ctx.store.automation_config().await?;
    ctx.store.run_automation(&cfg, ctx.now).await
}

pub async fn profiles(ctx: &Ctx<'_>) -> Result<Vec<Profile>> {
    ctx.store.profiles().await
}

/// Where one message stands, with the reason in words when it failed or is uncertain.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SendState {
    pub state: OutboxState,
    pub error: Option<String>,
}

pub async fn outbox_row(ctx: &Ctx<'_>, id: i64) -> Result<OutboxRow> {
    ctx.store
        .outbox_row(id)
        .await?
        .ok_or_else(|| CoreError::Invalid("this message is no longer in the outbox".into()))
}

pub async fn send_state(ctx: &Ctx<'_>, id: i64) -> Result<SendState> {
    let row = outbox_row(ctx, id).await?;
    Ok(SendState {
        error: row
            .last_error
            .filter(|_| matches!(row.state, OutboxState::Failed | OutboxState::Uncertain)),
        state: row.state,
    })
}

/// The newest webhook bodies that failed to apply, with why.
pub async fn failed_journal_rows(ctx: &Ctx<'_>, limit: i64) -> Result<Vec<(i64, String)>> {
    ctx.store.failed_journal_rows(limit).await
}

/// What replying now costs through the API, against free from the phone. A desk sees this
/// (it decides which way to answer); the totals stay owner-only.
pub async fn reply_cost(ctx: &Ctx<'_>, contact_id: i64, template_category: Option<&str>) -> Result<ReplyCost> {
    let billing = ctx.store.billing_context(ctx.now).await?;
    ctx.store
        .reply_cost(&billing, contact_id, template_category, ctx.now)
        .await
}

/// The pricing in force and the rate cards (owner-only, like every money figure).
pub async fn pricing(ctx: &Ctx<'_>) -> Result<(BillingContext, Vec<CardInfo>)> {
    ctx.owner("see the pricing").await?;
    Ok((ctx.store.billing_context(ctx.now).await?, ctx.store.rate_cards().await?))
}

/// Whether the audit chain still verifies. Anyone may ask: the answer reveals no entry.
pub async fn audit_verify(ctx: &Ctx<'_>) -> Result<Verification> {
    ctx.store.audit_verify().await
}
