//! The real Coexist window (Tauri + WebKitGTK) under Xvfb, driven through WebDriver by
//! tauri-driver: opened on a mirror filled from the fixtures, it lists the conversations newest
//! first with their origin badges. `scripts/test.sh` runs it inside xvfb-run and dbus-run-session.

mod common;
mod window;
use common::*;
use window::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a D-Bus session and tauri-driver: run by scripts/test.sh"]
async fn window_lists_conversations_from_the_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("fixtures-shop");
    assert!(import_all_fixtures(&ws).status.success());
    // An owner PIN: billing, forecasts and the audit log are the owner's to read (issue 24, 13).
    let mut set_pin = std::process::Command::new(bin("coexist"))
        .arg("--data-dir")
        .arg(&ws)
        .args(["profile", "set-pin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        set_pin.stdin.take().unwrap().write_all(b"4821\n").unwrap();
    }
    assert!(set_pin.wait().unwrap().success());
    let (_driver, client) = open_window(&[("COEXIST_DATA_DIR", &ws)]).await;

    wait_for(&client, "[data-testid=conversation]").await;
    let mut rows = Vec::new();
    for li in client.find_all(css("[data-testid=conversation]")).await.unwrap() {
        // text_of reads textContent: WebKit's driver reports clipped (ellipsis) text as empty.
        let name = text_of(&li.find(css("[data-testid=conversation-name]")).await.unwrap()).await;
        let badge = text_of(&li.find(css("[data-testid=origin-badge]")).await.unwrap()).await;
        rows.push((name, badge));
    }
    let got: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("Asha Verma", "API"),
            ("Budi", "Customer"),
            ("+5511987654321", "API"),
            ("@marco.p", "Customer"),
            ("@lena", "History"),
        ]
    );
    let counts = text_of(&wait_for(&client, "[data-testid=message-counts]").await).await;
    assert!(
        counts.contains("4 from customers") && counts.contains("2 from the phone"),
        "{counts}"
    );
    // Not the demo: the demo badge is only for the sample workspace.
    assert!(client.find(css("[data-testid=demo-badge]")).await.is_err());

    shot(&client, "fixtures-inbox").await;

    // The dashboard: the phone app's clock from the fixtures' echoes, this month's bill.
    nav(&client, "dashboard").await;
    let card = text_of(&wait_for(&client, "[data-testid=heartbeat-card] .big").await).await;
    assert!(
        card.contains("Phone app last used") || card.contains("disconnected"),
        "{card}"
    );
    // Without the PIN the costs stay hidden; the card offers to show them and asks for it.
    click(&client, "[data-testid=billing-unlock]").await;
    let pin = wait_for(&client, "[data-testid=pin-input]").await;
    pin.send_keys("4821").await.unwrap();
    click(&client, "[data-testid=pin-prompt] button[type=submit]").await;
    let total = text_of(&wait_for(&client, "[data-testid=month-total]").await).await;
    assert!(total.contains("spent through the API"), "{total}");
    shot(&client, "fixtures-dashboard").await;

    // Billing and the audit log open too: the PIN given a moment ago still counts.
    nav(&client, "billing").await;
    wait_for(&client, "[data-testid=billing-total]").await;
    shot(&client, "fixtures-billing").await;
    nav(&client, "audit").await;
    let audit = text_of(&wait_for(&client, "[data-testid=audit-ok]").await).await;
    assert!(audit.contains("Intact"), "{audit}");
    shot(&client, "fixtures-audit").await;
    client.close().await.unwrap();
}

/// Issue 25: while `coexist serve` holds the workspace, a window opened on it is a client. A
/// customer's message that serve receives, and the delivery tick of the reply the window queues
/// (serve sends it), appear in the window through the relayed events — no view polls.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a D-Bus session and tauri-driver: run by scripts/test.sh"]
async fn a_client_window_sees_what_serve_receives_and_sends() {
    use coexist_core::{Clock, SystemClock};
    use coexist_sim::{Scenario, Sim, SimConfig};
    use std::path::Path;
    const SECRET: &str = "client-window-secret";

    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("served-shop");
    let now = SystemClock.now();
    let sim = Sim::new(SimConfig {
        app_secret: SECRET.into(),
        throughput: 20,
        start_time: now,
        onboarded_at: now - 3600,
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let _clock = sim.follow_wall_clock();
    sim.run_scenario(&Scenario::CampaignLoad { customers: 1 });
    let sim_url = format!("http://{addr}");
    let customer = coexist_testkit::sim_customers(&sim_url).await[0]["wa_id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut cmd = std::process::Command::new(bin("coexist"));
    cmd.arg("--data-dir")
        .arg(&ws)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    with_cloud(&mut cmd, &sim_url, SECRET);
    let _serve = serve_for_sim(cmd, &sim_url, &reqwest::Client::new()).await;

    // The window gets the same Cloud API settings (it may send), but serve holds the lease.
    let env: Vec<(&str, &Path)> = vec![
        ("COEXIST_DATA_DIR", ws.as_path()),
        ("COEXIST_API_BASE", Path::new(&sim_url)),
        ("COEXIST_ACCESS_TOKEN", Path::new("sim-access-token")),
        ("COEXIST_PHONE_NUMBER_ID", Path::new("106540352242922")),
        ("COEXIST_WABA_ID", Path::new("102290129340398")),
        ("COEXIST_APP_SECRET", Path::new(SECRET)),
        ("COEXIST_VERIFY_TOKEN", Path::new("v")),
    ];
    let (_driver, client) = open_window(&env).await;
    let elsewhere = text_of(&wait_for(&client, "[data-testid=engine-elsewhere]").await).await;
    assert!(elsewhere.contains("serve"), "{elsewhere}");

    // The customer writes: serve receives and applies it; the window's list shows it.
    sim.customer_writes(&customer, "Is the shop open on Sunday?")
        .expect("the simulator knows the customer");
    let row = row_with(&client, "[data-testid=conversation]", "Is the shop open on Sunday?").await;
    row.click().await.unwrap();
    wait_text(&client, "[data-testid=thread]", 10, |t| {
        t.contains("Is the shop open on Sunday?")
    })
    .await;

    // The window queues a reply; serve's dispatcher sends it, the simulator reports it
    // delivered, and the tick appears in the open thread.
    let box_ = wait_for(&client, "[data-testid=compose-text]").await;
    box_.send_keys("Yes, 10 to 4.").await.unwrap();
    click(&client, "[data-testid=compose-send]").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mine = row_with(&client, "[data-testid=message]", "Yes, 10 to 4.").await;
        let status = match mine.find(css(".status")).await {
            Ok(s) => text_of(&s).await,
            Err(_) => String::new(),
        };
        if status.starts_with("✓✓") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reply's delivery tick did not appear (status {status:?})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // The header's counts catch up too (at most 30 s after the last count, without a poll).
    wait_text(&client, "[data-testid=message-counts]", 40, |t| {
        t.contains("1 from customers")
    })
    .await;
    shot(&client, "client-window").await;
    // Serve sent it, once.
    let accepted = sim.accepted();
    assert_eq!(accepted.iter().filter(|a| a.to == customer).count(), 1, "{accepted:?}");
}
