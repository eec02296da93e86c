//! The real Coexist window (Tauri + WebKitGTK) under Xvfb, driven through WebDriver by
//! tauri-driver: opened on a mirror filled from the fixtures, it lists the conversations newest
//! first with their origin badges. `scripts/test.sh` runs it inside xvfb-run and dbus-run-session.

mod common;
use common::*;
use fantoccini::{ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a D-Bus session and tauri-driver: run by scripts/test.sh"]
async fn window_lists_conversations_from_the_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("fixtures-shop");
    assert!(import_all_fixtures(&ws).status.success());

    let port = free_port();
    let _driver = Driver(
        Command::new("tauri-driver")
            .args(["--port", &port.to_string()])
            .env("COEXIST_DATA_DIR", &ws)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tauri-driver is installed (scripts/setup.sh --tests)"),
    );
    let app = bin("coexist-app");
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "browserName": "wry",
        "tauri:options": {"application": app.display().to_string()}
    }))
    .unwrap();
    let start = Instant::now();
    let client = loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };

    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("[data-testid=conversation]"))
        .await
        .expect("the window lists conversations");
    let mut rows = Vec::new();
    for li in client
        .find_all(Locator::Css("[data-testid=conversation]"))
        .await
        .unwrap()
    {
        // textContent: WebKit's driver reports clipped (ellipsis) text as empty.
        let text_of = |css: &'static str| {
            let li = li.clone();
            async move {
                let el = li.find(Locator::Css(css)).await.unwrap();
                el.prop("textContent")
                    .await
                    .unwrap()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            }
        };
        let name = text_of("[data-testid=conversation-name]").await;
        let badge = text_of("[data-testid=origin-badge]").await;
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
    let counts = client
        .find(Locator::Css("[data-testid=message-counts]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        counts.contains("4 from customers") && counts.contains("2 from the phone"),
        "{counts}"
    );
    // Not the demo: the demo badge is only for the sample workspace.
    assert!(client.find(Locator::Css("[data-testid=demo-badge]")).await.is_err());

    let shot = |name: &'static str| {
        let client = client.clone();
        async move {
            if let Ok(path) = std::env::var("COEXIST_SCREENSHOT") {
                let png = client.screenshot().await.unwrap();
                let path = if name == "inbox" {
                    path
                } else {
                    path.replace(".png", &format!("-{name}.png"))
                };
                std::fs::write(&path, png).unwrap();
            }
        }
    };
    shot("inbox").await;

    // The dashboard: the phone app's clock from the fixtures' echoes, this month's bill.
    client
        .find(Locator::Css("[data-testid=nav-dashboard]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let card = client
        .wait()
        .for_element(Locator::Css("[data-testid=heartbeat-card] .big"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        card.contains("Phone app last used") || card.contains("disconnected"),
        "{card}"
    );
    let total = client
        .wait()
        .for_element(Locator::Css("[data-testid=month-total]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(total.contains("spent through the API"), "{total}");
    shot("dashboard").await;

    // Billing and the audit log open too.
    client
        .find(Locator::Css("[data-testid=nav-billing]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("[data-testid=billing-total]"))
        .await
        .unwrap();
    shot("billing").await;
    client
        .find(Locator::Css("[data-testid=nav-audit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let audit = client
        .wait()
        .for_element(Locator::Css("[data-testid=audit-ok]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(audit.contains("Intact"), "{audit}");
    shot("audit").await;
    client.close().await.unwrap();
}
