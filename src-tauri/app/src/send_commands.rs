//! Commands that make messages leave: compose (text inside the window, a template outside),
//! templates, the campaign builder, and — in the demo — a simulated customer writing in.

use crate::error::UiError;
use crate::live::{Live, LiveSlot};
use crate::workspace::Workspace;
use coexist_core::cloud::TemplateInfo;
use coexist_core::engine::EngineStatus;
use coexist_core::ops;
use coexist_core::send::{Audience, CampaignRecipient};
use coexist_core::CoreError;
use serde::Deserialize;
use tauri::State;

#[tauri::command]
pub async fn engine_status(engine: State<'_, LiveSlot>) -> Result<EngineStatus, UiError> {
    Ok(engine.ready().await?.status())
}

async fn wa_id(ws: &Workspace, contact_id: i64) -> Result<String, UiError> {
    Ok(ops::address_of(&ws.ctx(None), contact_id).await?)
}

fn must_send(live: &Live) -> Result<(), UiError> {
    let status = live.status();
    if status.sending {
        Ok(())
    } else {
        Err(CoreError::NotConfigured(status.notes.join(" ")).into())
    }
}

/// A free-form reply: refused (code `window_closed`) when the 24-hour window is shut.
#[tauri::command]
pub async fn send_text(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    contact_id: i64,
    text: String,
) -> Result<i64, UiError> {
    let live = engine.ready().await?;
    must_send(live)?;
    let to = wa_id(&ws, contact_id).await?;
    let id = ops::send_text(&ws.ctx(None), &to, &text).await?;
    live.wake();
    Ok(id)
}

/// An approved template, e.g. to reopen a conversation after the window closed.
#[tauri::command]
pub async fn send_template(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    contact_id: i64,
    name: String,
    language: String,
    params: Vec<(String, String)>,
) -> Result<i64, UiError> {
    let live = engine.ready().await?;
    must_send(live)?;
    let to = wa_id(&ws, contact_id).await?;
    let id = ops::send_template(&ws.ctx(None), &to, &name, &language, &params).await?;
    live.wake();
    Ok(id)
}

/// Where one sent message stands, with why in words when it failed.
#[tauri::command]
pub async fn send_state(ws: State<'_, Workspace>, id: i64) -> Result<ops::SendState, UiError> {
    Ok(ops::send_state(&ws.ctx(None), id).await?)
}

#[tauri::command]
pub async fn templates(ws: State<'_, Workspace>) -> Result<Vec<TemplateInfo>, UiError> {
    Ok(ops::templates(&ws.ctx(None)).await?)
}

/// Reads the account's templates again (statuses change as Meta reviews them).
#[tauri::command]
pub async fn refresh_templates(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
) -> Result<Vec<TemplateInfo>, UiError> {
    let live = engine.ready().await?;
    let ctx = ws.ctx(None);
    if let Some((client, Some(waba))) = live.cloud() {
        ops::sync_templates(&ctx, client, waba).await?;
    }
    Ok(ops::templates(&ctx).await?)
}

/// Submits a new template for Meta's review (body text with `{{1}}`-style placeholders).
#[tauri::command]
pub async fn create_template(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    name: String,
    language: String,
    category: String,
    body: String,
) -> Result<TemplateInfo, UiError> {
    let live = engine.ready().await?;
    let Some((client, waba)) = live.cloud() else {
        return Err(
            CoreError::NotConfigured("connect the number first: templates are submitted to Meta".into()).into(),
        );
    };
    let t = coexist_core::ops::NewTemplate {
        name,
        language,
        category,
        body,
    };
    Ok(coexist_core::ops::create_template(&ws.ctx(None), client, waba.as_deref(), &t).await?)
}

#[derive(Deserialize)]
pub struct NewCampaign {
    name: String,
    template: String,
    language: String,
    /// `all`, `vip`, `opted_in` or `tag`.
    audience: String,
    tag: Option<String>,
    /// Parameters every recipient gets (`1` → "Saturday").
    params: Vec<(String, String)>,
    /// Start later (unix seconds); none: when launched.
    scheduled_at: Option<i64>,
    /// The uploaded picture, video or document for a template that shows one at its top.
    #[serde(default)]
    header: Option<coexist_core::send::HeaderMedia>,
}

/// A draft: the audience is frozen now (audited by the core); the forecast and launch come next.
#[tauri::command]
pub async fn create_campaign(ws: State<'_, Workspace>, campaign: NewCampaign) -> Result<ops::CreatedCampaign, UiError> {
    let c = ops::NewCampaign {
        audience: Audience::chosen(&campaign.audience, campaign.tag),
        name: campaign.name,
        template: campaign.template,
        language: campaign.language,
        params: campaign.params,
        header: campaign.header,
        scheduled_at: campaign.scheduled_at,
    };
    Ok(ops::create_campaign(&ws.ctx(None), &c).await?)
}

#[tauri::command]
pub async fn launch_campaign(ws: State<'_, Workspace>, engine: State<'_, LiveSlot>, id: i64) -> Result<usize, UiError> {
    let live = engine.ready().await?;
    must_send(live)?;
    let n = coexist_core::ops::launch_campaign(&ws.ctx(None), id).await?;
    live.wake();
    Ok(n)
}

#[tauri::command]
pub async fn campaign_recipients(ws: State<'_, Workspace>, id: i64) -> Result<Vec<CampaignRecipient>, UiError> {
    Ok(ops::campaign_recipients(&ws.ctx(None), id).await?)
}

/// Demo only: a simulated customer writes in (so the window opens and automation can answer),
/// or sends a `photo`, a `voice` note or a `document` (a PDF) with `text` as its caption.
#[tauri::command]
pub async fn demo_customer_writes(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    contact_id: i64,
    text: String,
    attach: Option<String>,
) -> Result<(), UiError> {
    use coexist_sim::Attachment;
    let live = engine.ready().await?;
    let Some(sim) = &live.sim else {
        return Err(CoreError::Invalid("only the demo workspace has simulated customers".into()).into());
    };
    let to = wa_id(&ws, contact_id).await?;
    let sent = match attach.as_deref() {
        None => sim.customer_writes(&to, &text),
        Some("photo") => sim.customer_sends(&to, &text, Attachment::Photo { size: 320, seed: None }),
        Some("voice") => sim.customer_sends(&to, "", Attachment::Voice { secs: 4 }),
        Some("document") => sim.customer_sends(
            &to,
            &text,
            Attachment::Document {
                filename: "price-list.pdf".into(),
                mime: None,
            },
        ),
        Some(other) => return Err(CoreError::Invalid(format!("the demo cannot send a {other}")).into()),
    };
    sent.ok_or_else(|| CoreError::Invalid("the simulator does not know this customer".into()))?;
    Ok(())
}

/// What the demo's simulated WhatsApp took from us, in order: whom each send reached and by which
/// field (`to` for a phone, `recipient` for a username-only customer's BSUID). The demo shows
/// what went out without anyone receiving it; the WebDriver demo checks it.
#[tauri::command]
pub async fn demo_simulator_received(engine: State<'_, LiveSlot>) -> Result<Vec<coexist_sim::Accepted>, UiError> {
    let live = engine.ready().await?;
    let Some(sim) = &live.sim else {
        return Err(CoreError::Invalid("only the demo workspace has a simulated WhatsApp".into()).into());
    };
    Ok(sim.accepted())
}

/// Whether WhatsApp takes this file (type and size), asked before its bytes cross into the core.
#[tauri::command]
pub async fn check_attachment(mime: String, size: u64, name: String) -> Result<String, UiError> {
    Ok(coexist_core::media::check_outgoing(&mime, size, &name)?.to_string())
}

/// The file's bytes: a raw body where the webview's IPC carries one; on Linux (WebKitGTK) the
/// IPC goes through `postMessage`, which hands a `Uint8Array` over as JSON (an array, or an
/// object keyed by index).
fn body_bytes(body: &tauri::ipc::InvokeBody) -> Result<Vec<u8>, UiError> {
    use serde_json::Value;
    let byte = |v: &Value| v.as_u64().filter(|n| *n <= 255).map(|n| n as u8);
    let bad = || UiError::from(CoreError::Invalid("the file's bytes did not arrive".into()));
    match body {
        tauri::ipc::InvokeBody::Raw(b) => Ok(b.clone()),
        tauri::ipc::InvokeBody::Json(Value::Array(a)) => {
            a.iter().map(byte).collect::<Option<Vec<u8>>>().ok_or_else(bad)
        }
        tauri::ipc::InvokeBody::Json(Value::Object(o)) => (0..o.len())
            .map(|i| o.get(&i.to_string()).and_then(byte))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// What goes with a file's bytes (the body of the call): who, the file's name and type, a caption.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentMeta {
    /// Who gets it (none for a campaign's header file).
    #[serde(default)]
    contact_id: Option<i64>,
    /// The template whose top shows a campaign's header file, and its language.
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    language: Option<String>,
    name: String,
    mime: String,
    caption: Option<String>,
}

/// A file handed over from the window: its raw bytes are the request body; `x-meta` says what
/// it is.
fn attachment(request: &tauri::ipc::Request<'_>) -> Result<(AttachmentMeta, Vec<u8>), UiError> {
    let bytes = body_bytes(request.body())?;
    let meta = request
        .headers()
        .get("x-meta")
        .and_then(|v| v.to_str().ok())
        .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
        .ok_or_else(|| CoreError::Invalid("the file's description did not arrive".into()))?;
    let meta: AttachmentMeta = serde_json::from_str(&meta)
        .map_err(|e| CoreError::Invalid(format!("the file's description could not be read: {e}")))?;
    Ok((meta, bytes))
}

/// The Cloud API client and this number's id, for uploads.
async fn uploader<'a>(
    ws: &Workspace,
    live: &'a Live,
) -> Result<(&'a coexist_core::cloud::CloudClient, String), UiError> {
    must_send(live)?;
    let Some((client, _)) = live.cloud() else {
        return Err(CoreError::NotConfigured("sending files needs the Cloud API".into()).into());
    };
    let phone = ops::account_ids(&ws.ctx(None))
        .await?
        .phone_number_id
        .ok_or_else(|| CoreError::NotConfigured("the phone number id is unknown".into()))?;
    Ok((client, phone))
}

/// Sends a file: checked, kept in the workspace, uploaded, then sent through the outbox.
#[tauri::command]
pub async fn send_media(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    request: tauri::ipc::Request<'_>,
) -> Result<i64, UiError> {
    let (meta, bytes) = attachment(&request)?;
    let contact_id = meta
        .contact_id
        .ok_or_else(|| CoreError::Invalid("the file has no recipient".into()))?;
    let live = engine.ready().await?;
    let (client, phone) = uploader(&ws, live).await?;
    let to = wa_id(&ws, contact_id).await?;
    let attachment = coexist_core::ops::Attachment {
        name: meta.name,
        mime: meta.mime,
        bytes,
        caption: meta.caption,
    };
    let dir = ws.media_dir();
    let id = coexist_core::ops::send_media(&ws.ctx(None), client, &phone, &dir, &to, attachment).await?;
    live.wake();
    Ok(id)
}

/// Uploads the picture, video or document a campaign's template shows at its top, before the
/// campaign is created; the answer goes back with `create_campaign`.
#[tauri::command]
pub async fn campaign_header(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    request: tauri::ipc::Request<'_>,
) -> Result<coexist_core::send::HeaderMedia, UiError> {
    let (meta, bytes) = attachment(&request)?;
    let (Some(template), Some(language)) = (meta.template, meta.language) else {
        return Err(CoreError::Invalid("the file's template did not arrive".into()).into());
    };
    let live = engine.ready().await?;
    let (client, phone) = uploader(&ws, live).await?;
    let attachment = coexist_core::ops::Attachment {
        name: meta.name,
        mime: meta.mime,
        bytes,
        caption: None,
    };
    let dir = ws.media_dir();
    let ctx = ws.ctx(None);
    Ok(coexist_core::ops::campaign_header(&ctx, client, &phone, &dir, (&template, &language), attachment).await?)
}
