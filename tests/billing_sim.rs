//! Billing end to end: a shop day on `coexist-sim`, API sends through `coexist send` and the
//! dispatcher in `coexist serve`, then `coexist billing report --json` must equal the bill
//! computed here, independently, from the simulator's ground truth (what it accepted, whether it
//! was billable, to whom) and the same rate card.

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "billing-sim-secret";
const CARD: &str = "Market,Marketing,Utility,Authentication,Authentication-International\n\
                    India,0.0118,0.0014,0.0014,0.0280\n\
                    Brazil,0.0625,0.0068,0.0068,\n\
                    Indonesia,0.0411,0.0250,0.0250,0.1360\n\
                    United Kingdom,0.0529,0.0220,0.0220,\n\
                    Germany,0.1365,0.0550,0.0550,\n\
                    North America,0.0250,0.0040,0.0135,\n\
                    Other,0.0604,0.0077,0.0077,\n";

/// The test's own market table for the simulator's numbers, and the card above in
/// ten-thousandths of a dollar (exact integers), kept apart from the code under test.
fn expected_price(to: &str, category: &str) -> i64 {
    let market = [("91", 0), ("55", 1), ("62", 2), ("44", 3), ("49", 4), ("1", 5)]
        .iter()
        .find(|(p, _)| to.starts_with(p))
        .map_or(6, |(_, m)| *m);
    let card: [[i64; 3]; 7] = [
        [118, 14, 14],
        [625, 68, 68],
        [411, 250, 250],
        [529, 220, 220],
        [1365, 550, 550],
        [250, 40, 135],
        [604, 77, 77],
    ];
    let column = match category {
        "marketing" => 0,
        "authentication" => 2,
        _ => 1, // utility, and service replies charged at the utility rate
    };
    card[market][column]
}

fn run(dir: &std::path::Path, sim: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("coexist"));
    cmd.arg("--data-dir").arg(dir).args(args);
    with_cloud(&mut cmd, sim, SECRET);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "coexist {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ten_thousandths(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 4, "{s} has more than four decimals");
    whole.parse::<i64>().unwrap() * 10_000 + format!("{frac:0<4}").parse::<i64>().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn report_equals_the_simulators_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    // The simulator's clock starts half a day ago so its shop day has happened by the wall-clock
    // time Coexist sends at: both then see the same 24 h windows.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut sim_cmd = Command::new(bin("coexist-sim"));
    sim_cmd.args(["--listen", "127.0.0.1:0", "--app-secret", SECRET, "--seed", "21"]);
    sim_cmd.args(["--start-time", &(wall - 12 * 3600).to_string()]);
    let (_sim, line) = start(sim_cmd);
    let sim = line.strip_prefix("simulator on ").unwrap().to_string();
    let mut serve = Command::new(bin("coexist"));
    serve
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    with_cloud(&mut serve, &sim, SECRET);
    let (_serve, line) = start(serve);
    let hook = line.strip_prefix("listening on ").unwrap().to_string();
    let http = reqwest::Client::new();
    http.post(format!("{sim}/_sim/webhook_url"))
        .json(&json!({"url": hook}))
        .send()
        .await
        .unwrap();
    http.post(format!("{sim}/_sim/scenario"))
        .json(&json!({"name": "shop-day", "size": 12}))
        .send()
        .await
        .unwrap();
    let settle = || async {
        let t = Instant::now();
        loop {
            let s = sim_stats(&sim).await;
            if s["webhooks_pending"] == 0 && stats(dir.path())["journal"]["pending"] == 0 {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "did not settle");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    settle().await;

    run(dir.path(), &sim, &["templates", "sync"]);
    let customers: Vec<Value> = http
        .get(format!("{sim}/_sim/customers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (i, c) in customers.iter().take(8).enumerate() {
        let to = c["wa_id"].as_str().unwrap();
        let name = format!("1={}", c["name"].as_str().unwrap_or("friend"));
        let order = format!("2=#{i}");
        run(
            dir.path(),
            &sim,
            &[
                "send",
                "--to",
                to,
                "--template",
                "order_update",
                "--lang",
                "en",
                "--param",
                &name,
                "--param",
                &order,
            ],
        );
        if i < 3 {
            run(
                dir.path(),
                &sim,
                &["send", "--to", to, "--text", "Thank you, see you soon!"],
            );
        }
        if i == 5 {
            run(
                dir.path(),
                &sim,
                &[
                    "send",
                    "--to",
                    to,
                    "--template",
                    "login_code",
                    "--lang",
                    "en",
                    "--param",
                    "1=482913",
                ],
            );
        }
        if i == 6 {
            run(dir.path(), &sim, &["consent", "--contact", to, "opt-in"]);
            run(
                dir.path(),
                &sim,
                &[
                    "send",
                    "--to",
                    to,
                    "--template",
                    "spring_sale",
                    "--lang",
                    "en_US",
                    "--param",
                    "first_name=Ana",
                ],
            );
        }
    }
    let truth = settle().await;

    let card = dir.path().join("card.csv");
    std::fs::write(&card, CARD).unwrap();
    let card = card.display().to_string();
    run(
        dir.path(),
        &sim,
        &[
            "billing",
            "import-rates",
            &card,
            "--currency",
            "USD",
            "--effective",
            "2025-07-01",
        ],
    );
    let out = run(
        dir.path(),
        &sim,
        &[
            "billing",
            "report",
            "--from",
            "2020-01-01",
            "--to",
            "2099-12-31",
            "--json",
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The bill, computed here from what the simulator accepted and priced.
    let accepted = truth["accepted"].as_array().unwrap();
    assert_eq!(accepted.len(), 8 + 3 + 2);
    let (mut total, mut by_category) = (0i64, BTreeMap::<String, i64>::new());
    for a in accepted {
        let category = a["category"].as_str().map_or("service".to_string(), str::to_lowercase);
        if a["billable"] == true {
            let p = expected_price(a["to"].as_str().unwrap(), &category);
            total += p;
            *by_category.entry(category).or_default() += p;
        }
    }
    assert!(total > 0, "the 2026 rules make at least the service replies billable");
    assert_eq!(report["currency"], "USD");
    assert_eq!(ten_thousandths(report["total"].as_str().unwrap()), total, "{report}");
    for (category, amount) in &by_category {
        assert_eq!(
            ten_thousandths(report["by_category"][category].as_str().unwrap()),
            *amount,
            "{category}: {report}"
        );
    }
    assert_eq!(report["by_origin"]["phone"], "0", "phone messages are free");
    assert_eq!(report["messages"]["api"], 13);
    assert_eq!(
        report["disagreements"]["count"], 0,
        "Coexist's rules agree with the simulator's: {report}"
    );
    let phone = truth["truth"]["messages"]
        .as_object()
        .unwrap()
        .values()
        .filter(|m| m["origin"] == "phone")
        .count();
    assert_eq!(report["messages"]["phone"], phone);

    // The CSV export has one line per priced message.
    let out = run(
        dir.path(),
        &sim,
        &["billing", "export", "--from", "2020-01-01", "--to", "2099-12-31"],
    );
    let lines = String::from_utf8(out.stdout).unwrap().lines().count();
    assert_eq!(lines, 1 + 13 + phone);
}
