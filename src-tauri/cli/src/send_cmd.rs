//! `coexist send`, `templates`, `outbox` and `campaign`: what goes out through the Cloud API,
//! and the client and dispatcher the one-shot commands use.

use crate::{config, ctx, data_dir, open, Cli};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use coexist_core::ops;
use coexist_core::send;
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
    let ctx = ctx(cli, &store, clock.now());
    let id = match (text, template) {
        (Some(t), None) => ops::send_text(&ctx, to, t).await.map_err(|e| match e {
            e @ coexist_core::CoreError::WindowClosed { .. } => {
                anyhow::Error::new(e).context("a template still reaches them: add --template NAME")
            }
            other => other.into(),
        })?,
        (None, Some(name)) => ops::send_template(&ctx, to, name, lang.as_deref().unwrap_or_default(), params).await?,
        _ => bail!("say what to send: --text TEXT, or --template NAME --lang CODE"),
    };
    if *no_wait {
        println!("queued as outbox #{id}");
        return Ok(());
    }
    let row = ops::wait_settled(&ctx, &coexist_core::config::keyring_for(&dir), id, clock.clone()).await?;
    if *json {
        println!("{}", serde_json::to_string(&row)?);
    } else {
        println!("{}", coexist_core::plain::Sent(&row));
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
            let config = config(&dir, &store).await?;
            let list = ops::sync_templates(&ctx(cli, &store, clock.now()), &config.cloud()?, config.waba_id()?).await?;
            let n = list.len();
            let approved = list
                .iter()
                .filter(|t| t.status.eq_ignore_ascii_case("approved"))
                .count();
            println!("synced {n} templates ({approved} approved)");
            Ok(())
        }
        TemplatesCmd::List { json } => {
            let store = open(&data_dir(cli)?).await?;
            let list = ops::templates(&ctx(cli, &store, clock.now())).await?;
            if *json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for t in list {
                    println!("{t}");
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
            let config = config(&dir, &store).await?;
            let t = ops::create_template(
                &ctx(cli, &store, clock.now()),
                &config.cloud()?,
                config.waba_id.as_deref(),
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
                    println!("{r}");
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
            let c = ops::NewCampaign {
                name: name.clone(),
                template: template.clone(),
                language: lang.clone(),
                audience,
                params: params.clone(),
                header,
                scheduled_at: *at,
            };
            let ops::CreatedCampaign { id, recipients: n } = ops::create_campaign(&ctx(cli, &store, now), &c).await?;
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
            let s = ops::campaign_status(&ctx(cli, &store, now), *id).await?;
            if *json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!("{s}");
            }
        }
    }
    Ok(())
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
    let config = config(&data_dir(cli)?, store).await?;
    let ctx = crate::ctx(cli, store, now);
    let media_dir = coexist_core::media::media_dir(&data_dir(cli)?);
    let a = ops::Attachment {
        name,
        mime: mime.to_string(),
        bytes,
        caption: None,
    };
    let (client, phone) = (config.cloud()?, config.phone_number_id()?);
    Ok(ops::campaign_header(&ctx, &client, phone, &media_dir, template, a).await?)
}
