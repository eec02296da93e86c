//! `coexist billing …`: rate cards, policy, reports, exports and forecasts.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use coexist_core::billing::{parse_day, ImportOutcome};
use coexist_core::ops::{self, Ctx};
use coexist_core::plain::PricingView;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum BillingCmd {
    /// Import a rate card (Meta's CSV: market,marketing,utility,authentication,authentication_international).
    ImportRates {
        file: PathBuf,
        /// The card's currency (three letters).
        #[arg(long)]
        currency: String,
        /// The first day the card applies, YYYY-MM-DD.
        #[arg(long)]
        effective: String,
        /// Volume tiers for this card: market,category,from,to,price.
        #[arg(long)]
        tiers: Option<PathBuf>,
    },
    /// Replace the calling-code → market map (calling_code,market).
    ImportMarkets { file: PathBuf },
    /// Show the pricing rules in force (each dated, with its source); import a newer policy file.
    Policy {
        #[arg(long)]
        import: Option<PathBuf>,
        /// No longer a setting: the 2026-10-01 charge is Meta's dated rule (refused with why).
        #[arg(long, hide = true)]
        service_charge: Option<OnOff>,
        /// Price reports in this currency (a card in it must exist).
        #[arg(long)]
        currency: Option<String>,
        /// on|off: count the 1,000 free service messages a month partners report (not on Meta's
        /// pricing page; off by default).
        #[arg(long)]
        service_allowance: Option<OnOff>,
        #[arg(long)]
        json: bool,
    },
    /// What was spent and saved between two days (inclusive).
    Report {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// The ledger between two days (inclusive) as CSV, one line per message.
    Export {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What a campaign will cost if launched now.
    Forecast {
        #[arg(long)]
        campaign: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// `[from, to]` as days → `[from 00:00, day after to 00:00)`.
fn period(from: &str, to: &str) -> Result<(i64, i64)> {
    let (a, b) = (parse_day(from)?, parse_day(to)? + 86_400);
    if b <= a {
        bail!("--to {to} is before --from {from}");
    }
    Ok((a, b))
}

fn read(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// Prints what an import kept and refused; refused rows make the command fail (exit 2) so a
/// script notices, but the valid rows are kept.
fn report_import(what: &str, o: &ImportOutcome) -> Result<()> {
    println!("{what}: {} rows imported", o.imported);
    for e in &o.rejected {
        eprintln!("line {}: {}", e.line, e.error);
    }
    if !o.rejected.is_empty() {
        eprintln!(
            "{} rows were refused (listed above); the others were kept",
            o.rejected.len()
        );
        std::process::exit(2);
    }
    Ok(())
}

/// The audit action of a billing command that changes settings or exports data.
pub async fn run(ctx: &Ctx<'_>, cmd: &BillingCmd) -> Result<()> {
    // Front desk does not see billing, and once a PIN is set the owner gives it.
    ctx.owner("see or change billing").await?;
    match cmd {
        BillingCmd::ImportRates {
            file,
            currency,
            effective,
            tiers,
        } => {
            let name = file
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let card = ops::RateCardImport {
                csv: read(file)?,
                tiers: tiers.as_ref().map(read).transpose()?,
                currency: currency.clone(),
                effective: effective.clone(),
                source: name,
            };
            let o = ops::import_rate_card(ctx, &card).await?;
            if o.card_id.is_none() {
                for e in &o.rejected {
                    eprintln!("line {}: {}", e.line, e.error);
                }
                bail!("no price could be read from {}: nothing was imported", file.display());
            }
            report_import(&format!("rate card {} from {effective}", currency.to_uppercase()), &o)
        }
        BillingCmd::ImportMarkets { file } => {
            let o = ops::import_market_map(ctx, &read(file)?).await?;
            report_import("market map", &o)
        }
        BillingCmd::Policy {
            import,
            service_charge,
            currency,
            service_allowance,
            json,
        } => {
            let change = ops::PricingChange {
                policy: import.as_ref().map(read).transpose()?,
                service_charge: service_charge.map(|s| matches!(s, OnOff::On)),
                currency: currency.clone(),
                service_allowance: service_allowance.map(|s| matches!(s, OnOff::On)),
            };
            ops::change_pricing(ctx, &change).await?;
            let (billing, cards) = ops::pricing(ctx).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({"policy": billing.policy.file, "currency": billing.currency, "rate_cards": cards,
                                       "service_allowance": billing.policy.service_allowance.map(|(_, n)| n)})
                );
            } else {
                println!("{}", PricingView(&billing, &cards));
            }
            Ok(())
        }
        BillingCmd::Report { from, to, json } => {
            let (a, b) = period(from, to)?;
            let r = ops::billing_report(ctx, a, b).await?;
            if *json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("{r}");
            }
            Ok(())
        }
        BillingCmd::Export { from, to, out } => {
            let (a, b) = period(from, to)?;
            let n = match out {
                Some(path) => {
                    let f =
                        std::fs::File::create(path).with_context(|| format!("could not create {}", path.display()))?;
                    ops::export_billing(ctx, a, b, f, &path.display().to_string()).await?
                }
                None => ops::export_billing(ctx, a, b, std::io::stdout().lock(), "standard output").await?,
            };
            eprintln!("{n} ledger lines exported");
            Ok(())
        }
        BillingCmd::Forecast { campaign, json } => {
            let f = ops::campaign_forecast(ctx, *campaign).await?;
            if *json {
                println!("{}", serde_json::to_string(&f)?);
            } else {
                println!("{f}");
            }
            Ok(())
        }
    }
}
