//! `coexist`: the headless command line over coexist-core. Its flags and JSON shapes are a
//! contract that scripts and checks rely on.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use coexist_core::secrets::{self, KeyringStore, SecretKind, SecretStore};
use coexist_core::webhook::{self, receiver, ApplierHandle, Rules, SignatureVerdict};
use coexist_core::{Clock, Store, SystemClock};
use std::io::{BufRead, Write};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Journal and apply webhook bodies from files (.json: one body; .jsonl: one body per line).
    Import { files: Vec<PathBuf> },
    /// Receive webhooks over HTTP and apply them.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
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
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
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
        Command::Serve { listen } => serve(&data_dir(&cli)?, *listen, clock).await,
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
            what: ExportWhat::Messages { format: Format::Jsonl },
        } => {
            let store = open(&data_dir(&cli)?).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for m in store.export_messages().await? {
                serde_json::to_writer(&mut out, &m)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
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
            keyring_for(&data_dir(&cli)?).set(kind, &secrets::Sensitive::new(value))?;
            eprintln!("saved the {} in the OS keyring", kind.key().replace('_', " "));
            Ok(())
        }
    }
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
        let failed: Vec<(i64, String)> = sqlx_failed(&store).await?;
        for (seq, why) in failed {
            println!("  journal #{seq}: {why}");
        }
    }
    store.close().await;
    Ok(())
}

async fn sqlx_failed(store: &Store) -> Result<Vec<(i64, String)>> {
    Ok(store.failed_journal_rows(20).await?)
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

async fn serve(dir: &Path, listen: SocketAddr, clock: Arc<dyn Clock>) -> Result<()> {
    let store = open(dir).await?;
    let keyring = keyring_for(dir);
    let app_secret = required_secret(&keyring, SecretKind::AppSecret, "app-secret")?;
    let verify_token = required_secret(&keyring, SecretKind::VerifyToken, "verify-token")?;
    let applier = ApplierHandle::spawn(store.clone(), Rules::default(), clock.clone());
    let state = receiver::ReceiverState {
        store: store.clone(),
        app_secret,
        verify_token,
        clock,
        applied_wake: applier.waker(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "receiving webhooks at /webhook");
    println!("listening on http://{local}/webhook");
    axum::serve(listener, receiver::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    drop(applier);
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
