//! `coexist send`, `templates`, `outbox` and `campaign`: what goes out through the Cloud API,
//! and the client and dispatcher the one-shot commands use.

use crate::mirror_cmd::required_secret;
use crate::{ctx, data_dir, keyring_for, open, Cli};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use coexist_core::cloud::CloudClient;
use coexist_core::ops;
use coexist_core::secrets::SecretKind;
use coexist_core::send::{self, DispatcherHandle, SendSettings};
use coexist_core::{Clock, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand)]
pub enum TemplatesCmd {
    /// Fetch the account's templates from the Cloud API.
    Sync,
    /// The templates this workspace knows.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Submit a new template for Meta's review (it starts PENDING; a webhook reports the verdict).
    ///
    /// Categories: MARKETING (offers, news, reminders to buy), UTILITY (about an order or account
    /// the customer has: confirmations, updates), AUTHENTICATION (one-time codes).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        lang: String,
        #[arg(long, value_parser = ["MARKETING", "UTILITY", "AUTHENTICATION", "marketing", "utility", "authentication"])]
        category: String,
        /// The body text, with {{1}}, {{2}} … or {{name}} for parameters.
        #[arg(long)]
        body: String,
    },
}

#[derive(Subcommand)]
pub enum OutboxCmd {
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send an `uncertain` message again. It may then arrive twice: say --yes to confirm.
    Resend {
        id: i64,
        #[arg(long)]
        yes: bool,
    },
    /// Cancel a queued message.
    Cancel { id: i64 },
    /// Let a held message go out (held after a restore, for you to check first); --all for every one.
    Release {
        id: Option<i64>,
        #[arg(long)]
        all: bool,
    },
}

// Parsed once per run: the size of `Create` costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum CampaignCmd {
    /// Choose the template, audience and parameters; they are frozen now. Prints the campaign id.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        template: String,
        #[arg(long)]
        lang: String,
        /// Every active contact with a phone number.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        vip: bool,
        #[arg(long)]
        tag: Option<String>,
        /// Only contacts whose latest consent is an opt-in.
        #[arg(long)]
        opted_in: bool,
        /// Recipients from a CSV: a `phone` column and one column per template parameter.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// A parameter for everyone (CSV columns win); repeatable.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// The picture, video or document (JPEG, PNG, MP4, PDF …) for a template that shows one at
        /// its top; uploaded to Meta once, now.
        #[arg(long)]
        header_file: Option<PathBuf>,
        /// Start at this time (unix seconds, not milliseconds) instead of at launch.
        #[arg(long, value_parser = clap::value_parser!(i64).range(946_684_800..=4_102_444_800))]
        at: Option<i64>,
        /// Only contacts who wrote or were written to in the last N days.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=36_500))]
        active_within_days: Option<i64>,
        /// Only contacts with no message for N days (win-back).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=36_500))]
        quiet_for_days: Option<i64>,
    },
    Launch {
        id: i64,
    },
    Pause {
        id: i64,
    },
    Resume {
        id: i64,
    },
    Cancel {
        id: i64,
    },
    Status {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

pub fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[derive(Args)]
pub struct SendArgs {
    /// The customer's phone number (or BSUID).
    #[arg(long)]
    pub to: String,
    #[arg(long, conflicts_with = "template")]
    pub text: Option<String>,
    #[arg(long, requires = "lang")]
    pub template: Option<String>,
    #[arg(long)]
    pub lang: Option<String>,
    /// A template parameter: `1=Asha` (positional) or `first_name=Asha` (named); repeatable.
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Only queue it (a running `coexist serve` sends it).
    #[arg(long)]
    pub no_wait: bool,
    #[arg(long)]
    pub json: bool,
}

pub async fn send(cli: &Cli, clock: Arc<dyn Clock>, a: &SendArgs) -> Result<()> {
    let SendArgs {
        to,
        text,
        template,
        lang,
        params,
        no_wait,
        json,
    } = a;
    let dir = data_dir(cli)?;
    let store = open(&dir).await?;
    let now = clock.now();
    let compose = match (text, template) {
        (Some(t), None) => send::compose_text(&store, to, t, now).await.map_err(|e| match e {
            e @ coexist_core::CoreError::WindowClosed { .. } => {
                anyhow::Error::new(e).context("a template still reaches them: add --template NAME")
            }
            other => other.into(),
        })?,
        (None, Some(name)) => {
            send::compose_template(&store, to, name, lang.as_deref().unwrap_or_default(), params, now).await?
        }
        _ => bail!("say what to send: --text TEXT, or --template NAME --lang CODE"),
    };
    store.role_of(&cli.actor).await?;
    let id = store.send_from_desk(&compose, &cli.actor, now).await?;
    if *no_wait {
        println!("queued as outbox #{id}");
        return Ok(());
    }
    let row = dispatch_until_settled(&dir, &store, id, clock.clone()).await?;
    if *json {
        println!("{}", serde_json::to_string(&row)?);
    } else {
        match row.state {
            send::OutboxState::Accepted => println!(
                "sent: Meta accepted outbox #{id} as {}",
                row.wamid.as_deref().unwrap_or("?")
            ),
            send::OutboxState::Queued | send::OutboxState::Dispatching => println!(
                "outbox #{id} is still waiting to be sent: {}",
                row.last_error.as_deref().unwrap_or("queued")
            ),
            other => println!("outbox #{id} {other}: {}", row.last_error.as_deref().unwrap_or("")),
        }
    }
    if row.state == send::OutboxState::Failed {
        std::process::exit(1);
    }
    Ok(())
}

pub async fn templates(cli: &Cli, clock: Arc<dyn Clock>, what: &TemplatesCmd) -> Result<()> {
    match what {
        TemplatesCmd::Sync => {
            let dir = data_dir(cli)?;
            let store = open(&dir).await?;
            let cloud = cloud_settings(&dir, &store).await?;
            let waba = cloud
                .waba_id
                .context("the WhatsApp Business Account id is unknown: set COEXIST_WABA_ID")?;
            let list = cloud.client.templates(&waba).await.map_err(|e| match e.code {
                0 => anyhow::anyhow!("could not fetch the template list: {}", e.message),
                code => anyhow::anyhow!("Meta refused the template list: {} (code {code})", e.message),
            })?;
            let n = store.sync_templates(&list, clock.now()).await?;
            let approved = list
                .iter()
                .filter(|t| t.status.eq_ignore_ascii_case("approved"))
                .count();
            println!("synced {n} templates ({approved} approved)");
            Ok(())
        }
        TemplatesCmd::List { json } => {
            let store = open(&data_dir(cli)?).await?;
            let list = store.templates().await?;
            if *json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for t in list {
                    println!("{:<24} {:<6} {:<15} {}", t.name, t.language, t.category, t.status);
                }
            }
            Ok(())
        }
        TemplatesCmd::Create {
            name,
            lang,
            category,
            body,
        } => {
            let dir = data_dir(cli)?;
            let store = open(&dir).await?;
            let cloud = cloud_settings(&dir, &store).await?;
            let t = ops::create_template(
                &ctx(cli, &store, clock.now()),
                &cloud.client,
                cloud.waba_id.as_deref(),
                &ops::NewTemplate {
                    name: name.clone(),
                    language: lang.clone(),
                    category: category.clone(),
                    body: body.clone(),
                },
            )
            .await?;
            println!("template {} ({}) submitted: {}", t.name, t.language, t.status);
            Ok(())
        }
    }
}

pub async fn outbox(cli: &Cli, clock: Arc<dyn Clock>, what: &OutboxCmd) -> Result<()> {
    let store = open(&data_dir(cli)?).await?;
    let ctx = ctx(cli, &store, clock.now());
    match what {
        OutboxCmd::List { state, json } => {
            let state = state
                .as_deref()
                .map(str::parse::<send::OutboxState>)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let rows = ops::outbox::list(&ctx, state).await?;
            if *json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                for r in rows {
                    println!(
                        "#{:<6} {:<11} {:<16} tries {:<2} {}",
                        r.id,
                        r.state,
                        r.recipient,
                        r.attempts,
                        r.held_reason.or(r.last_error).unwrap_or_default()
                    );
                }
            }
        }
        OutboxCmd::Resend { id, yes } => {
            if !*yes {
                // The CLI's way to confirm is the flag; the operation checks it was given.
                bail!("outbox #{id} may already have reached the customer; resending can deliver it twice. Repeat with --yes to resend.");
            }
            ops::outbox::resend(&ctx, *id, true, send::now_ms()).await?;
            println!("outbox #{id} queued again");
        }
        OutboxCmd::Cancel { id } => {
            ops::outbox::cancel(&ctx, *id).await?;
            println!("outbox #{id} cancelled");
        }
        OutboxCmd::Release { id, all } => {
            if id.is_none() && !*all {
                bail!("name the held message to release, or say --all");
            }
            let n = ops::outbox::release(&ctx, *id).await?;
            println!("{n} held message(s) released: they go out with the next send");
        }
    }
    Ok(())
}

pub async fn campaign(cli: &Cli, clock: Arc<dyn Clock>, what: &CampaignCmd) -> Result<()> {
    let store = open(&data_dir(cli)?).await?;
    let now = clock.now();
    match what {
        CampaignCmd::Create {
            name,
            template,
            lang,
            all,
            vip,
            tag,
            opted_in,
            csv,
            params,
            header_file,
            at,
            active_within_days,
            quiet_for_days,
        } => {
            let header = match header_file {
                Some(p) => Some(campaign_header(cli, &store, (template, lang), p, now).await?),
                None => None,
            };
            let csv = match csv {
                Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?),
                None => None,
            };
            let audience = send::Audience {
                all: *all,
                vip: *vip,
                tag: tag.clone(),
                opted_in: *opted_in,
                csv,
                active_since: active_within_days.map(|d| now - d * 86_400),
                quiet_since: quiet_for_days.map(|d| now - d * 86_400),
            };
            let (id, n) = store
                .create_campaign(
                    name,
                    template,
                    lang,
                    &audience,
                    params,
                    header.as_ref(),
                    *at,
                    &cli.actor,
                    now,
                )
                .await?;
            println!("{id}");
            eprintln!("campaign #{id} created for {n} recipients; `coexist campaign launch {id}` sends it");
        }
        CampaignCmd::Launch { id } => {
            let n = ops::launch_campaign(&ctx(cli, &store, now), *id).await?;
            println!("campaign #{id} launched: {n} messages queued");
        }
        CampaignCmd::Pause { id } => {
            ops::campaign_action(&ctx(cli, &store, now), *id, send::CampaignAction::Pause).await?;
        }
        CampaignCmd::Resume { id } => {
            ops::campaign_action(&ctx(cli, &store, now), *id, send::CampaignAction::Resume).await?;
        }
        CampaignCmd::Cancel { id } => {
            ops::campaign_action(&ctx(cli, &store, now), *id, send::CampaignAction::Cancel).await?;
        }
        CampaignCmd::Status { id, json } => {
            let s = store.campaign_status(*id).await?;
            if *json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!(
                            "campaign #{} {} ({}): {} — {} recipients: {} queued, {} accepted, {} delivered, {} read, {} failed, {} uncertain, {} cancelled{}",
                            s.id, s.name, s.template, s.state, s.total, s.queued, s.accepted, s.delivered, s.read, s.failed,
                            s.uncertain, s.cancelled,
                            s.stopped_reason.map(|r| format!(" — stopped: {r}")).unwrap_or_default()
                        );
            }
        }
    }
    Ok(())
}

/// How to reach the Cloud API: the simulator's address in tests and the demo, Meta's otherwise.
pub(crate) struct CloudSettings {
    pub(crate) client: CloudClient,
    pub(crate) phone_number_id: Option<String>,
    pub(crate) waba_id: Option<String>,
    pub(crate) rate: u32,
}

/// Reads, checks and uploads a campaign's header file.
async fn campaign_header(
    cli: &Cli,
    store: &Store,
    template: (&str, &str),
    path: &Path,
    now: i64,
) -> Result<send::HeaderMedia> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mime = coexist_core::media::mime_from_name(&name).with_context(|| {
        format!("{name}: WhatsApp takes JPEG, PNG, MP4 or a document (PDF, Word, Excel, PowerPoint, text) here")
    })?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cloud = cloud_settings(&data_dir(cli)?, store).await?;
    let phone = cloud
        .phone_number_id
        .context("the phone number id is unknown: set COEXIST_PHONE_NUMBER_ID")?;
    let ctx = crate::ctx(cli, store, now);
    let media_dir = store.media_dir().context("this workspace keeps no files")?;
    let a = ops::Attachment {
        name,
        mime: mime.to_string(),
        bytes,
        caption: None,
    };
    Ok(ops::campaign_header(&ctx, &cloud.client, &phone, &media_dir, template, a).await?)
}

pub(crate) async fn cloud_settings(dir: &Path, store: &Store) -> Result<CloudSettings> {
    let token = required_secret(&keyring_for(dir), SecretKind::AccessToken, "access-token")?;
    let ids = store.account_ids().await?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let rate = env("COEXIST_THROUGHPUT")
        .and_then(|v| v.parse().ok())
        .unwrap_or(ids.throughput_cap.max(1) as u32);
    Ok(CloudSettings {
        client: CloudClient::from_env(token, std::time::Duration::from_secs(20)),
        phone_number_id: env("COEXIST_PHONE_NUMBER_ID").or(ids.phone_number_id),
        waba_id: env("COEXIST_WABA_ID").or(ids.waba_id),
        rate,
    })
}

/// The Cloud API client and the pacing for this number, from the workspace and the environment.
pub(crate) fn send_settings(cloud: CloudSettings) -> Result<(CloudClient, SendSettings)> {
    let phone = cloud
        .phone_number_id
        .context("the phone number id is unknown: set COEXIST_PHONE_NUMBER_ID")?;
    // Inbound messages count against the number's cap too: leave them a share if asked.
    let headroom: u32 = std::env::var("COEXIST_SEND_HEADROOM_PERCENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0u32)
        .min(90);
    let mut settings = SendSettings::new(&phone, (cloud.rate * (100 - headroom) / 100).max(1));
    // How soon a restarted dispatcher may take over from one that died (tests shorten it).
    if let Some(ms) = std::env::var("COEXIST_DISPATCH_LEASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        settings.lease_ttl_ms = ms;
    }
    Ok((cloud.client, settings))
}

pub(crate) fn dispatcher_for(store: &Store, cloud: CloudSettings, clock: Arc<dyn Clock>) -> Result<DispatcherHandle> {
    let (client, settings) = send_settings(cloud)?;
    Ok(DispatcherHandle::spawn(store.clone(), client, settings, clock))
}

/// Sends the queued row now (or lets a running `coexist serve` do it) and waits until it settles.
pub(crate) async fn dispatch_until_settled(
    dir: &Path,
    store: &Store,
    id: i64,
    clock: Arc<dyn Clock>,
) -> Result<send::OutboxRow> {
    let own = if store.dispatcher_running(send::now_ms()).await? {
        None
    } else {
        let cloud = cloud_settings(dir, store).await?;
        Some(dispatcher_for(store, cloud, clock)?)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let row = loop {
        let row = store.outbox_row(id).await?.context("the outbox row vanished")?;
        let settled = !row.state.pending();
        if settled || std::time::Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    if let Some(d) = own {
        d.shutdown().await;
    }
    Ok(row)
}
