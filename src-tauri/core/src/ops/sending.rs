//! Messages a person sends from a desk, campaigns they create, and the template list: queued
//! through the one outbox whoever asks (the window, the CLI, later a remote desk).

use super::Ctx;
use crate::clock::Clock;
use crate::cloud::{CloudClient, TemplateInfo};
use crate::config::Config;
use crate::error::{CoreError, Result};
use crate::secrets::SecretStore;
use crate::send::{self, Audience, DispatcherHandle, HeaderMedia, OutboxRow};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a one-shot send waits for Meta's answer before it reports "still waiting".
const SETTLE_WAIT: Duration = Duration::from_secs(60);

/// A free-form reply to `to` (a phone number or BSUID): refused as `window_closed` when the
/// 24-hour window is shut. Returns the outbox id.
pub async fn send_text(ctx: &Ctx<'_>, to: &str, text: &str) -> Result<i64> {
    ctx.store.role_of(&ctx.actor).await?;
    let c = send::compose_text(ctx.store, to, text, ctx.now).await?;
    ctx.store.send_from_desk(&c, &ctx.actor, ctx.now).await
}

/// An approved template, e.g. to reopen a conversation after the window closed.
pub async fn send_template(
    ctx: &Ctx<'_>,
    to: &str,
    name: &str,
    language: &str,
    params: &[(String, String)],
) -> Result<i64> {
    ctx.store.role_of(&ctx.actor).await?;
    let c = send::compose_template(ctx.store, to, name, language, params, ctx.now).await?;
    ctx.store.send_from_desk(&c, &ctx.actor, ctx.now).await
}

/// Waits until outbox row `id` settles (accepted, failed, uncertain …), up to a minute. The engine
/// holding the workspace sends it; with none running, a dispatcher of this process's own does,
/// from the workspace's [`Config`] (read from `secrets` only then), and stops afterwards.
pub async fn wait_settled(
    ctx: &Ctx<'_>,
    secrets: &dyn SecretStore,
    id: i64,
    clock: Arc<dyn Clock>,
) -> Result<OutboxRow> {
    let own = if ctx.store.dispatcher_running(send::now_ms()).await? {
        None
    } else {
        let (client, settings) = Config::load(ctx.store, secrets).await?.sending()?;
        Some(DispatcherHandle::spawn(ctx.store.clone(), client, settings, clock))
    };
    let deadline = Instant::now() + SETTLE_WAIT;
    let row = loop {
        let row = super::outbox_row(ctx, id).await?;
        if !row.state.pending() || Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if let Some(d) = own {
        d.shutdown().await;
    }
    Ok(row)
}

/// A campaign as the builder (window or CLI) describes it; the audience is frozen at creation.
#[derive(Debug, Clone, Default)]
pub struct NewCampaign {
    pub name: String,
    pub template: String,
    pub language: String,
    pub audience: Audience,
    /// Parameters every recipient gets (`1` → "Saturday"); a CSV's columns win.
    pub params: Vec<(String, String)>,
    /// The uploaded picture, video or document for a template that shows one at its top.
    pub header: Option<HeaderMedia>,
    /// Start later (unix seconds); none: when launched.
    pub scheduled_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CreatedCampaign {
    pub id: i64,
    pub recipients: usize,
}

/// A draft campaign (audited by the store); the forecast and launch come next.
pub async fn create_campaign(ctx: &Ctx<'_>, c: &NewCampaign) -> Result<CreatedCampaign> {
    let (id, recipients) = ctx
        .store
        .create_campaign(
            c.name.trim(),
            &c.template,
            &c.language,
            &c.audience,
            &c.params,
            c.header.as_ref(),
            c.scheduled_at,
            &ctx.actor,
            ctx.now,
        )
        .await?;
    Ok(CreatedCampaign { id, recipients })
}

/// Reads the account's templates from Meta again (statuses change as Meta reviews them) and
/// mirrors them; returns what the workspace now knows.
pub async fn sync_templates(ctx: &Ctx<'_>, client: &CloudClient, waba_id: &str) -> Result<Vec<TemplateInfo>> {
    let list = client.templates(waba_id).await.map_err(|e| match e.code {
        0 => CoreError::CannotSend(format!("could not fetch the template list: {}", e.message)),
        code => CoreError::Meta {
            what: "the template list".into(),
            code,
            reason: e.message,
        },
    })?;
    ctx.store.sync_templates(&list, ctx.now).await?;
    Ok(list)
}
