//! `coexist import`, `replay` and `serve`: what comes in from Meta, and the engine that takes
//! it in and sends what is queued.

use crate::send_cmd::{cloud_settings, send_settings};
use crate::{keyring_for, open};
use anyhow::{bail, Context, Result};
use coexist_core::engine::{Engine, EngineSettings, ReceiverSettings, Started};
use coexist_core::secrets::{self, SecretKind, SecretStore};
use coexist_core::webhook::{self, Rules, SignatureVerdict};
use coexist_core::Clock;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) async fn import(dir: &Path, files: &[PathBuf], clock: &dyn Clock) -> Result<()> {
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

pub(crate) async fn replay(dir: &Path, into: &Path, clock: &dyn Clock) -> Result<()> {
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
pub(crate) fn required_secret(
    store: &dyn SecretStore,
    kind: SecretKind,
    arg: &str,
) -> Result<secrets::Sensitive<String>> {
    let how = format!("set {} or run `coexist --data-dir DIR secret {arg}`", kind.env_var());
    match secrets::lookup(store, kind) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => bail!("no {} is stored: {how}", kind.key().replace('_', " ")),
        Err(e) => bail!("the OS keyring could not be read ({e}): {how}"),
    }
}

/// How long the workspace's engine lease outlives a crash (tests shorten it).
pub(crate) fn lease_ttl_ms() -> i64 {
    ["COEXIST_ENGINE_LEASE_MS", "COEXIST_DISPATCH_LEASE_MS"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|v| v.parse().ok()))
        .unwrap_or(10_000)
}

pub(crate) async fn serve(dir: &Path, listen: SocketAddr, wait_secs: Option<u64>, clock: Arc<dyn Clock>) -> Result<()> {
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
pub(crate) async fn shutdown_signal() {
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
