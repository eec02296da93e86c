//! Driving the real Coexist window through tauri-driver (WebKitWebDriver) under Xvfb: start a
//! session, find, click, type, wait for text, and save screenshots when `COEXIST_SCREENSHOT` is set.
#![allow(dead_code)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // tauri-driver starts WebKitWebDriver, which starts the app: stop the whole group, or the
        // next test would find the old window (and the old driver's port) still there.
        // `--` matters: without it procps reads the negative group id as an option.
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &format!("-{}", self.0.id())])
            .status();
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

/// tauri-driver on a free port with `env` for the app, and a WebDriver session on the app.
pub async fn open_window(env: &[(&str, &std::path::Path)]) -> (Driver, Client) {
    let (port, native) = (free_port(), free_port());
    let mut cmd = Command::new("tauri-driver");
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(["--port", &port.to_string(), "--native-port", &native.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let driver = Driver(
        cmd.spawn()
            .expect("tauri-driver is installed (scripts/setup.sh --tests)"),
    );
    let app = super::common::bin("coexist-app");
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
    (driver, client)
}

pub fn css(s: &str) -> Locator<'_> {
    Locator::Css(s)
}

pub async fn wait_for(client: &Client, selector: &str) -> Element {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector} did not appear: {e}"))
}

pub async fn click(client: &Client, selector: &str) {
    wait_for(client, selector).await.click().await.unwrap();
}

/// textContent, which WebKit's driver reports even for clipped text.
pub async fn text_of(el: &Element) -> String {
    el.prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Waits until the element's text satisfies `ok` (the app refreshes in the background).
pub async fn wait_text(client: &Client, selector: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(el) = client.find(Locator::Css(selector)).await {
            last = text_of(&el).await;
            if ok(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{selector} never reached the expected text; last: {last:?}");
}

/// The row of a list whose text contains `needle`.
pub async fn row_with(client: &Client, selector: &str, needle: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for el in client.find_all(Locator::Css(selector)).await.unwrap_or_default() {
            if text_of(&el).await.contains(needle) {
                return el;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no {selector} containing {needle:?}");
}

/// Opens the inbox's chat whose row shows `name`.
pub async fn open_chat(client: &Client, name: &str) {
    row_with(client, "[data-testid=conversation]", name)
        .await
        .click()
        .await
        .unwrap();
}

/// In the demo, the customer whose conversation row mentions `who` writes `text` (asked of the
/// simulator through the core, as the thread's demo buttons do).
pub async fn demo_customer_writes(client: &Client, who: &str, text: &str) {
    let asked = client
        .execute_async(
            r#"const [who, text, done] = arguments;
               const call = window.__TAURI_INTERNALS__.invoke;
               call('list_conversations', {limit: 50, offset: 0}).then((rows) => {
                 const c = rows.find((r) => JSON.stringify(r).includes(who));
                 if (!c) throw {code: 'test', message: 'no conversation with ' + who};
                 return call('demo_customer_writes', {contactId: c.contact_id, text});
               }).then(() => done('ok'), (e) => done(e.code + ': ' + e.message));"#,
            vec![who.into(), text.into()],
        )
        .await
        .unwrap();
    assert_eq!(asked.as_str(), Some("ok"), "{asked:?}");
}

pub async fn nav(client: &Client, view: &str) {
    click(client, &format!("[data-testid=nav-{view}]")).await;
}

pub async fn shot(client: &Client, name: &str) {
    if let Ok(path) = std::env::var("COEXIST_SCREENSHOT") {
        // The DOM can be ready a frame before WebKit has painted it.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = client.screenshot().await.unwrap();
        let path = path.replace(".png", &format!("-{name}.png"));
        std::fs::write(&path, png).unwrap();
    }
}
