//! The Contacts and Reports views: the directory, tags, consent, CSV import, response times.

use crate::error::UiError;
use crate::workspace::Workspace;
use coexist_core::directory::{ConsentEvent, ContactRow, ImportReport};
use coexist_core::reports::ResponseReport;
use serde::Serialize;
use tauri::State;

#[derive(Serialize)]
pub struct ContactPage {
    total: i64,
    rows: Vec<ContactRow>,
}

#[tauri::command]
pub async fn contacts(
    ws: State<'_, Workspace>,
    query: Option<String>,
    limit: i64,
    offset: i64,
) -> Result<ContactPage, UiError> {
    let (q, ctx) = (query.as_deref(), ws.ctx(None));
    Ok(ContactPage {
        total: coexist_core::ops::contact_count(&ctx, q).await?,
        rows: coexist_core::ops::contacts(&ctx, q, limit.min(1000), offset).await?,
    })
}

#[tauri::command]
pub async fn consent_history(ws: State<'_, Workspace>, contact_id: i64) -> Result<Vec<ConsentEvent>, UiError> {
    Ok(coexist_core::ops::consent_history(&ws.ctx(None), contact_id).await?)
}

#[tauri::command]
pub async fn set_tags(ws: State<'_, Workspace>, contact_id: i64, tags: Vec<String>) -> Result<(), UiError> {
    Ok(coexist_core::ops::set_tags(&ws.ctx(None), contact_id, &tags).await?)
}

#[tauri::command]
pub async fn set_consent(ws: State<'_, Workspace>, contact_id: i64, opt_in: bool, note: String) -> Result<(), UiError> {
    Ok(coexist_core::ops::set_consent(&ws.ctx(None), contact_id, opt_in, &note).await?)
}

/// The CSV's text (the UI reads the chosen file); good rows are kept, bad ones named by line.
#[tauri::command]
pub async fn import_contacts(ws: State<'_, Workspace>, csv: String) -> Result<ImportReport, UiError> {
    Ok(coexist_core::ops::import_contacts(&ws.ctx(None), &csv).await?)
}

/// Response times and traffic; `utc_offset_secs` is the owner's local offset.
#[tauri::command]
pub async fn response_report(
    ws: State<'_, Workspace>,
    from: i64,
    to: i64,
    utc_offset_secs: i64,
) -> Result<ResponseReport, UiError> {
    Ok(coexist_core::ops::response_report(&ws.ctx(None), from, to, utc_offset_secs).await?)
}
