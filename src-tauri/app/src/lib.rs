//! The Coexist desktop shell: opens the workspace, hands core results to the webview, and keeps
//! no business rule of its own.

mod commands;
mod contact_commands;
mod error;
/// What runs behind the window; public so a test can check a client window taking over.
pub mod live;
pub mod notifier;
mod onboarding_commands;
mod send_commands;
mod workspace;

use coexist_core::reminders::ReminderHandle;
use coexist_core::SystemClock;
use std::sync::Arc;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{Emitter, Manager};

pub use workspace::Workspace;

/// When the process started, for the startup figure the UI reports back (`ui_ready`).
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// The reminder loop lives as long as the app (it stops when dropped).
struct Reminders(#[allow(dead_code)] ReminderHandle);

pub fn run() {
    STARTED.get_or_init(std::time::Instant::now);
    tauri::Builder::default()
        // Start at login: offered during onboarding, off until the owner says yes.
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--background"]),
        ))
        .plugin(tauri_plugin_opener::init())
        .setup(|app| {
            let log_dir = app.path().app_log_dir()?;
            init_logging(&log_dir);
            // Copies made to open files last one run.
            if let Ok(cache) = app.path().app_cache_dir() {
                let _ = std::fs::remove_dir_all(cache.join(commands::OPENED_DIR));
            }
            let data_root = app.path().app_data_dir()?;
            let ws = tauri::async_runtime::block_on(Workspace::choose_and_open(&data_root))?;
            let since = || STARTED.get().map(|t| t.elapsed().as_millis() as u64).unwrap_or(0);
            tracing::info!(dir = %ws.data_dir.display(), demo = ws.demo, ms = since(), "workspace open");
            // Reminders reach the owner through the OS even with the window closed. The demo has
            // no real number to remind about.
            if !ws.demo {
                let handle = app.handle().clone();
                let open = Arc::new(move |view: &str| show_main(&handle, Some(view)));
                let reminders = tauri::async_runtime::block_on(async {
                    ReminderHandle::spawn(
                        ws.store.clone(),
                        Arc::new(notifier::DesktopNotifier::new(Some(open))),
                        Arc::new(SystemClock),
                        std::time::Duration::from_secs(60),
                    )
                });
                app.manage(Reminders(reminders));
            }
            // Receiving, applying, sending and automation run while the window does; they start
            // in the background so the window does not wait for the keyring or the simulator.
            app.manage(live::LiveSlot::default());
            let (handle, store, dir, demo) = (app.handle().clone(), ws.store.clone(), ws.data_dir.clone(), ws.demo);
            // What the engine announces reaches the views as `core-event`: they redraw on it
            // instead of polling (a slow poll stays as a fallback).
            let events = coexist_core::events::EventBus::default();
            let mut rx = events.subscribe();
            let forward = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match rx.recv().await {
                        Ok(e) => {
                            let _ = forward.emit("core-event", &e);
                        }
                        Err(RecvError::Lagged(n)) => tracing::debug!(n, "the window missed some events"),
                        Err(RecvError::Closed) => break,
                    }
                }
            });
            tauri::async_runtime::spawn(async move {
                let started = if demo {
                    live::Live::demo(&store, &events).await
                } else {
                    live::Live::connected(&store, &dir, &events).await
                };
                match started {
                    Ok(l) => {
                        handle.state::<live::LiveSlot>().set(l);
                        tracing::info!(ms = since(), "engine started");
                    }
                    Err(e) => tracing::error!(error = %e, "the engine could not start: nothing is sent or received"),
                }
            });
            app.manage(ws);
            tray(app)?;
            if std::env::args().any(|a| a == "--background") {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.hide();
                }
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Coexist in the tray, so reminders still arrive.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == "main" && window.app_handle().tray_by_id("coexist").is_some() {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::workspace_info,
            commands::ui_ready,
            commands::stats,
            commands::list_conversations,
            commands::thread,
            commands::mark_read,
            commands::heartbeat_status,
            commands::graph_api,
            commands::acknowledge_heartbeat,
            commands::reminders,
            commands::billing_summary,
            commands::reply_cost,
            commands::autostart,
            commands::set_autostart,
            commands::audit_log,
            commands::onboarding_status,
            commands::automation_rules,
            commands::automation_test,
            commands::set_vip,
            commands::set_assignee,
            commands::set_automation_pause,
            commands::search,
            commands::campaigns,
            commands::campaign_action,
            commands::outbox_list,
            commands::outbox_resend,
            commands::outbox_cancel,
            commands::outbox_release,
            commands::campaign_forecast,
            commands::export_billing_csv,
            commands::import_rate_card,
            commands::media_preview,
            commands::media_usage,
            commands::save_media_copy,
            commands::set_service_allowance,
            commands::set_media_policy,
            commands::open_media,
            commands::backup_now,
            send_commands::engine_status,
            send_commands::send_text,
            send_commands::send_template,
            send_commands::send_state,
            send_commands::templates,
            send_commands::refresh_templates,
            send_commands::create_template,
            send_commands::create_campaign,
            send_commands::launch_campaign,
            send_commands::campaign_recipients,
            send_commands::demo_customer_writes,
            send_commands::demo_simulator_received,
            send_commands::check_attachment,
            send_commands::send_media,
            send_commands::campaign_header,
            contact_commands::contacts,
            contact_commands::consent_history,
            contact_commands::set_tags,
            contact_commands::set_consent,
            contact_commands::import_contacts,
            contact_commands::response_report,
            onboarding_commands::check_eligibility,
            onboarding_commands::connect_number,
            onboarding_commands::request_sync,
            onboarding_commands::restart_app
        ])
        .run(tauri::generate_context!())
        .expect("the Coexist window could not start");
}

/// Brings the window back, optionally on a given view (a clicked notification).
fn show_main(app: &tauri::AppHandle, view: Option<&str>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
    if let Some(v) = view {
        let _ = app.emit("navigate", v.to_string());
    }
}

fn tray(app: &tauri::App) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Coexist", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Coexist (reminders stop)", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;
    let mut builder = TrayIconBuilder::with_id("coexist")
        .tooltip("Coexist")
        .menu(&menu)
        .on_menu_event(|app, e| match e.id.as_ref() {
            "open" => show_main(app, None),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

/// Logs go to stderr and to `coexist.log` in the OS log folder; secrets never reach them.
fn init_logging(dir: &std::path::Path) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("COEXIST_LOG").unwrap_or_else(|_| "info".into());
    let file = std::fs::create_dir_all(dir)
        .and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("coexist.log"))
        })
        .ok();
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(file_layer)
        .try_init();
}
