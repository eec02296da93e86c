//! `coexist connect`, `sync`, `doctor`, `heartbeat ack` and `reminders`: connecting a number and
//! keeping it connected. Secrets go to the OS keyring and are never printed.

use crate::send_cmd::cloud_settings;
use crate::{keyring_for, open};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use coexist_core::cloud::CloudClient;
use coexist_core::onboarding::{EligibilityPolicy, NewConnection, SyncType};
use coexist_core::ops::{self, Ctx};
use coexist_core::reminders::schedule::SYNC_WINDOW_SECS;
use coexist_core::secrets::{self, SecretKind, SecretStore, Sensitive};
use coexist_core::Store;
use serde_json::{json, Value};
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
    let known = store.account_ids().await?;
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

    let report = ops::connect(ctx, &keyring, &form, client).await.map_err(|e| match e {
        coexist_core::CoreError::Secret(m) => keyring_error(&m),
        other => other.into(),
    })?;
    if report.link.error_code == Some(190) {
        bail!(
            "Meta refused the access token ({}). Create a new system-user token with whatsapp_business_messaging and whatsapp_business_management, then run connect again.",
            report.link.error.as_deref().unwrap_or("")
        );
    }
    let (waba, phone) = (&report.waba_id, &report.phone_number_id);
    let number = report.display_number.clone();
    let eligibility = match &number {
        Some(n) => Some(EligibilityPolicy::shipped().check(n, a.app_version.as_deref(), now)?),
        None => None,
    };
    let onboarded = report.onboarded_at;
    let mut syncs = Vec::new();
    if a.request_sync {
        let token = secrets::lookup(&keyring, SecretKind::AccessToken)?.context("the access token is missing")?;
        let client = client(token);
        for t in [SyncType::Contacts, SyncType::History] {
            syncs.push(match coexist_core::ops::request_sync(ctx, &client, t).await {
                Ok(o) => serde_json::to_value(o)?,
                Err(e) => json!({"sync_type": t, "result": "not requested", "message": e.to_string()}),
            });
        }
    }
    let l = &report.link;
    let link = if l.checked {
        json!({"checked": true, "linked": l.linked, "is_on_biz_app": l.is_on_biz_app, "platform_type": l.platform_type,
               "verified_name": l.verified_name})
    } else {
        json!({"checked": false, "error": l.error})
    };
    let out = json!({
        "waba_id": waba, "phone_number_id": phone, "display_number": number, "link": link,
        "eligibility": eligibility, "onboarded_at": onboarded,
        "sync_deadline": report.sync_deadline, "secrets": secret_state, "sync": syncs,
    });
    if a.json {
        println!("{out}");
    } else {
        println!(
            "connected {} (phone number id {phone}, account {waba})",
            number.as_deref().unwrap_or("the number")
        );
        match link["linked"].as_bool() {
            Some(true) => {
                println!("  link: the number is on the WhatsApp Business app and the Cloud API (coexistence)")
            }
            Some(false) => println!(
                "  link: Meta does not report this number in coexistence yet ({}, {})",
                link["is_on_biz_app"], link["platform_type"]
            ),
            None => println!(
                "  link: not checked ({})",
                link["error"].as_str().unwrap_or("no answer")
            ),
        }
        if let Some(e) = &eligibility {
            for line in &e.answers {
                println!("  {line}");
            }
        }
        if let Some(deadline) = report.sync_deadline {
            println!(
                "  the contact and history sync can be requested until {} (`coexist sync both`)",
                day(deadline)
            );
        }
        for s in &syncs {
            println!("  {}", s["message"].as_str().unwrap_or(""));
        }
        println!(
            "  secrets: kept in {}; Coexist never writes them to its database or logs",
            keyring_backend()
        );
    }
    Ok(())
}

fn client(token: Sensitive<String>) -> CloudClient {
    CloudClient::from_env(token, std::time::Duration::from_secs(20))
}

fn keyring_error(e: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the OS keyring could not be used ({e}). Coexist keeps secrets in {}; on Linux start GNOME Keyring or KWallet, or set the COEXIST_* variables instead",
        keyring_backend()
    )
}

/// The keyring this build uses, named for the owner.
pub fn keyring_backend() -> &'static str {
    if cfg!(target_os = "macos") {
        "the macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "the Windows Credential Manager"
    } else {
        "the Secret Service (GNOME Keyring or KWallet, over D-Bus)"
    }
}

/// A UTC date and time for people.
fn day(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map_or_else(|| at.to_string(), |d| d.format("%a %-d %b %Y %H:%M UTC").to_string())
}

pub async fn sync(cli: &crate::Cli, dir: &Path, what: SyncArg, json_out: bool, now: i64) -> Result<()> {
    let store = open(dir).await?;
    let cloud = cloud_settings(dir, &store).await?;
    let ctx = crate::ctx(cli, &store, now);
    let types = match what {
        SyncArg::Contacts => vec![SyncType::Contacts],
        SyncArg::History => vec![SyncType::History],
        SyncArg::Both => vec![SyncType::Contacts, SyncType::History],
    };
    let mut failed = false;
    let mut out = Vec::new();
    for t in types {
        match coexist_core::ops::request_sync(&ctx, &cloud.client, t).await {
            Ok(o) => {
                failed |= o.result != "accepted";
                out.push(serde_json::to_value(&o)?);
            }
            Err(e) => {
                failed = true;
                out.push(json!({"sync_type": t, "result": "not requested", "message": e.to_string()}));
            }
        }
    }
    if json_out {
        println!("{}", Value::Array(out));
    } else {
        for o in &out {
            println!("{}", o["message"].as_str().unwrap_or(""));
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

pub async fn doctor(dir: &Path, json_out: bool, now: i64) -> Result<()> {
    let store = open(dir).await?;
    let keyring = keyring_for(dir);
    let hb = store.heartbeat_status(now).await?;
    store.plan_reminders(now).await?;
    let reminders = store.reminders().await?;
    let display = store.display_number().await?;
    let onboarding = store.onboarding_status(now).await?;
    let onboarded = onboarding.onboarded_at;
    let eligibility = display
        .as_deref()
        .and_then(|n| EligibilityPolicy::shipped().check(n, None, now).ok());
    let mut secrets_state = serde_json::Map::new();
    let mut keyring_ok = true;
    for (kind, _) in SECRET_PROMPTS {
        let state = if std::env::var(kind.env_var()).is_ok_and(|v| !v.is_empty()) {
            "set (environment)".to_string()
        } else {
            match keyring.get(kind) {
                Ok(Some(_)) => "set (keyring)".into(),
                Ok(None) => "missing".into(),
                Err(e) => {
                    keyring_ok = false;
                    format!("keyring error: {e}")
                }
            }
        };
        secrets_state.insert(kind.key().into(), json!(state));
    }
    // The link as Meta sees it now, when Coexist can ask.
    let api = match cloud_settings(dir, &store).await {
        Ok(c) => match c.phone_number_id {
            Some(p) => match c.client.phone_status(&p).await {
                Ok(s) => {
                    if let Some(tier) = &s.whatsapp_business_manager_messaging_limit {
                        store.set_messaging_limit(tier, now).await?;
                    }
                    json!({"checked": true, "linked": s.linked(), "is_on_biz_app": s.is_on_biz_app, "platform_type": s.platform_type})
                }
                Err(e) => json!({"checked": false, "error": e.message}),
            },
            None => json!({"checked": false, "error": "the phone number id is unknown"}),
        },
        Err(e) => json!({"checked": false, "error": e.to_string()}),
    };
    let receiver = store.runtime_note("receiver").await?;
    let reachable = match &receiver {
        Some((url, _)) => {
            let health = url.replace("/webhook", "/healthz");
            Some(answers(&health).await)
        }
        None => None,
    };
    let last_received = store.last_received_at().await?;
    let stats = store.stats().await?;
    let versions = coexist_core::cloud::graph_version::GraphVersions::from_env();
    let graph_api = versions.check(&versions.in_use(), now);
    let sync_requests: Vec<Value> = store
        .sync_requests()
        .await?
        .into_iter()
        .map(|(t, at, r)| json!({"sync_type": t, "intent_at": at, "result": r}))
        .collect();
    let out = json!({
        "link": {"state": hb.link_state, "reason": hb.link_reason, "api": api},
        "eligibility": eligibility,
        "deadlines": {
            "onboarded_at": onboarded,
            "sync_window_closes_at": onboarding.sync_window_closes_at,
            "sync_window_open": onboarding.sync_window_open,
            "sync_requests": sync_requests,
            "history": {"state": onboarding.history_state, "progress": onboarding.history_progress},
            "phone_app_deadline_at": hb.deadline_at,
            "link_drop_expected_at": hb.drop_expected_at,
        },
        "heartbeat": {"last_at": hb.last_heartbeat, "source": hb.source, "days_since": hb.days_since,
                      "next_reminder": hb.next_reminder},
        "webhooks": {"receiver": receiver.as_ref().map(|r| &r.0), "reachable": reachable,
                     "last_received_at": last_received, "journal": stats.journal},
        "keyring": {"backend": keyring_backend(), "working": keyring_ok, "secrets": secrets_state},
        "reminders": reminders,
        "messaging_limit": store.limit_budget(now).await?,
        "graph_api": graph_api,
    });
    if json_out {
        println!("{out}");
        return Ok(());
    }
    let ok = |b: bool| if b { "ok  " } else { "!!  " };
    println!(
        "{}link: {}{}",
        ok(hb.link_state == coexist_core::states::LinkState::Connected),
        hb.link_state,
        hb.link_reason.map(|r| format!(" ({r})")).unwrap_or_default()
    );
    match out["link"]["api"]["checked"].as_bool() {
        Some(true) => println!(
            "{}Meta reports the number {}",
            ok(out["link"]["api"]["linked"] == true),
            if out["link"]["api"]["linked"] == true {
                "on the app and the API"
            } else {
                "NOT in coexistence"
            }
        ),
        _ => println!(
            "..  Meta not asked: {}",
            out["link"]["api"]["error"].as_str().unwrap_or("")
        ),
    }
    match &graph_api.warning {
        Some(w) => println!("!!  {w}"),
        None => println!(
            "ok  Graph API {} (available until {}{})",
            graph_api.version,
            if graph_api.estimated { "about " } else { "" },
            graph_api.ends.as_deref().unwrap_or("?")
        ),
    }
    let budget = store.limit_budget(now).await?;
    match (budget.limit, budget.left()) {
        (Some(limit), Some(left)) => println!(
            "{}messaging limit: {limit} new customers per 24 h, {left} left now",
            ok(left > 0)
        ),
        _ => println!(
            "..  messaging limit: {}",
            budget.tier.as_deref().unwrap_or("not known yet")
        ),
    }
    if let Some(e) = &eligibility {
        for a in &e.answers {
            println!("{}{a}", ok(e.eligible));
        }
    }
    match (hb.last_heartbeat, hb.days_since) {
        (Some(at), Some(d)) => println!(
            "{}phone app last used {d} days ago ({}, {}); open it before {}",
            ok(d < 10),
            day(at),
            hb.source.unwrap_or_default(),
            day(at + 13 * 86_400)
        ),
        _ => println!("..  no sign of the phone app yet"),
    }
    if let Some(o) = onboarded {
        let closes = o + SYNC_WINDOW_SECS;
        println!(
            "..  sync window {} {}",
            if now <= closes { "closes" } else { "closed" },
            day(closes)
        );
    }
    match (&receiver, reachable) {
        (Some((url, _)), Some(true)) => println!("ok  webhook receiver answering at {url}"),
        (Some((url, _)), _) => {
            println!("!!  webhook receiver at {url} does not answer: is `coexist serve` (or the app) running?")
        }
        (None, _) => println!("..  no webhook receiver has run yet (`coexist serve`)"),
    }
    println!(
        "{}secrets in {}: {}",
        ok(keyring_ok),
        keyring_backend(),
        secrets_state
            .iter()
            .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for r in &reminders {
        println!(
            "..  reminder {}: {} at {}",
            r.kind,
            r.title.as_deref().unwrap_or(""),
            day(r.due_at)
        );
    }
    Ok(())
}

/// Does the receiver answer its health check?
async fn answers(url: &str) -> bool {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .expect("HTTP client builds");
    http.get(url).send().await.is_ok_and(|r| r.status().is_success())
}

pub async fn heartbeat_ack(ctx: &Ctx<'_>) -> Result<()> {
    let hb = coexist_core::ops::acknowledge_heartbeat(ctx).await?;
    println!("noted: the phone app was opened now.");
    if let Some(r) = hb.next_reminder {
        println!("next reminder {}", day(r.due_at));
    }
    Ok(())
}

pub async fn reminders(store: &Store, json_out: bool, now: i64) -> Result<()> {
    store.plan_reminders(now).await?;
    let list = store.reminders().await?;
    if json_out {
        println!("{}", serde_json::to_string(&list)?);
    } else if list.is_empty() {
        println!("no reminders");
    } else {
        for r in &list {
            let state = match (r.fired_at, r.acknowledged_at) {
                (Some(_), None) => "shown",
                _ => "due",
            };
            println!(
                "{} {state} {} [{}] {}",
                day(r.due_at),
                r.kind,
                r.urgency,
                r.title.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}
