//! The short fuzz pass `make test` runs: mutated webhook bodies through the whole applier, a
//! sample of them through the journal too. No panic, no error of the applier itself, no body
//! without an outcome. `make fuzz` runs the long pass (10 million executions, release build).

#[tokio::test]
async fn mutated_webhook_bodies_never_panic_and_never_lose_a_body() {
    let execs = std::env::var("COEXIST_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed = std::env::var("COEXIST_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00c0_ffee);
    let r = coexist_testkit::fuzz::run(execs, seed, 50).await;
    println!(
        "fuzz: {} executions (seed {seed}): {} applied, {} skipped, {} failed in words; {} through the journal; {} findings",
        r.executions,
        r.applied,
        r.skipped,
        r.failed,
        r.journaled,
        r.findings.len()
    );
    for (why, input) in r.findings.iter().take(3) {
        println!(
            "finding: {why}\n  input: {}",
            String::from_utf8_lossy(&input[..input.len().min(400)])
        );
    }
    assert_eq!(r.executions, execs);
    assert!(r.findings.is_empty(), "{} findings (first above)", r.findings.len());
    // The mutations must reach the applier, not only its JSON reader.
    assert!(
        r.applied > execs / 10,
        "too few mutated bodies were applied: {}",
        r.applied
    );
}
