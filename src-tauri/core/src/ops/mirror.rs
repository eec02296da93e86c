//! Filling the mirror from files and copying it: `coexist import` (webhook bodies saved by hand
//! or exported elsewhere) and `coexist replay` (the journal into an empty workspace, to check a
//! replay gives the same mirror). Both go through the journal and the applier, like a webhook.

use super::Ctx;
use crate::error::{CoreError, Result};
use crate::webhook::{apply_pending, ApplyReport, Rules, SignatureVerdict};
use serde::Serialize;
use std::io::BufRead;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub bodies: u64,
    /// Bodies the journal already held (the same bytes): counted, not applied twice.
    pub duplicates: u64,
    pub report: ApplyReport,
    /// The newest bodies that did not apply, with why (journal sequence, reason).
    pub failed: Vec<(i64, String)>,
}

/// The webhook bodies in a file: one JSON document, or one per line in a `.jsonl` file.
pub fn bodies_in(file: &Path) -> Result<Vec<Vec<u8>>> {
    let io = |source| CoreError::Io {
        path: file.display().to_string(),
        source,
    };
    if !file.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl")) {
        return Ok(vec![std::fs::read(file).map_err(io)?]);
    }
    let f = std::fs::File::open(file).map_err(io)?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).split(b'\n') {
        let line = line.map_err(io)?;
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.push(line);
        }
    }
    Ok(out)
}

/// Journals every body of `files` as imported, then applies what is pending.
pub async fn import_files(
    ctx: &Ctx<'_>,
    files: &[impl AsRef<Path>],
    clock: &dyn crate::Clock,
) -> Result<ImportOutcome> {
    if files.is_empty() {
        return Err(CoreError::Invalid("no files given: coexist import FILE...".into()));
    }
    let (mut bodies, mut duplicates) = (0u64, 0u64);
    for file in files {
        for body in bodies_in(file.as_ref())? {
            let appended = ctx
                .store
                .journal_append(&body, SignatureVerdict::Imported, ctx.now)
                .await?;
            bodies += 1;
            duplicates += u64::from(appended.duplicate);
        }
    }
    let report = apply_pending(ctx.store, &Rules::default(), clock).await?;
    let failed = match report.failed {
        0 => Vec::new(),
        _ => ctx.store.failed_journal_rows(20).await?,
    };
    Ok(ImportOutcome {
        bodies,
        duplicates,
        report,
        failed,
    })
}

#[cfg(feature = "os-keyring")]
/// Copies `source`'s journal into the empty workspace at `into` and applies it there; returns
/// how many entries were copied and what applying them did.
pub async fn replay(source: &crate::store::Store, into: &Path, clock: &dyn crate::Clock) -> Result<(u64, ApplyReport)> {
    if into.join(crate::store::DB_FILE).exists() {
        return Err(CoreError::Invalid(format!(
            "{} already holds a workspace; replay needs an empty folder",
            into.display()
        )));
    }
    let target = crate::config::open_workspace(into, clock.now()).await?;
    let copied = target.journal_copy_from(source).await?;
    let report = apply_pending(&target, &Rules::default(), clock).await?;
    target.close().await;
    Ok((copied, report))
}
