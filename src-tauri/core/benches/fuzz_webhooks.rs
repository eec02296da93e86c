//! The long fuzz pass: `cargo bench -p coexist-core --bench fuzz_webhooks [-- EXECUTIONS [SEED]]`
//! (default 10,000,000). Prints executions, their rate, the outcomes and the findings; a panic in
//! the applier would end the run with the input that caused it.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let execs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0x00c0_ffee);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let r = runtime.block_on(coexist_testkit::fuzz::run(execs, seed, 1_000));
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz_webhooks: {} executions in {secs:.0} s ({:.0}/s), seed {seed}",
        r.executions,
        r.executions as f64 / secs
    );
    println!(
        "  outcomes: {} applied, {} skipped, {} failed in words; {} also through the journal",
        r.applied, r.skipped, r.failed, r.journaled
    );
    println!("  findings: {}", r.findings.len());
    for (why, input) in r.findings.iter().take(5) {
        println!("  - {why}: {}", String::from_utf8_lossy(&input[..input.len().min(300)]));
    }
    if !r.findings.is_empty() {
        std::process::exit(1);
    }
}
