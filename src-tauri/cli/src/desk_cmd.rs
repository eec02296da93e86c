//! `coexist automation`, `audit`, `backup`, `retention` and `profile`: the desk's rules and the
//! records that let a shop prove what happened.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use coexist_core::automation::decide;
use coexist_core::Store;
use std::io::Write;
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
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(i64).range(1..=8_784))]
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
    Create { file: PathBuf },
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

async fn contact_id(store: &Store, number: &str) -> Result<i64> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    sqlx::query_scalar("SELECT id FROM contact WHERE wa_id = ? OR bsuid = ?")
        .bind(&digits)
        .bind(number)
        .fetch_optional(store.pool())
        .await?
        .with_context(|| format!("no contact {number} in this workspace"))
}

pub async fn automation(store: &Store, cmd: &AutomationCmd, actor: &str, pin: Option<&str>, now: i64) -> Result<()> {
    match cmd {
        AutomationCmd::Show => println!("{}", serde_json::to_string_pretty(&store.automation_config().await?)?),
        AutomationCmd::Set { file } => {
            store.require_owner(actor, pin, "change automation settings").await?;
            let text = std::fs::read_to_string(file).with_context(|| format!("could not read {}", file.display()))?;
            let cfg = store.set_automation_config(&text, actor, now).await?;
            println!(
                "automation {}: {} FAQ, {} routing rules, {} follow-ups",
                if cfg.enabled { "on" } else { "off" },
                cfg.faq.len(),
                cfg.routing.len(),
                cfg.follow_ups.len()
            );
        }
        AutomationCmd::Test { text, first_contact } => {
            let cfg = store.automation_config().await?;
            let d = decide(&cfg, Some(text), *first_contact, true, now);
            println!("{}", serde_json::to_string(&d)?);
        }
        AutomationCmd::Run => {
            let cfg = store.automation_config().await?;
            println!("{}", serde_json::to_string(&store.run_automation(&cfg, now).await?)?);
        }
        AutomationCmd::Pause { contact, hours } => {
            let id = contact_id(store, contact).await?;
            store
                .set_automation_pause(id, Some(now + hours * 3600), actor, now)
                .await?;
            println!("automation stays out of the chat with {contact} for {hours} hours");
        }
        AutomationCmd::Resume { contact } => {
            let id = contact_id(store, contact).await?;
            store.set_automation_pause(id, None, actor, now).await?;
            println!("the chat with {contact} is back with automation");
        }
    }
    Ok(())
}

pub async fn audit(store: &Store, cmd: &AuditCmd, actor: &str, pin: Option<&str>, now: i64) -> Result<()> {
    match cmd {
        AuditCmd::Verify { json } => {
            let v = store.audit_verify().await?;
            if *json {
                println!("{}", serde_json::to_string(&v)?);
            } else if v.ok {
                println!(
                    "the audit log is intact: {} entries, each chained to the one before",
                    v.entries
                );
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
            store.require_owner(actor, pin, "export the audit log").await?;
            // The export itself is recorded first, so the file ends with it.
            store
                .audit(now, actor, "export.audit", None, serde_json::json!({}))
                .await?;
            let entries = store.audit_entries().await?;
            let mut w: Box<dyn Write> = match out {
                Some(p) => {
                    Box::new(std::fs::File::create(p).with_context(|| format!("could not create {}", p.display()))?)
                }
                None => Box::new(std::io::stdout().lock()),
            };
            for e in &entries {
                serde_json::to_writer(&mut w, e)?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
            eprintln!("{} audit entries exported", entries.len());
        }
    }
    Ok(())
}

pub async fn backup(dir: &Path, cmd: &BackupCmd, actor: &str, pin: Option<&str>, now: i64) -> Result<()> {
    match cmd {
        BackupCmd::Create { file } => {
            let store = crate::open(dir).await?;
            store.require_owner(actor, pin, "back up the workspace").await?;
            let info = store.backup_to(file, actor, now).await?;
            println!(
                "backup written to {} ({} bytes: {} messages, {} webhook bodies)",
                info.path, info.bytes, info.messages, info.journal
            );
        }
        BackupCmd::Restore { file, yes } => {
            {
                let store = crate::open(dir).await?;
                store.require_owner(actor, pin, "restore a backup").await?;
                store.close().await;
            }
            if !yes {
                bail!("restoring replaces the workspace's database (the current one is kept as coexist.sqlite3.before-restore): add --yes to confirm");
            }
            let info = coexist_core::safety::restore(file, dir).await?;
            let store = crate::open(dir).await?;
            store
                .audit(
                    now,
                    actor,
                    "restore",
                    Some(&file.display().to_string()),
                    serde_json::json!({"messages": info.messages, "held": info.held, "paused_campaigns": info.paused_campaigns}),
                )
                .await?;
            println!(
                "restored {} messages and {} webhook bodies from {}",
                info.messages,
                info.journal,
                file.display()
            );
            if info.held + info.paused_campaigns > 0 {
                println!(
                    "{} queued message(s) held and {} campaign(s) paused: they may have gone out after the backup was taken. \
                     Check them, then `coexist outbox release --all` and `coexist campaign resume ID`.",
                    info.held, info.paused_campaigns
                );
            }
        }
    }
    Ok(())
}

pub async fn retention(store: &Store, a: &RetentionArgs, actor: &str, pin: Option<&str>, now: i64) -> Result<()> {
    store.require_owner(actor, pin, "delete old messages").await?;
    if a.older_than_days < 1 {
        bail!("--older-than-days must be at least 1");
    }
    let cutoff = now - a.older_than_days * 86_400;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message WHERE timestamp < ?")
        .bind(cutoff)
        .fetch_one(store.pool())
        .await?;
    if !a.yes {
        println!(
            "{n} messages are older than {} days; add --yes to delete them (--archive FILE keeps a copy)",
            a.older_than_days
        );
        return Ok(());
    }
    let archive = match &a.archive {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("could not create {}", p.display()))?,
        )),
        None => None,
    };
    let o = store.apply_retention(cutoff, archive, actor, now).await?;
    println!(
        "{} messages deleted ({} archived); the webhook journal was not touched",
        o.messages, o.archived
    );
    Ok(())
}

pub async fn profile(store: &Store, cmd: &ProfileCmd, actor: &str, pin: Option<&str>, now: i64) -> Result<()> {
    match cmd {
        ProfileCmd::List => {
            for p in store.profiles().await? {
                println!("{} ({})", p.name, p.role);
            }
        }
        ProfileCmd::Add { name, role } => {
            store.require_owner(actor, pin, "add profiles").await?;
            store.add_profile(name, role, actor, now).await?;
            println!("profile {name} ({role}) added");
        }
        ProfileCmd::SetPin => {
            store.require_owner(actor, pin, "change the owner PIN").await?;
            let mut pin = String::new();
            std::io::stdin().read_line(&mut pin)?;
            store.set_owner_pin(pin.trim(), actor, now).await?;
            println!("owner PIN set: billing, settings, exports and secrets now ask for it");
        }
    }
    Ok(())
}
