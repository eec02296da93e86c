//! The Coexist desktop shell: opens the workspace, hands core results to the webview, and keeps
//! no business rule of its own.

mod commands;
mod error;
mod workspace;

use tauri::Manager;

pub use workspace::Workspace;

pub fn run() {
    tauri::Builder::default()
        .setup(|app| {
            let log_dir = app.path().app_log_dir()?;
            init_logging(&log_dir);
            let data_root = app.path().app_data_dir()?;
            let ws = tauri::async_runtime::block_on(Workspace::choose_and_open(&data_root))?;
            tracing::info!(dir = %ws.data_dir.display(), demo = ws.demo, "workspace open");
            app.manage(ws);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::workspace_info,
            commands::stats,
            commands::list_conversations,
            commands::thread
        ])
        .run(tauri::generate_context!())
        .expect("the Coexist window could not start");
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
