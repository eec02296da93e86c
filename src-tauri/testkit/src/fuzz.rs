//! A property-based fuzzer for the webhook parser and applier (coverage-guided fuzzing needs a
//! nightly compiler this project does not use). Inputs are Meta's fixture bodies mutated at the
//! JSON level (a node replaced by another type, an extreme number, a huge or empty string, a key
//! dropped, an element repeated) or at the byte level (flips, cuts, splices). Every input goes
//! through the whole applier on a rolled-back transaction; a sample also goes through the real
//! journal and applier, which must record an outcome for every body: none lost, none pending.

use coexist_core::webhook::{apply_and_discard, apply_pending, BodyOutcome, Rules, SignatureVerdict};
use coexist_core::{FixedClock, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// What a run found.
#[derive(Debug, Default, Clone)]
pub struct FuzzReport {
    pub executions: u64,
    pub applied: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Bodies that also went through the journal and the applier.
    pub journaled: u64,
    /// Panics, errors of the applier itself, bodies left pending: each with the input that did it.
    pub findings: Vec<(String, Vec<u8>)>,
}

const NOW: i64 = 1_795_000_000;

/// Runs `executions` inputs from `seed`, one in `journal_every` also through the journal.
pub async fn run(executions: u64, seed: u64, journal_every: u64) -> FuzzReport {
    let corpus: Vec<Vec<u8>> = crate::fixture_paths()
        .iter()
        .map(|p| std::fs::read(p).expect("fixture readable"))
        .collect();
    let parsed: Vec<Value> = corpus.iter().filter_map(|b| serde_json::from_slice(b).ok()).collect();
    let scratch = Store::open_in_memory().await.expect("in-memory store");
    let journal = Store::open_in_memory().await.expect("in-memory store");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = FuzzReport::default();
    for i in 0..executions {
        let input = mutate(&mut rng, &corpus, &parsed);
        report.executions += 1;
        match apply_and_discard(&scratch, &input, NOW).await {
            Ok(BodyOutcome::Applied) => report.applied += 1,
            Ok(BodyOutcome::Skipped(_)) => report.skipped += 1,
            Ok(BodyOutcome::Failed(_)) => report.failed += 1,
            Err(e) => report
                .findings
                .push((format!("the applier itself failed: {e}"), input.clone())),
        }
        if journal_every > 0 && i % journal_every == 0 {
            report.journaled += 1;
            if let Err(why) = through_the_journal(&journal, &input).await {
                report.findings.push((why, input));
            }
        }
    }
    report
}

/// Journals one body and applies it: an outcome must be recorded, nothing left pending.
async fn through_the_journal(store: &Store, body: &[u8]) -> Result<(), String> {
    store
        .journal_append(body, SignatureVerdict::Imported, NOW)
        .await
        .map_err(|e| format!("could not be journaled: {e}"))?;
    apply_pending(store, &Rules::default(), &FixedClock::new(NOW))
        .await
        .map_err(|e| format!("the applier stopped: {e}"))?;
    let s = store.stats().await.map_err(|e| e.to_string())?;
    let j = s.journal;
    if j.pending != 0 || j.applied + j.failed + j.skipped != j.received {
        return Err(format!("a body was left without an outcome: {j:?}"));
    }
    Ok(())
}

fn mutate(rng: &mut StdRng, corpus: &[Vec<u8>], parsed: &[Value]) -> Vec<u8> {
    if rng.random_bool(0.85) && !parsed.is_empty() {
        let mut v = parsed[rng.random_range(0..parsed.len())].clone();
        // Mostly one change, so most inputs stay readable enough to reach the applier's depths.
        let n = if rng.random_bool(0.7) {
            1
        } else {
            rng.random_range(2..=4)
        };
        for _ in 0..n {
            mutate_json(rng, &mut v, parsed);
        }
        serde_json::to_vec(&v).expect("JSON serialises")
    } else {
        let mut b = corpus[rng.random_range(0..corpus.len())].clone();
        for _ in 0..rng.random_range(1..=3) {
            mutate_bytes(rng, &mut b, corpus);
        }
        b
    }
}

/// Picks a node at random (deeper nodes as likely as shallow ones) and changes it.
fn mutate_json(rng: &mut StdRng, v: &mut Value, donors: &[Value]) {
    let mut node = v;
    loop {
        let children = match node {
            Value::Array(a) if !a.is_empty() => a.len(),
            Value::Object(o) if !o.is_empty() => o.len(),
            _ => 0,
        };
        if children == 0 || rng.random_bool(0.25) {
            break;
        }
        let k = rng.random_range(0..children);
        node = match node {
            Value::Array(a) => &mut a[k],
            Value::Object(o) => o.values_mut().nth(k).expect("index in range"),
            _ => unreachable!("has children"),
        };
    }
    match rng.random_range(0..12) {
        0 => *node = Value::Null,
        1 => *node = Value::from(rng.random::<i64>()),
        2 => {
            *node = Value::from(
                ["", "0", "-1", "99999999999999999999", "1e309", "\u{0}", "é😀", "wamid."][rng.random_range(0..8)],
            )
        }
        3 => *node = Value::from("x".repeat(rng.random_range(0..5000))),
        4 => *node = Value::Array(Vec::new()),
        5 => *node = Value::Object(Default::default()),
        6 => *node = Value::Bool(rng.random()),
        7 => {
            if let Value::Object(o) = node {
                if let Some(k) = o.keys().nth(rng.random_range(0..o.len().max(1))).cloned() {
                    o.remove(&k);
                }
            }
        }
        8 => {
            if let Value::Array(a) = node {
                if let Some(x) = a.first().cloned() {
                    for _ in 0..rng.random_range(1..50) {
                        a.push(x.clone());
                    }
                }
            }
        }
        9 => *node = Value::from(rng.random_range(-1.0e20..1.0e20)),
        10 => {
            // A subtree of another fixture, where it does not belong.
            let d = &donors[rng.random_range(0..donors.len())];
            *node = match d {
                Value::Object(o) if !o.is_empty() => o
                    .values()
                    .nth(rng.random_range(0..o.len()))
                    .cloned()
                    .unwrap_or(Value::Null),
                other => other.clone(),
            };
        }
        _ => {
            if let Value::String(s) = node {
                if !s.is_empty() {
                    let cut = rng.random_range(0..s.len());
                    let cut = (0..=cut).rev().find(|&c| s.is_char_boundary(c)).unwrap_or(0);
                    s.truncate(cut);
                }
            } else if let Value::Number(_) = node {
                *node = Value::from(i64::MAX);
            }
        }
    }
}

fn mutate_bytes(rng: &mut StdRng, b: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    if b.is_empty() {
        b.push(b'{');
        return;
    }
    let at = rng.random_range(0..b.len());
    match rng.random_range(0..5) {
        0 => b[at] ^= 1 << rng.random_range(0..8),
        1 => b.insert(at, rng.random()),
        2 => {
            let end = (at + rng.random_range(1..64)).min(b.len());
            b.drain(at..end);
        }
        3 => {
            let end = (at + rng.random_range(1..256)).min(b.len());
            let copy = b[at..end].to_vec();
            b.splice(at..at, copy);
        }
        _ => {
            let d = &corpus[rng.random_range(0..corpus.len())];
            if !d.is_empty() {
                let from = rng.random_range(0..d.len());
                let end = (from + rng.random_range(1..512)).min(d.len());
                b.splice(at..at, d[from..end].iter().copied());
            }
        }
    }
}
