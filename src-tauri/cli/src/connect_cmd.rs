//! `coexist connect`, `sync`, `doctor`, `heartbeat ack` and `reminders`: connecting a number and
//! keeping it connected. Secrets go to the OS keyring and are never printed.

use crate::{keyring_for, open};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use coexist_core::config::{cloud_client, Config};
use coexist_core::onboarding::{EligibilityPolicy, NewConnection, SyncType};
use coexist_core::ops::doctor::day;
use coexist_core::ops::doctor::Mark;
use coexist_core::ops::{self, Ctx};
use coexist_core::secrets::keyring_backend;
use coexist_core::secrets::{SecretKind, SecretStore};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

#[derive(Args)]
pub struct ConnectArgs {
    /// The WhatsApp Business Account id (Meta's app dashboard → WhatsApp → API setup).
    #[arg(long)]
    waba_id: Option<String>,
    /// The phone number id (same page).
    #[arg(long)]
    phone_number_id: Option<String>,
    /// The WhatsApp Business app version on the phone (Settings → Help → App info).
    #[arg(long)]
    app_version: Option<String>,
    /// The number, if Meta cannot be asked (with country code).
    #[arg(long)]
    number: Option<String>,
    /// When the number was connected to the API (unix seconds); default: now, the first time.
    #[arg(long)]
    onboarded_at: Option<i64>,
    /// Request the contact and history sync right away (once only, within 24 hours).
    #[arg(long)]
    request_sync: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SyncArg {
    Contacts,
    History,
    Both,
}

const SECRET_PROMPTS: [(SecretKind, &str); 3] = [
    (
        SecretKind::AccessToken,
        "Access token (a system user token from Meta Business Settings)",
    ),
    (
        SecretKind::AppSecret,
        "App secret (Meta app dashboard → Settings → Basic)",
    ),
    (
        SecretKind::VerifyToken,
        "Webhook verify token (any phrase; enter the same one in Meta's webhook settings)",
    ),
];

fn ask(prompt: &str, interactive: bool, lines: &mut impl BufRead) -> Result<String> {
    if interactive {
        eprint!("{prompt}: ");
        std::io::stderr().flush()?;
    }
    let mut s = String::new();
    lines.read_line(&mut s)?;
    Ok(s.trim().to_string())
}

/// A secret: typed at a terminal without echo, else one line of what is piped in.
fn ask_secret(prompt: &str, interactive: bool, lines: &mut impl BufRead) -> Result<String> {
    if interactive {
        let typed = rpassword::prompt_password(format!("{prompt}: ")).context("could not read from the terminal")?;
        return Ok(typed.trim().to_string());
    }
    ask(prompt, false, lines)
}

pub async fn connect(ctx: &Ctx<'_>, dir: &Path, a: &ConnectArgs) -> Result<()> {
    let (store, now) = (ctx.store, ctx.now);
    // Asked before any secret is typed, so a refused profile is not asked for one.
    ctx.owner("connect a number and store its secrets").await?;
    let keyring = keyring_for(dir);
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    let mut secret_state = serde_json::Map::new();
    let mut form = NewConnection {
        number: a.number.clone(),
        onboarded_at: a.onboarded_at,
        ..Default::default()
    };
    // Secrets: from the environment (servers, CI: not stored), else typed or piped in, one per line.
    for (kind, prompt) in SECRET_PROMPTS {
        if std::env::var(kind.env_var()).is_ok_and(|v| !v.is_empty()) {
            secret_state.insert(kind.key().into(), json!("set (environment)"));
            continue;
        }
        let have = keyring.get(kind).map_err(|e| keyring_error(&e.to_string()))?.is_some();
        let hint = if have { " [Enter keeps the stored one]" } else { "" };
        let value = ask_secret(&format!("{prompt}{hint}"), interactive, &mut lines)?;
        if value.is_empty() && !have {
            bail!(
                "the {} is needed: type it, pipe it on standard input, or set {}",
                kind.key().replace('_', " "),
                kind.env_var()
            );
        }
        *match kind {
            SecretKind::AccessToken => &mut form.access_token,
            SecretKind::AppSecret => &mut form.app_secret,
            SecretKind::VerifyToken => &mut form.verify_token,
            SecretKind::AuditKey => continue,
        } = value;
        secret_state.insert(kind.key().into(), json!("set (keyring)"));
    }
    let known = ops::account_ids(ctx).await?;
    let mut id = |given: &Option<String>, known: Option<String>, what: &str| -> Result<String> {
        match (given, known) {
            (Some(v), _) => Ok(v.trim().to_string()),
            (None, Some(k)) => Ok(k),
            (None, None) if interactive => ask(what, true, &mut lines),
            (None, None) => bail!("the {what} is needed: pass it as a flag"),
        }
    };
    form.waba_id = id(&a.waba_id, known.waba_id, "WhatsApp Business Account id (--waba-id)")?;
    form.phone_number_id = id(
        &a.phone_number_id,
        known.phone_number_id,
        "phone number id (--phone-number-id)",
    )?;
    drop(lines);

    let report = ops::connect(ctx, &keyring, &form, cloud_client)
        .await
        .map_err(|e| match e {
            coexist_core::CoreError::Secret(m) => keyring_error(&m),
            other => other.into(),
        })?;
    if report.link.error_code == Some(190) {
        bail!(
            "Meta refused the access token ({}). Create a new system-user token with whatsapp_business_messaging and whatsapp_business_management, then run connect again.",
            report.link.error.as_deref().unwrap_or("")
        );
    }
    let eligibility = match &report.display_number {
        Some(n) => Some(EligibilityPolicy::shipped().check(n, a.app_version.as_deref(), now)?),
        None => None,
    };
    let syncs = match a.request_sync {
        true => {
            let client = Config::load(store, &keyring).await?.cloud()?;
            ops::request_syncs(ctx, &client, &[SyncType::Contacts, SyncType::History]).await
        }
        false => Vec::new(),
    };
    let view = coexist_core::plain::Connected {
        report: &report,
        eligibility: eligibility.as_ref(),
        secrets: &secret_state,
        syncs: &syncs,
    };
    if a.json {
        println!("{}", view.json());
    } else {
        println!("{view}");
    }
    Ok(())
}

fn keyring_error(e: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the OS keyring could not be used ({e}). Coexist keeps secrets in {}; on Linux start GNOME Keyring or KWallet, or set the COEXIST_* variables instead",
        keyring_backend()
    )
}

pub async fn sync(cli: &crate::Cli, dir: &Path, what: SyncArg, json_out: bool, now: i64) -> Result<()> {
    let store = open(dir).await?;
    let client = crate::config(dir, &store).await?.cloud()?;
    let ctx = crate::ctx(cli, &store, now);
    let types = match what {
        SyncArg::Contacts => vec![SyncType::Contacts],
        SyncArg::History => vec![SyncType::History],
        SyncArg::Both => vec![SyncType::Contacts, SyncType::History],
    };
    let out = ops::request_syncs(&ctx, &client, &types).await;
    let failed = out.iter().any(|o| o.result != "accepted");
    if json_out {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for o in &out {
            println!("{}", o.message);
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

pub async fn doctor(ctx: &Ctx<'_>, dir: &Path, json_out: bool) -> Result<()> {
    let config = crate::config(dir, ctx.store).await?;
    let report = ops::doctor(ctx, &config).await?;
    if json_out {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    for (mark, line) in report.lines(ctx.now) {
        let mark = match mark {
            Mark::Ok => "ok  ",
            Mark::Problem => "!!  ",
            Mark::Note => "..  ",
        };
        println!("{mark}{line}");
    }
    Ok(())
}

pub async fn heartbeat_ack(ctx: &Ctx<'_>) -> Result<()> {
    let hb = coexist_core::ops::acknowledge_heartbeat(ctx).await?;
    println!("noted: the phone app was opened now.");
    if let Some(r) = hb.next_reminder {
        println!("next reminder {}", day(r.due_at));
    }
    Ok(())
}

pub async fn reminders(ctx: &Ctx<'_>, json_out: bool) -> Result<()> {
    let list = ops::reminders(ctx).await?;
    if json_out {
        println!("{}", serde_json::to_string(&list)?);
    } else if list.is_empty() {
        println!("no reminders");
    } else {
        for r in &list {
            println!("{r}");
        }
    }
    Ok(())
}
