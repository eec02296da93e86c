//! What may be sent to whom, decided before anything reaches the network: free-form messages
//! only inside the 24-hour window, marketing only with a current opt-in, templates only when
//! approved.

use crate::error::{CoreError, Result};
use crate::phone::{normalize_bsuid, normalize_wa_id};
use crate::policy::SERVICE_WINDOW_SECS;
use crate::store::Store;
use serde_json::{json, Value};

/// A send that passed the rules, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Compose {
    pub contact_id: i64,
    pub recipient: String,
    pub kind: &'static str,
    pub payload: Value,
    pub text: Option<String>,
    pub template_name: Option<String>,
    pub template_category: Option<String>,
}

/// The picture, video or document a template shows at its top, uploaded to Meta once and then
/// named by its media id in every send of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HeaderMedia {
    /// `image`, `video` or `document`: Meta's parameter type for the header.
    pub kind: String,
    pub media_id: String,
    /// A document's name as the customer sees it.
    pub filename: Option<String>,
}

/// The media a template's header needs (`image`, `video` or `document`), if any: Meta refuses a
/// send of such a template without it.
pub fn media_header_kind(components: &Value) -> Option<&'static str> {
    let header = components
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("header")))?;
    match header["format"].as_str()?.to_ascii_uppercase().as_str() {
        "IMAGE" => Some("image"),
        "VIDEO" => Some("video"),
        "DOCUMENT" => Some("document"),
        _ => None,
    }
}

/// The media a stored template's header needs, if any (none also when the template is unknown).
pub async fn template_header_kind(store: &Store, name: &str, language: &str) -> Result<Option<&'static str>> {
    let components: Option<String> =
        sqlx::query_scalar("SELECT components FROM template WHERE name = ? AND language = ?")
            .bind(name)
            .bind(language)
            .fetch_optional(store.pool())
            .await?;
    Ok(components
        .and_then(|c| serde_json::from_str::<Value>(&c).ok())
        .as_ref()
        .and_then(media_header_kind))
}

struct Recipient {
    id: i64,
    /// The phone number when Coexist knows it, else the customer's BSUID.
    address: Address,
    label: String,
    last_inbound_at: Option<i64>,
}

/// How a send names its customer (DESIGN §4): by phone in `to` when the phone is known; a
/// customer known only by BSUID (a username that withholds the phone) in `recipient`, since
/// Meta drops a BSUID placed in `to`.
#[derive(Debug, Clone)]
enum Address {
    Phone(String),
    Bsuid(String),
}

impl Address {
    fn id(&self) -> &str {
        match self {
            Address::Phone(p) | Address::Bsuid(p) => p,
        }
    }

    /// The request body's addressing fields with `rest` (type and content) added.
    fn payload(&self, rest: Value) -> Value {
        let mut p = json!({"messaging_product": "whatsapp", "recipient_type": "individual"});
        match self {
            Address::Phone(w) => p["to"] = json!(w),
            Address::Bsuid(b) => p["recipient"] = json!(b),
        }
        if let (Value::Object(p), Value::Object(rest)) = (&mut p, rest) {
            p.extend(rest);
        }
        p
    }
}

/// Finds (or, for a new phone number, creates) the contact `to` names: a phone number or a BSUID.
async fn recipient(store: &Store, to: &str, create: bool, now: i64) -> Result<Recipient> {
    let is_bsuid = crate::phone::looks_like_bsuid(to);
    let wa = normalize_wa_id(Some(to)).filter(|_| !is_bsuid);
    let bsuid = normalize_bsuid(Some(to)).filter(|_| is_bsuid);
    /// id, phone, BSUID, how the owner names them, last message from them.
    type Found = (i64, Option<String>, Option<String>, String, Option<i64>);
    let row: Option<Found> = sqlx::query_as(
        "SELECT c.id, c.wa_id, c.bsuid, COALESCE(c.name, c.profile_name, c.username, c.wa_id, c.bsuid), v.last_inbound_at
         FROM contact c LEFT JOIN conversation v ON v.contact_id = c.id
         WHERE (?1 IS NOT NULL AND c.wa_id = ?1) OR (?2 IS NOT NULL AND c.bsuid = ?2)",
    )
    .bind(&wa)
    .bind(&bsuid)
    .fetch_optional(store.pool())
    .await?;
    let (id, wa_id, bsuid, label, last_inbound_at) = match (row, &wa) {
        (Some(r), _) => r,
        (None, Some(w)) if create => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO contact (wa_id, source, created_at) VALUES (?, 'manual', ?) RETURNING id",
            )
            .bind(w)
            .bind(now)
            .fetch_one(store.pool())
            .await?;
            (id, Some(w.clone()), None, format!("+{w}"), None)
        }
        _ => return Err(CoreError::CannotSend(format!("no contact {to} in this workspace"))),
    };
    let address = match (wa_id, bsuid) {
        (Some(w), _) => Address::Phone(w),
        (None, Some(b)) => Address::Bsuid(b),
        (None, None) => {
            return Err(CoreError::CannotSend(format!(
                "{label} has neither a phone number nor a BSUID"
            )))
        }
    };
    Ok(Recipient {
        id,
        address,
        label,
        last_inbound_at,
    })
}

/// A free-form text: only while the customer's 24-hour window is open.
pub async fn compose_text(store: &Store, to: &str, text: &str, now: i64) -> Result<Compose> {
    if text.trim().is_empty() {
        return Err(CoreError::CannotSend("the message is empty".into()));
    }
    let r = in_window(store, to, now).await?;
    Ok(Compose {
        contact_id: r.id,
        recipient: r.address.id().to_string(),
        kind: "text",
        payload: r
            .address
            .payload(json!({"type": "text", "text": {"preview_url": false, "body": text}})),
        text: Some(text.to_string()),
        template_name: None,
        template_category: None,
    })
}

/// A file already uploaded to Meta (`media_id`), sent as `kind` (image, document, audio, video,
/// sticker): free-form, so only inside the 24-hour window like text.
pub async fn compose_media(
    store: &Store,
    to: &str,
    kind: &'static str,
    media_id: &str,
    caption: Option<&str>,
    filename: Option<&str>,
    now: i64,
) -> Result<Compose> {
    let r = in_window(store, to, now).await?;
    let mut body = json!({"id": media_id});
    let caption = caption.map(str::trim).filter(|c| !c.is_empty());
    if let (Some(c), "image" | "video" | "document") = (caption, kind) {
        body["caption"] = json!(c);
    }
    if let (Some(f), "document") = (filename, kind) {
        body["filename"] = json!(f);
    }
    Ok(Compose {
        contact_id: r.id,
        recipient: r.address.id().to_string(),
        kind,
        payload: r.address.payload(json!({"type": kind, kind: body})),
        // A file's words are its caption; its name travels with the upload.
        text: caption.map(str::to_string),
        template_name: None,
        template_category: None,
    })
}

/// The recipient `to`, when their 24-hour window is open; otherwise why not.
pub async fn window_open(store: &Store, to: &str, now: i64) -> Result<()> {
    in_window(store, to, now).await.map(|_| ())
}

async fn in_window(store: &Store, to: &str, now: i64) -> Result<Recipient> {
    let r = recipient(store, to, false, now).await?;
    let open_until = r.last_inbound_at.map(|t| t + SERVICE_WINDOW_SECS);
    if open_until.is_none_or(|u| u <= now) {
        let since = match open_until {
            Some(u) => format!(" since {} hours", (now - u) / 3600),
            None => " (they have not written to this number)".into(),
        };
        return Err(CoreError::WindowClosed {
            contact: r.label,
            since,
        });
    }
    Ok(r)
}

/// An approved template with its parameters (`1=…` positional, `name=…` named).
pub async fn compose_template(
    store: &Store,
    to: &str,
    name: &str,
    language: &str,
    params: &[(String, String)],
    now: i64,
) -> Result<Compose> {
    compose_template_with(store, to, name, language, params, None, now).await
}

/// [`compose_template`] with the header's picture, video or document for templates that show one.
pub async fn compose_template_with(
    store: &Store,
    to: &str,
    name: &str,
    language: &str,
    params: &[(String, String)],
    header: Option<&HeaderMedia>,
    now: i64,
) -> Result<Compose> {
    let found: Option<(String, String, String)> =
        sqlx::query_as("SELECT category, status, components FROM template WHERE name = ? AND language = ?")
            .bind(name)
            .bind(language)
            .fetch_optional(store.pool())
            .await?;
    let (category, status, components) = found.ok_or_else(|| {
        CoreError::CannotSend(format!(
            "there is no template {name} ({language}) in this workspace; refresh the templates from Meta first"
        ))
    })?;
    if status != "APPROVED" {
        return Err(CoreError::CannotSend(format!(
            "template {name} ({language}) is {status}, not approved: it cannot be sent"
        )));
    }
    let category = crate::billing::category::normalize(&category);
    let r = recipient(store, to, true, now).await?;
    if let (Address::Bsuid(_), "authentication" | "authentication_international") = (&r.address, category.as_str()) {
        // Meta refuses these (131062): a one-time code goes to a phone number only.
        return Err(CoreError::CannotSend(format!(
            "{} is known only by a username: WhatsApp delivers login codes (authentication templates) to phone numbers only",
            r.label
        )));
    }
    if category == "marketing" && !has_marketing_consent(store, r.id).await? {
        return Err(CoreError::CannotSend(format!(
            "{} has not opted in to marketing messages (or has opted out): marketing templates are not sent to them",
            r.label
        )));
    }
    let mut positional: Vec<(u32, &str)> = Vec::new();
    let mut named = Vec::new();
    for (k, v) in params {
        match k.parse::<u32>() {
            Ok(n) => positional.push((n, v)),
            Err(_) => named.push(json!({"type": "text", "parameter_name": k, "text": v})),
        }
    }
    positional.sort_by_key(|(n, _)| *n);
    let mut parameters: Vec<Value> = positional
        .into_iter()
        .map(|(_, v)| json!({"type": "text", "text": v}))
        .collect();
    parameters.extend(named);
    let mut template = json!({"name": name, "language": {"code": language}});
    let mut parts = Vec::new();
    let needs = media_header_kind(&serde_json::from_str(&components).unwrap_or(Value::Null));
    match (needs, header) {
        (None, None) => {}
        (Some(kind), None) => {
            return Err(CoreError::CannotSend(format!(
                "template {name} ({language}) shows a {} at its top: choose the file to send with it",
                header_word(kind)
            )))
        }
        (None, Some(_)) => {
            return Err(CoreError::Invalid(format!(
                "template {name} ({language}) has no picture, video or document at its top"
            )))
        }
        (Some(kind), Some(h)) if h.kind != kind => {
            return Err(CoreError::Invalid(format!(
                "template {name} ({language}) shows a {} at its top, not a {}",
                header_word(kind),
                header_word(&h.kind)
            )))
        }
        (Some(kind), Some(h)) => {
            let mut media = json!({"id": h.media_id});
            if let (Some(f), "document") = (&h.filename, kind) {
                media["filename"] = json!(f);
            }
            parts.push(json!({"type": "header", "parameters": [{"type": kind, kind: media}]}));
        }
    }
    if !parameters.is_empty() {
        parts.push(json!({"type": "body", "parameters": parameters}));
    }
    if !parts.is_empty() {
        template["components"] = Value::Array(parts);
    }
    Ok(Compose {
        contact_id: r.id,
        recipient: r.address.id().to_string(),
        kind: "template",
        payload: r.address.payload(json!({"type": "template", "template": template})),
        // The thread shows what the customer reads: the body with its values filled in.
        text: Some(filled_body(&components, params).unwrap_or_else(|| format!("Template {name}"))),
        template_name: Some(name.to_string()),
        template_category: Some(category),
    })
}

/// How an owner names a header's kind.
pub fn header_word(kind: &str) -> &str {
    match kind {
        "image" => "picture",
        other => other,
    }
}

/// A template's BODY text with `{{1}}` / `{{name}}` replaced by the given values.
fn filled_body(components: &str, params: &[(String, String)]) -> Option<String> {
    let parts: Value = serde_json::from_str(components).ok()?;
    let body = parts
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))?["text"]
        .as_str()?
        .to_string();
    Some(
        params
            .iter()
            .fold(body, |text, (k, v)| text.replace(&format!("{{{{{k}}}}}"), v)),
    )
}

/// The latest consent event decides: an opt-in not later withdrawn.
pub(crate) async fn has_marketing_consent(store: &Store, contact_id: i64) -> Result<bool> {
    let latest: Option<String> =
        sqlx::query_scalar("SELECT kind FROM consent WHERE contact_id = ? ORDER BY at DESC, id DESC LIMIT 1")
            .bind(contact_id)
            .fetch_optional(store.pool())
            .await?;
    Ok(latest.as_deref() == Some("opt_in"))
}

#[cfg(test)]
mod tests {
    use super::filled_body;

    #[test]
    fn the_thread_shows_the_body_the_customer_reads() {
        let components =
            r#"[{"type":"HEADER","text":"x"},{"type":"BODY","text":"Hi {{1}}, order {{2}}; {{first_name}}!"}]"#;
        let params = vec![
            ("1".to_string(), "Asha".to_string()),
            ("2".to_string(), "#42".to_string()),
            ("first_name".to_string(), "A".to_string()),
        ];
        assert_eq!(
            filled_body(components, &params).as_deref(),
            Some("Hi Asha, order #42; A!")
        );
        assert_eq!(filled_body("[]", &params), None);
        assert_eq!(filled_body("not json", &params), None);
    }
}
