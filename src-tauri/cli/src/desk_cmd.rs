//! `coexist automation`, `audit`, `backup`, `retention` and `profile`: the desk's rules and the
//! records that let a shop prove what happened.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use coexist_core::ops::{self, Ctx};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum AutomationCmd {
    /// The current settings (JSON).
    Show,
    /// Replace the settings with a JSON file (owner only).
    Set { file: PathBuf },
    /// Which rule a customer message would trigger now, without sending anything.
    Test {
        text: String,
        /// Treat it as the first message from a new contact.
        #[arg(long)]
        first_contact: bool,
    },
    /// Run one pass now (normally `serve` runs it continuously).
    Run,
    /// Take a chat by hand: automation stays out of it for N hours.
    Pause {
        #[arg(long)]
        contact: String,
        #[arg(long, default_value_t = coexist_core::policy::DEFAULT_TAKE_OVER_HOURS,
              value_parser = clap::value_parser!(i64).range(1..=ops::MAX_TAKE_OVER_HOURS))]
        hours: i64,
    },
    /// Hand a chat back to automation.
    Resume {
        #[arg(long)]
        contact: String,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; names every edited, deleted or reordered entry (exit 1 if any).
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Every entry as JSON lines (owner only).
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// A consistent copy of the workspace, taken while it keeps running (owner only).
    Create {
        file: PathBuf,
        /// Copy the media files too (pictures, voice notes, documents), into FILE.media/.
        #[arg(long)]
        with_media: bool,
    },
    /// Replace the workspace with a backup (close the app and `serve` first; owner only).
    Restore {
        file: PathBuf,
        /// Confirm: the current database is set aside, not deleted.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
pub struct RetentionArgs {
    /// Delete messages older than this many days from the mirror (the webhook journal is kept).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=36_500))]
    older_than_days: i64,
    /// Write them to this JSONL file first.
    #[arg(long)]
    archive: Option<PathBuf>,
    /// Confirm the deletion.
    #[arg(long)]
    yes: bool,
}

#[derive(Subcommand)]
pub enum ProfileCmd {
    List,
    /// Add a profile: `--role desk` for front-desk staff.
    Add {
        name: String,
        #[arg(long, default_value = "desk")]
        role: String,
    },
    /// Set the owner PIN (read from standard input).
    SetPin,
}

pub async fn automation(ctx: &Ctx<'_>, cmd: &AutomationCmd) -> Result<()> {
    match cmd {
        AutomationCmd::Show => println!("{}", serde_json::to_string_pretty(&ops::automation_config(ctx).await?)?),
        AutomationCmd::Set { file } => {
            let text = std::fs::read_to_string(file).with_context(|| format!("could not read {}", file.display()))?;
            let cfg = ops::set_automation(ctx, &text).await?;
            println!(
                "automation {}: {} FAQ, {} routing rules, {} follow-ups",
                if cfg.enabled { "on" } else { "off" },
                cfg.faq.len(),
                cfg.routing.len(),
                cfg.follow_ups.len()
            );
        }
        AutomationCmd::Test { text, first_contact } => {
            let d = ops::automation_test(ctx, text, *first_contact).await?;
            println!("{}", serde_json::to_string(&d)?);
        }
        AutomationCmd::Run => {
            println!("{}", serde_json::to_string(&ops::run_automation(ctx).await?)?);
        }
        AutomationCmd::Pause { contact, hours } => {
            let id = ops::contact(ctx, contact).await?;
            ops::take_over(ctx, id, Some(*hours)).await?;
            println!("automation stays out of the chat with {contact} for {hours} hours");
        }
        AutomationCmd::Resume { contact } => {
            let id = ops::contact(ctx, contact).await?;
            ops::take_over(ctx, id, None).await?;
            println!("the chat with {contact} is back with automation");
        }
    }
    Ok(())
}

pub async fn audit(ctx: &Ctx<'_>, cmd: &AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Verify { json } => {
            let v = ops::audit_verify(ctx).await?;
            if *json {
                println!("{}", serde_json::to_string(&v)?);
            } else if v.ok {
                println!(
                    "the audit log is intact: {} entries, each chained to the one before",
                    v.entries
                );
                match (v.sealed, v.key_available) {
                    (0, _) => println!("  not sealed: no audit key could be read from the OS keyring"),
                    (n, true) => {
                        println!("  {n} entries sealed with this workspace's audit key (OS keyring), and checked")
                    }
                    (n, false) => println!("  {n} entries are sealed, but the audit key is not at hand to check them"),
                }
            } else {
                println!("the audit log was tampered with ({} entries):", v.entries);
                for b in &v.breaks {
                    println!("  entry {}: {}", b.seq, b.problem);
                }
            }
            if !v.ok {
                std::process::exit(1);
            }
        }
        AuditCmd::Export { out } => {
            let n = match out {
                Some(p) => {
                    let f = std::fs::File::create(p).with_context(|| format!("could not create {}", p.display()))?;
                    ops::export_audit(ctx, std::io::BufWriter::new(f)).await?
                }
                None => ops::export_audit(ctx, std::io::stdout().lock()).await?,
            };
            eprintln!("{n} audit entries exported");
        }
    }
    Ok(())
}

pub async fn backup(dir: &Path, cmd: &BackupCmd, actor: &str, pin: Option<String>, now: i64) -> Result<()> {
    match cmd {
        BackupCmd::Create { file, with_media } => {
            let store = crate::open(dir).await?;
            let ctx = Ctx::new(&store, actor, pin, now);
            let info = ops::backup_with(&ctx, file, *with_media).await?;
            println!(
                "backup written to {} ({} bytes: {} messages, {} webhook bodies)",
                info.path, info.bytes, info.messages, info.journal
            );
            if *with_media {
                println!(
                    "media: {} files ({} bytes) in {}",
                    info.media_files,
                    info.media_bytes,
                    coexist_core::safety::media_beside(file).display()
                );
            } else {
                let usage = ops::media_usage(&ctx).await?;
                if usage.files > 0 {
                    println!(
                        "media left out: {} files ({} bytes); add --with-media to keep them too",
                        usage.files, usage.bytes
                    );
                }
            }
        }
        BackupCmd::Restore { file, yes } => {
            if !yes {
                bail!("restoring replaces the workspace's database (the current one is kept beside it as coexist.sqlite3.before-restore-DATE-TIME): add --yes to confirm");
            }
            let info = ops::restore(dir, file, actor, pin, now).await?;
            println!("{}", coexist_core::plain::RestoredView(&info, file));
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct MediaArgs {
    /// Keep the downloaded media under this many megabytes (downloads wait at the cap; owner only).
    #[arg(long, conflicts_with = "no_cap", value_parser = clap::value_parser!(i64).range(1..=100_000_000))]
    cap_mb: Option<i64>,
    /// Remove the cap (owner only).
    #[arg(long)]
    no_cap: bool,
    /// Whether the number uses No Storage: Meta keeps its media for 1 hour (owner only).
    #[arg(long, value_parser = ["on", "off"])]
    no_storage: Option<String>,
    #[arg(long)]
    json: bool,
}

/// Shows the media folder's use; with a flag, changes its cap or the No Storage window first.
pub async fn media(ctx: &Ctx<'_>, a: &MediaArgs) -> Result<()> {
    if a.cap_mb.is_some() || a.no_cap || a.no_storage.is_some() {
        let cap = match (a.cap_mb, a.no_cap) {
            (Some(mb), _) => Some(Some(mb * 1_000_000)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        ops::change_media_policy(ctx, cap, a.no_storage.as_deref().map(|v| v == "on")).await?;
    }
    let u = ops::media_usage(ctx).await?;
    if a.json {
        println!("{}", serde_json::to_string(&u)?);
        return Ok(());
    }
    println!("{u}");
    Ok(())
}

pub async fn retention(ctx: &Ctx<'_>, a: &RetentionArgs) -> Result<()> {
    if !a.yes {
        let p = ops::retention_preview(ctx, a.older_than_days).await?;
        println!(
            "{} messages are older than {} days; add --yes to delete them (--archive FILE keeps a copy)",
            p.messages, a.older_than_days
        );
        return Ok(());
    }
    let archive = match &a.archive {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("could not create {}", p.display()))?,
        )),
        None => None,
    };
    let o = ops::retention(ctx, a.older_than_days, archive).await?;
    println!(
        "{} messages deleted ({} archived); the webhook journal was not touched",
        o.messages, o.archived
    );
    Ok(())
}

pub async fn profile(ctx: &Ctx<'_>, cmd: &ProfileCmd) -> Result<()> {
    match cmd {
        ProfileCmd::List => {
            for p in ops::profiles(ctx).await? {
                println!("{} ({})", p.name, p.role);
            }
        }
        ProfileCmd::Add { name, role } => {
            ops::add_profile(ctx, name, role).await?;
            println!("profile {name} ({role}) added");
        }
        ProfileCmd::SetPin => {
            // Checked before reading, so a refused profile is not asked for a new PIN.
            ctx.owner("change the owner PIN").await?;
            let mut pin = String::new();
            std::io::stdin().read_line(&mut pin)?;
            ops::set_owner_pin(ctx, pin.trim()).await?;
            println!("owner PIN set: billing, settings, exports and secrets now ask for it");
        }
    }
    Ok(())
}
