//! `coexist`: the headless command line over coexist-core. Its flags and JSON shapes are a
//! contract that scripts and checks rely on.

mod billing_cmd;
mod connect_cmd;
mod desk_cmd;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use coexist_core::cloud::CloudClient;
use coexist_core::engine::{Engine, EngineSettings, ReceiverSettings, Started};
use coexist_core::ops::{self, Ctx};
use coexist_core::secrets::{self, KeyringStore, SecretKind, SecretStore};
use coexist_core::send::{self, DispatcherHandle, SendSettings};
use coexist_core::webhook::{self, Rules, SignatureVerdict};
use coexist_core::{Clock, Store, SystemClock};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "coexist",
    version,
    about = "Coexist: a local mirror and admin for a WhatsApp Business number in coexistence mode"
)]
struct Cli {
    /// The workspace folder (holds the mirror database).
    #[arg(long, global = true, env = "COEXIST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Who is acting (a profile; recorded in the audit log). Default: the owner.
    #[arg(long = "as", global = true, env = "COEXIST_PROFILE", default_value = "owner")]
    actor: String,
    /// The owner PIN, for billing, settings, exports and secrets once a PIN is set.
    #[arg(long, global = true, env = "COEXIST_PIN", hide_env_values = true)]
    pin: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Journal and apply webhook bodies from files (.json: one body; .jsonl: one body per line).
    Import { files: Vec<PathBuf> },
    /// Run the workspace's engine: receive webhooks over HTTP and apply them, send, automate,
    /// remind. One engine per workspace: while the app runs it, serve waits or refuses.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Wait this long for the process that runs the workspace now (the app) to close.
        #[arg(long)]
        wait_secs: Option<u64>,
    },
    /// Rebuild a mirror in a new folder from this workspace's journal alone.
    Replay {
        #[arg(long)]
        into: PathBuf,
    },
    /// Counts of what the mirror holds.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Export what the mirror holds.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Store a secret in the OS keyring (read from standard input).
    Secret {
        #[arg(value_enum)]
        kind: SecretArg,
    },
    /// Send one message through the Cloud API (a text inside the 24-hour window, or a template).
    Send {
        /// The customer's phone number (or BSUID).
        #[arg(long)]
        to: String,
        #[arg(long, conflicts_with = "template")]
        text: Option<String>,
        #[arg(long, requires = "lang")]
        template: Option<String>,
        #[arg(long)]
        lang: Option<String>,
        /// A template parameter: `1=Asha` (positional) or `first_name=Asha` (named); repeatable.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Only queue it (a running `coexist serve` sends it).
        #[arg(long)]
        no_wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Message templates of the account.
    Templates {
        #[command(subcommand)]
        what: TemplatesCmd,
    },
    /// The outbox: every API send and its state.
    Outbox {
        #[command(subcommand)]
        what: OutboxCmd,
    },
    /// Campaigns: a template to a frozen audience.
    Campaign {
        #[command(subcommand)]
        what: CampaignCmd,
    },
    /// Connect a number: secrets into the OS keyring, the link and eligibility checks, the
    /// onboarding time (interactive, or flags and standard input).
    Connect(connect_cmd::ConnectArgs),
    /// Request the once-only contact and/or history sync (within 24 hours of connecting).
    Sync {
        #[arg(value_enum)]
        what: connect_cmd::SyncArg,
        #[arg(long)]
        json: bool,
    },
    /// Check everything that keeps the number working: link, eligibility, deadlines, heartbeat,
    /// webhooks, keyring.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// "I opened the WhatsApp Business app on the phone": restarts the 14-day clock.
    Heartbeat {
        #[arg(value_enum)]
        what: HeartbeatArg,
    },
    /// Reminders to come, and those shown but not acknowledged.
    Reminders {
        #[arg(long)]
        json: bool,
    },
    /// Billing: rate cards, pricing rules, reports, exports and campaign forecasts.
    Billing {
        #[command(subcommand)]
        what: billing_cmd::BillingCmd,
    },
    /// Automation: FAQ replies, away message, greeting, routing, follow-ups.
    Automation {
        #[command(subcommand)]
        what: desk_cmd::AutomationCmd,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        what: desk_cmd::AuditCmd,
    },
    /// Online backup of the workspace, and restore.
    Backup {
        #[command(subcommand)]
        what: desk_cmd::BackupCmd,
    },
    /// Delete (optionally archive) messages older than N days from the mirror.
    Retention(desk_cmd::RetentionArgs),
    /// Owner and front-desk profiles; the owner PIN.
    Profile {
        #[command(subcommand)]
        what: desk_cmd::ProfileCmd,
    },
    /// Record a customer's consent to marketing messages given outside WhatsApp.
    Consent {
        #[arg(long)]
        contact: String,
        #[arg(value_enum)]
        kind: ConsentArg,
    },
}

#[derive(Subcommand)]
enum TemplatesCmd {
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
enum OutboxCmd {
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

#[derive(Subcommand)]
enum CampaignCmd {
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

#[derive(Clone, Copy, ValueEnum)]
enum HeartbeatArg {
    Ack,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConsentArg {
    OptIn,
    OptOut,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[derive(Subcommand)]
enum ExportWhat {
    Messages {
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum SecretArg {
    AppSecret,
    VerifyToken,
    AccessToken,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COEXIST_LOG").unwrap_or_else(|_| "warn,coexist=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // A script that asked for `--json` gets failures as `{code, message}` too, like the window.
    let json = std::env::args().any(|a| a == "--json");
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(run(cli));
    if let (Err(e), true) = (&result, json) {
        let body = match e.downcast_ref::<coexist_core::CoreError>() {
            Some(core) => core.body(),
            None => coexist_core::error::ErrorBody {
                code: coexist_core::error::Code::Internal,
                message: format!("{e:#}"),
                meta_code: None,
            },
        };
        println!("{}", serde_json::to_string(&body)?);
    }
    result
}

fn data_dir(cli: &Cli) -> Result<PathBuf> {
    cli.data_dir
        .clone()
        .context("no workspace given: pass --data-dir DIR (or set COEXIST_DATA_DIR)")
}

async fn run(cli: Cli) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match &cli.command {
        Command::Import { files } => import(&data_dir(&cli)?, files, clock.as_ref()).await,
        Command::Serve { listen, wait_secs } => serve(&data_dir(&cli)?, *listen, *wait_secs, clock).await,
        Command::Replay { into } => replay(&data_dir(&cli)?, into, clock.as_ref()).await,
        Command::Stats { json } => {
            let store = open(&data_dir(&cli)?).await?;
            let stats = store.stats().await?;
            if *json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                println!(
                    "contacts: {} active, {} removed\nmessages: {} customer, {} phone, {} api, {} history\njournal: {} received, {} applied, {} failed, {} skipped, {} pending\nhistory: {} ({}%)\nlink: {}",
                    stats.contacts.active, stats.contacts.removed, stats.messages.customer, stats.messages.phone,
                    stats.messages.api, stats.messages.history, stats.journal.received, stats.journal.applied,
                    stats.journal.failed, stats.journal.skipped, stats.journal.pending, stats.history.state,
                    stats.history.progress, stats.link
                );
            }
            Ok(())
        }
        Command::Export {
            what: ExportWhat::Messages { format },
        } => {
            let store = open(&data_dir(&cli)?).await?;
            let format = match format {
                Format::Csv => ops::ExportFormat::Csv,
                Format::Jsonl => ops::ExportFormat::Jsonl,
            };
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            ops::export_messages(&ctx(&cli, &store, clock.now()), format, out).await?;
            Ok(())
        }
        Command::Send {
            to,
            text,
            template,
            lang,
            params,
            no_wait,
            json,
        } => {
            let dir = data_dir(&cli)?;
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
        Command::Templates {
            what: TemplatesCmd::Sync,
        } => {
            let dir = data_dir(&cli)?;
            let store = open(&dir).await?;
            let cloud = cloud_settings(&dir, &store).await?;
            let waba = cloud
                .waba_id
                .context("the WhatsApp Business Account id is unknown: set COEXIST_WABA_ID")?;
            let list = cloud
                .client
                .templates(&waba)
                .await
                .map_err(|e| anyhow::anyhow!("Meta refused the template list: {} (code {})", e.message, e.code))?;
            let n = store.sync_templates(&list, clock.now()).await?;
            let approved = list
                .iter()
                .filter(|t| t.status.eq_ignore_ascii_case("approved"))
                .count();
            println!("synced {n} templates ({approved} approved)");
            Ok(())
        }
        Command::Templates {
            what: TemplatesCmd::List { json },
        } => {
            let store = open(&data_dir(&cli)?).await?;
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
        Command::Templates {
            what:
                TemplatesCmd::Create {
                    name,
                    lang,
                    category,
                    body,
                },
        } => {
            let dir = data_dir(&cli)?;
            let store = open(&dir).await?;
            let cloud = cloud_settings(&dir, &store).await?;
            let t = ops::create_template(
                &ctx(&cli, &store, clock.now()),
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
        Command::Outbox { what } => {
            let store = open(&data_dir(&cli)?).await?;
            match what {
                OutboxCmd::List { state, json } => {
                    let rows = store.outbox_rows(state.as_deref()).await?;
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
                                r.last_error.unwrap_or_default()
                            );
                        }
                    }
                }
                OutboxCmd::Resend { id, yes } => {
                    if !*yes {
                        bail!("outbox #{id} may already have reached the customer; resending can deliver it twice. Repeat with --yes to resend.");
                    }
                    if !store.resend_uncertain(*id, clock.now(), send::now_ms()).await? {
                        bail!("outbox #{id} is not uncertain; only uncertain sends can be resent");
                    }
                    println!("outbox #{id} queued again");
                }
                OutboxCmd::Cancel { id } => {
                    if !store.cancel_outbox(*id, clock.now()).await? {
                        bail!("outbox #{id} is not queued; only queued sends can be cancelled");
                    }
                    println!("outbox #{id} cancelled");
                }
                OutboxCmd::Release { id, all } => {
                    if id.is_none() && !*all {
                        bail!("name the held message to release, or say --all");
                    }
                    let n = store.release_held(*id, clock.now()).await?;
                    if n == 0 {
                        bail!("no held message to release");
                    }
                    println!("{n} held message(s) released: they go out with the next send");
                }
            }
            Ok(())
        }
        Command::Campaign { what } => {
            let store = open(&data_dir(&cli)?).await?;
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
                    at,
                    active_within_days,
                    quiet_for_days,
                } => {
                    let csv = match csv {
                        Some(p) => {
                            Some(std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?)
                        }
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
                        .create_campaign(name, template, lang, &audience, params, *at, &cli.actor, now)
                        .await?;
                    println!("{id}");
                    eprintln!("campaign #{id} created for {n} recipients; `coexist campaign launch {id}` sends it");
                }
                CampaignCmd::Launch { id } => {
                    let n = store.launch_campaign(*id, &cli.actor, now).await?;
                    println!("campaign #{id} launched: {n} messages queued");
                }
                CampaignCmd::Pause { id } => {
                    ops::campaign_action(&ctx(&cli, &store, now), *id, send::CampaignAction::Pause).await?;
                }
                CampaignCmd::Resume { id } => {
                    ops::campaign_action(&ctx(&cli, &store, now), *id, send::CampaignAction::Resume).await?;
                }
                CampaignCmd::Cancel { id } => {
                    ops::campaign_action(&ctx(&cli, &store, now), *id, send::CampaignAction::Cancel).await?;
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
        Command::Connect(args) => {
            let dir = data_dir(&cli)?;
            let store = open(&dir).await?;
            connect_cmd::connect(&ctx(&cli, &store, clock.now()), &dir, args).await
        }
        Command::Sync { what, json } => connect_cmd::sync(&data_dir(&cli)?, *what, *json, clock.now()).await,
        Command::Doctor { json } => connect_cmd::doctor(&data_dir(&cli)?, *json, clock.now()).await,
        Command::Heartbeat {
            what: HeartbeatArg::Ack,
        } => {
            let store = open(&data_dir(&cli)?).await?;
            connect_cmd::heartbeat_ack(&store, clock.now()).await
        }
        Command::Reminders { json } => {
            let store = open(&data_dir(&cli)?).await?;
            connect_cmd::reminders(&store, *json, clock.now()).await
        }
        Command::Billing { what } => {
            let store = open(&data_dir(&cli)?).await?;
            billing_cmd::run(&ctx(&cli, &store, clock.now()), what).await
        }
        Command::Automation { what } => {
            let store = open(&data_dir(&cli)?).await?;
            desk_cmd::automation(&ctx(&cli, &store, clock.now()), what).await
        }
        Command::Audit { what } => {
            let store = open(&data_dir(&cli)?).await?;
            desk_cmd::audit(&ctx(&cli, &store, clock.now()), what).await
        }
        Command::Backup { what } => {
            desk_cmd::backup(&data_dir(&cli)?, what, &cli.actor, cli.pin.clone(), clock.now()).await
        }
        Command::Retention(args) => {
            let store = open(&data_dir(&cli)?).await?;
            desk_cmd::retention(&ctx(&cli, &store, clock.now()), args).await
        }
        Command::Profile { what } => {
            let store = open(&data_dir(&cli)?).await?;
            desk_cmd::profile(&ctx(&cli, &store, clock.now()), what).await
        }
        Command::Consent { contact, kind } => {
            let store = open(&data_dir(&cli)?).await?;
            let ctx = ctx(&cli, &store, clock.now());
            let opt_in = matches!(kind, ConsentArg::OptIn);
            let id = ops::contact(&ctx, contact).await?;
            ops::set_consent(&ctx, id, opt_in, "recorded from the command line").await?;
            println!("recorded: {contact} {}", if opt_in { "opted in" } else { "opted out" });
            Ok(())
        }
        Command::Secret { kind } => {
            let kind = match kind {
                SecretArg::AppSecret => SecretKind::AppSecret,
                SecretArg::VerifyToken => SecretKind::VerifyToken,
                SecretArg::AccessToken => SecretKind::AccessToken,
            };
            let mut value = String::new();
            std::io::stdin().read_line(&mut value)?;
            let value = value.trim_end_matches(['\r', '\n']).to_string();
            if value.is_empty() {
                bail!("nothing was given on standard input");
            }
            let dir = data_dir(&cli)?;
            let store = open(&dir).await?;
            let keyring = keyring_for(&dir);
            ops::set_secret(
                &ctx(&cli, &store, clock.now()),
                &keyring,
                kind,
                &secrets::Sensitive::new(value),
            )
            .await?;
            eprintln!("saved the {} in the OS keyring", kind.key().replace('_', " "));
            Ok(())
        }
    }
}

/// The operation context of this invocation: who (`--actor`), with which PIN, at what time.
fn ctx<'a>(cli: &Cli, store: &'a Store, now: i64) -> Ctx<'a> {
    Ctx::new(store, cli.actor.clone(), cli.pin.clone(), now)
}

/// How to reach the Cloud API: the simulator's address in tests and the demo, Meta's otherwise.
struct CloudSettings {
    client: CloudClient,
    phone_number_id: Option<String>,
    waba_id: Option<String>,
    rate: u32,
}

async fn cloud_settings(dir: &Path, store: &Store) -> Result<CloudSettings> {
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
fn send_settings(cloud: CloudSettings) -> Result<(CloudClient, SendSettings)> {
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

fn dispatcher_for(store: &Store, cloud: CloudSettings, clock: Arc<dyn Clock>) -> Result<DispatcherHandle> {
    let (client, settings) = send_settings(cloud)?;
    Ok(DispatcherHandle::spawn(store.clone(), client, settings, clock))
}

/// Sends the queued row now (or lets a running `coexist serve` do it) and waits until it settles.
async fn dispatch_until_settled(dir: &Path, store: &Store, id: i64, clock: Arc<dyn Clock>) -> Result<send::OutboxRow> {
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

async fn open(dir: &Path) -> Result<Store> {
    Store::open_dir(dir)
        .await
        .with_context(|| format!("could not open the workspace in {}", dir.display()))
}

fn keyring_for(dir: &Path) -> KeyringStore {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    KeyringStore::new(&canonical.display().to_string())
}

async fn import(dir: &Path, files: &[PathBuf], clock: &dyn Clock) -> Result<()> {
    if files.is_empty() {
        bail!("no files given: coexist import FILE...");
    }
    let store = open(dir).await?;
    let (mut bodies, mut duplicates) = (0u64, 0u64);
    for file in files {
        let jsonl = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        if jsonl {
            let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
            for (n, line) in std::io::BufReader::new(f).split(b'\n').enumerate() {
                let line = line.with_context(|| format!("cannot read {} at line {}", file.display(), n + 1))?;
                if !line.iter().all(u8::is_ascii_whitespace) {
                    chunks.push(line);
                }
            }
        } else {
            chunks.push(std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?);
        }
        for body in chunks {
            let appended = store
                .journal_append(&body, SignatureVerdict::Imported, clock.now())
                .await?;
            bodies += 1;
            duplicates += u64::from(appended.duplicate);
        }
    }
    let report = webhook::apply_pending(&store, &Rules::default(), clock).await?;
    println!(
        "imported {bodies} bodies ({duplicates} already in the journal): {} applied, {} skipped, {} failed",
        report.applied, report.skipped, report.failed
    );
    if report.failed > 0 {
        let failed = store.failed_journal_rows(20).await?;
        for (seq, why) in failed {
            println!("  journal #{seq}: {why}");
        }
    }
    store.close().await;
    Ok(())
}

async fn replay(dir: &Path, into: &Path, clock: &dyn Clock) -> Result<()> {
    let source = open(dir).await?;
    if into.join(coexist_core::store::DB_FILE).exists() {
        bail!(
            "{} already holds a workspace; replay needs an empty folder",
            into.display()
        );
    }
    let target = open(into).await?;
    let copied = target.journal_copy_from(&source).await?;
    let report = webhook::apply_pending(&target, &Rules::default(), clock).await?;
    println!(
        "replayed {copied} journal entries into {}: {} applied, {} skipped, {} failed",
        into.display(),
        report.applied,
        report.skipped,
        report.failed
    );
    target.close().await;
    Ok(())
}

/// A secret from the environment or the keyring, or an error that says how to provide it.
fn required_secret(store: &dyn SecretStore, kind: SecretKind, arg: &str) -> Result<secrets::Sensitive<String>> {
    let how = format!("set {} or run `coexist --data-dir DIR secret {arg}`", kind.env_var());
    match secrets::lookup(store, kind) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => bail!("no {} is stored: {how}", kind.key().replace('_', " ")),
        Err(e) => bail!("the OS keyring could not be read ({e}): {how}"),
    }
}

/// How long the workspace's engine lease outlives a crash (tests shorten it).
fn lease_ttl_ms() -> i64 {
    ["COEXIST_ENGINE_LEASE_MS", "COEXIST_DISPATCH_LEASE_MS"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|v| v.parse().ok()))
        .unwrap_or(10_000)
}

async fn serve(dir: &Path, listen: SocketAddr, wait_secs: Option<u64>, clock: Arc<dyn Clock>) -> Result<()> {
    let store = open(dir).await?;
    let keyring = keyring_for(dir);
    let app_secret = required_secret(&keyring, SecretKind::AppSecret, "app-secret")?;
    let verify_token = required_secret(&keyring, SecretKind::VerifyToken, "verify-token")?;
    let ttl = lease_ttl_ms();
    let mut settings = EngineSettings::new("serve", clock.clone());
    settings.lease_ttl_ms = ttl;
    // A previous `serve` that crashed holds the workspace until its lease runs out: wait that long.
    settings.patience = std::time::Duration::from_millis(ttl as u64 + 2_000)
        .max(std::time::Duration::from_secs(wait_secs.unwrap_or(0)));
    settings.receiver = Some(ReceiverSettings {
        addr: listen,
        app_secret,
        verify_token,
        watch_gaps: true,
    });
    // Sending runs too when the Cloud API is configured.
    settings.sending = match cloud_settings(dir, &store).await {
        Ok(cloud) if cloud.phone_number_id.is_some() => Some(send_settings(cloud)?),
        Ok(_) => {
            tracing::warn!("sending is off: the phone number id is unknown (set COEXIST_PHONE_NUMBER_ID)");
            None
        }
        Err(e) => {
            tracing::warn!("sending is off: {e}");
            None
        }
    };
    // Reminders run here too; with no desktop they go to the log.
    settings.reminders = Some(Arc::new(coexist_core::reminders::LogNotifier));
    let engine = match Engine::start(&store, settings).await? {
        Started::Engine(e) => e,
        Started::Client(holder) => bail!(
            "{}: one engine per workspace receives, sends and reminds. Close it first, or wait for it (--wait-secs)",
            holder.describe()
        ),
    };
    if let Some(e) = engine.receiver_error() {
        bail!("cannot listen on {listen}: {e}");
    }
    let url = engine.receiver_url().unwrap_or_default().to_string();
    tracing::info!(%url, "receiving webhooks at /webhook");
    println!("listening on {url}");
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = engine.lost() => {
            bail!("another process took this workspace over (this one stalled past its lease); stopping");
        }
    }
    engine.shutdown().await;
    store.close().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
