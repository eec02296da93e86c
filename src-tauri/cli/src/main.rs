//! `coexist`: the headless command line over coexist-core. Its flags and JSON shapes are a
//! contract that scripts and checks rely on.

mod billing_cmd;
mod connect_cmd;
mod desk_cmd;
mod mirror_cmd;
mod send_cmd;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use coexist_core::ops::{self, Ctx};
use coexist_core::secrets::{self, SecretKind};
use coexist_core::{Clock, Store, SystemClock};
use send_cmd::{CampaignCmd, OutboxCmd, TemplatesCmd};
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
    Send(send_cmd::SendArgs),
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
    /// The media folder: its size, its cap, and No Storage's 1-hour window.
    Media(desk_cmd::MediaArgs),
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

#[derive(Clone, Copy, ValueEnum)]
enum HeartbeatArg {
    Ack,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConsentArg {
    OptIn,
    OptOut,
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
        Command::Import { files } => {
            let store = open(&data_dir(&cli)?).await?;
            mirror_cmd::import(&ctx(&cli, &store, clock.now()), files, clock.as_ref()).await
        }
        Command::Serve { listen, wait_secs } => mirror_cmd::serve(&data_dir(&cli)?, *listen, *wait_secs, clock).await,
        Command::Replay { into } => mirror_cmd::replay(&data_dir(&cli)?, into, clock.as_ref()).await,
        Command::Stats { json } => {
            let store = open(&data_dir(&cli)?).await?;
            let ctx = ctx(&cli, &store, clock.now());
            let stats = ops::stats(&ctx).await?;
            let media = ops::media_usage(&ctx).await?;
            if *json {
                let mut out = serde_json::to_value(&stats)?;
                out["media"] = serde_json::to_value(&media)?;
                println!("{out}");
            } else {
                println!("{}", coexist_core::plain::StatsView(&stats, &media));
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
        Command::Send(a) => send_cmd::send(&cli, clock, a).await,
        Command::Templates { what } => send_cmd::templates(&cli, clock, what).await,
        Command::Outbox { what } => send_cmd::outbox(&cli, clock, what).await,
        Command::Campaign { what } => send_cmd::campaign(&cli, clock, what).await,
        Command::Connect(args) => {
            let dir = data_dir(&cli)?;
            let store = open(&dir).await?;
            connect_cmd::connect(&ctx(&cli, &store, clock.now()), &dir, args).await
        }
        Command::Sync { what, json } => connect_cmd::sync(&cli, &data_dir(&cli)?, *what, *json, clock.now()).await,
        Command::Doctor { json } => {
            let dir = data_dir(&cli)?;
            let store = open(&dir).await?;
            connect_cmd::doctor(&ctx(&cli, &store, clock.now()), &dir, *json).await
        }
        Command::Heartbeat {
            what: HeartbeatArg::Ack,
        } => {
            let store = open(&data_dir(&cli)?).await?;
            connect_cmd::heartbeat_ack(&ctx(&cli, &store, clock.now())).await
        }
        Command::Reminders { json } => {
            let store = open(&data_dir(&cli)?).await?;
            connect_cmd::reminders(&ctx(&cli, &store, clock.now()), *json).await
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
        Command::Media(args) => {
            let store = open(&data_dir(&cli)?).await?;
            desk_cmd::media(&ctx(&cli, &store, clock.now()), args).await
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

async fn open(dir: &Path) -> Result<Store> {
    coexist_core::config::open_workspace(dir, SystemClock.now())
        .await
        .with_context(|| format!("could not open the workspace in {}", dir.display()))
}

/// The workspace's engine settings: environment, account ids and keyring, read once.
async fn config(dir: &Path, store: &Store) -> Result<coexist_core::config::Config> {
    Ok(coexist_core::config::Config::load(store, &keyring_for(dir)).await?)
}

use coexist_core::config::keyring_for;
