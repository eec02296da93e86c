//! Tauri commands: thin wrappers over coexist-core, errors mapped once to `{code, message}`.

use crate::error::UiError;
use crate::workspace::Workspace;
use coexist_core::store::{ConversationRow, Stats, ThreadMessage};
use coexist_core::{Clock, SystemClock};
use serde::Serialize;
use tauri::State;

#[derive(Serialize)]
pub struct WorkspaceInfo {
    label: String,
    demo: bool,
    data_dir: String,
    /// The shell's clock, so the UI judges windows by the same time as the core.
    now: i64,
}

#[tauri::command]
pub fn workspace_info(ws: State<'_, Workspace>) -> WorkspaceInfo {
    WorkspaceInfo {
        label: ws.label.clone(),
        demo: ws.demo,
        data_dir: ws.data_dir.display().to_string(),
        now: SystemClock.now(),
    }
}

#[tauri::command]
pub async fn stats(ws: State<'_, Workspace>) -> Result<Stats, UiError> {
    Ok(ws.store.stats().await?)
}

#[tauri::command]
pub async fn list_conversations(
    ws: State<'_, Workspace>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ConversationRow>, UiError> {
    Ok(ws.store.list_conversations(limit.clamp(1, 500), offset.max(0)).await?)
}

/// A page of one conversation; opening it marks it read.
#[tauri::command]
pub async fn thread(
    ws: State<'_, Workspace>,
    contact_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ThreadMessage>, UiError> {
    let page = ws.store.thread(contact_id, before, limit.clamp(1, 500)).await?;
    if before.is_none() {
        ws.store.mark_read(contact_id).await?;
    }
    Ok(page)
}
