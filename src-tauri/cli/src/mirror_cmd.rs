//! `coexist import`, `replay` and `serve`: what comes in from Meta, and the engine that takes
//! it in and sends what is queued.

use crate::open;
use anyhow::{bail, Result};
use coexist_core::engine::{Engine, Started};
use coexist_core::ops::{self, Ctx};
use coexist_core::Clock;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) async fn import(ctx: &Ctx<'_>, files: &[PathBuf], clock: &dyn Clock) -> Result<()> {
    let o = ops::mirror::import_files(ctx, files, clock).await?;
    println!(
        "imported {} bodies ({} already in the journal): {} applied, {} skipped, {} failed",
        o.bodies, o.duplicates, o.report.applied, o.report.skipped, o.report.failed
    );
    for (seq, why) in o.failed {
        println!("  journal #{seq}: {why}");
    }
    Ok(())
}

pub(crate) async fn replay(dir: &Path, into: &Path, clock: &dyn Clock) -> Result<()> {
    let source = open(dir).await?;
    let (copied, report) = ops::mirror::replay(&source, into, clock).await?;
    println!(
        "replayed {copied} journal entries into {}: {} applied, {} skipped, {} failed",
        into.display(),
        report.applied,
        report.skipped,
        report.failed
    );
    Ok(())
}

pub(crate) async fn serve(dir: &Path, listen: SocketAddr, wait_secs: Option<u64>, clock: Arc<dyn Clock>) -> Result<()> {
    let store = open(dir).await?;
    let config = crate::config(dir, &store).await?;
    // A receiver without its secrets would turn Meta away: refuse to start instead.
    let receiver = config.receiver(listen)?;
    let (mut settings, off) = config.engine("serve", clock.clone(), listen);
    settings.receiver = Some(receiver);
    for why in off {
        tracing::warn!("{why}");
    }
    // A previous `serve` that crashed holds the workspace until its lease runs out: wait that long.
    settings.patience = std::time::Duration::from_millis(config.engine_lease_ms as u64 + 2_000)
        .max(std::time::Duration::from_secs(wait_secs.unwrap_or(0)));
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
