//! `coexist-sim`: run the Cloud API + phone simulator on loopback.

use anyhow::{Context, Result};
use clap::Parser;
use coexist_sim::{Faults, Scenario, Sim, SimConfig};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(
    name = "coexist-sim",
    version,
    about = "A loopback stand-in for Meta's WhatsApp Cloud API and the owner's phone"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8788")]
    listen: SocketAddr,
    /// Where to post webhooks (Coexist's receiver, e.g. http://127.0.0.1:8787/webhook).
    #[arg(long)]
    webhook_url: Option<String>,
    /// Signs every webhook (X-Hub-Signature-256), as Meta does with your app secret.
    #[arg(long, env = "COEXIST_SIM_APP_SECRET", default_value = "sim-app-secret")]
    app_secret: String,
    /// The bearer token API calls must carry.
    #[arg(long, env = "COEXIST_SIM_ACCESS_TOKEN", default_value = "sim-access-token")]
    access_token: String,
    /// A scenario to run at start: shop-day, history-import or campaign-load.
    #[arg(long)]
    scenario: Option<String>,
    /// Scenario size (customers or messages).
    #[arg(long)]
    size: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Messages per second for the number.
    #[arg(long, default_value_t = 20)]
    throughput: u32,
    /// Faults as JSON, e.g. '{"duplicate":0.1,"reorder":0.1,"server_error":0.02}'.
    #[arg(long)]
    faults: Option<String>,
    /// The owner has turned history sharing off on the phone.
    #[arg(long)]
    history_declined: bool,
    /// The portfolio's messaging limit (unique customers per 24 h); default: unlimited.
    #[arg(long)]
    messaging_limit: Option<u32>,
    /// The number uses No Storage (media expire after 1 hour).
    #[arg(long)]
    no_storage: bool,
    /// Where the virtual clock starts (unix seconds); default: now.
    #[arg(long)]
    start_time: Option<i64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("COEXIST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let args = Args::parse();
    let faults: Faults = match &args.faults {
        Some(f) => serde_json::from_str(f).context("--faults is not valid JSON")?,
        None => Faults::default(),
    };
    let start = args.start_time.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let cfg = SimConfig {
        start_time: start,
        onboarded_at: start - 3600,
        webhook_url: args.webhook_url,
        app_secret: args.app_secret,
        access_token: args.access_token,
        throughput: args.throughput,
        seed: args.seed,
        history_declined: args.history_declined,
        faults,
        messaging_limit: args.messaging_limit,
        no_storage: args.no_storage,
        ..SimConfig::default()
    };
    let sim = Sim::new(cfg);
    let addr = sim
        .serve(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("simulator on http://{addr}");
    if let Some(name) = &args.scenario {
        let s = Scenario::parse(name, args.size).map_err(anyhow::Error::msg)?;
        sim.run_scenario(&s);
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
