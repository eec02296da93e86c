//! The Cloud API over HTTP: sending messages and reading templates. Answers are sorted into
//! what the dispatcher must do next, by Meta's error `code` rather than the HTTP status.

use crate::secrets::Sensitive;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Meta's hosts that may receive the access token over https: the Graph API
/// (`graph.facebook.com`) and media downloads (`lookaside.fbsbx.com`, Meta's "Retrieve media URL"
/// reference), with their subdomains.
const META_HOSTS: &[&str] = &["facebook.com", "fbsbx.com"];

#[derive(Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    base: String,
    version: String,
    token: Sensitive<String>,
}

/// A Graph API error as Meta describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphError {
    pub http_status: u16,
    pub code: i64,
    pub message: String,
    pub details: Option<String>,
}

/// What became of one send request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted {
        wamid: String,
    },
    Rejected(GraphError),
    /// No connection was made: Meta cannot have seen the request, so it is safe to try again.
    Unreachable(String),
    /// The request may have reached Meta (timeout, connection lost mid-answer): do not resend blindly.
    Uncertain(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TemplateInfo {
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    #[serde(default)]
    pub components: Value,
}

/// A new template's components from its body text: Meta wants an example value for every
/// `{{n}}` placeholder, or it refuses the template.
pub fn template_components(body: &str) -> Value {
    let mut part = serde_json::json!({"type": "BODY", "text": body});
    let n = (1..=20).take_while(|i| body.contains(&format!("{{{{{i}}}}}"))).count();
    if n > 0 {
        let examples: Vec<String> = (1..=n).map(|i| format!("example {i}")).collect();
        part["example"] = serde_json::json!({"body_text": [examples]});
    }
    serde_json::json!([part])
}

/// A template name as Meta accepts it: lower case, digits and underscores.
pub fn template_name(raw: &str) -> Option<String> {
    let name = raw.trim().to_lowercase().replace([' ', '-'], "_");
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

impl CloudClient {
    /// Meta's Graph API, or the address in `COEXIST_API_BASE` (the simulator in tests and the
    /// demo); the Graph version is the newest one Coexist is tested with, or `COEXIST_API_VERSION`
    /// (see [`super::graph_version`]).
    pub fn from_env(token: Sensitive<String>, timeout: Duration) -> Self {
        let base = std::env::var("COEXIST_API_BASE").unwrap_or_else(|_| "https://graph.facebook.com".into());
        let version = super::graph_version::GraphVersions::from_env().in_use();
        Self::new(&base, &version, token, timeout)
    }

    /// `base` is e.g. `https://graph.facebook.com` or the simulator's address.
    pub fn new(base: &str, version: &str, token: Sensitive<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client builds");
        CloudClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            version: version.into(),
            token,
        }
    }

    pub async fn send(&self, phone_number_id: &str, payload: &Value) -> SendOutcome {
        let url = format!("{}/{}/{}/messages", self.base, self.version, phone_number_id);
        let response = match self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .json(payload)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_connect() => return SendOutcome::Unreachable(redacted(e)),
            Err(e) => return SendOutcome::Uncertain(redacted(e)),
        };
        let status = response.status().as_u16();
        let body: Value = match response.json().await {
            Ok(v) => v,
            // The answer broke off: Meta may well have taken the message.
            Err(e) => return SendOutcome::Uncertain(format!("the answer could not be read: {}", redacted(e))),
        };
        if let Some(wamid) = body.pointer("/messages/0/id").and_then(Value::as_str) {
            return SendOutcome::Accepted {
                wamid: wamid.to_string(),
            };
        }
        SendOutcome::Rejected(graph_error(status, &body))
    }

    /// Every template of the account, following Graph paging.
    pub async fn templates(&self, waba_id: &str) -> Result<Vec<TemplateInfo>, GraphError> {
        let mut out = Vec::new();
        let mut url = format!("{}/{}/{}/message_templates?limit=100", self.base, self.version, waba_id);
        loop {
            let (status, body) = self.get_ok(&url).await?;
            let page: Vec<TemplateInfo> = serde_json::from_value(body["data"].clone()).map_err(|e| GraphError {
                http_status: status,
                code: 0,
                message: format!("unexpected template list: {e}"),
                details: None,
            })?;
            out.extend(page);
            match body.pointer("/paging/next").and_then(Value::as_str) {
                Some(next) if next.starts_with("http") => url = next.to_string(),
                Some(next) => url = format!("{}{}", self.base, next),
                None => return Ok(out),
            }
        }
    }
}

impl CloudClient {
    /// Submits a new template for Meta's review; it starts PENDING.
    pub async fn create_template(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
        category: &str,
        components: &Value,
    ) -> Result<TemplateInfo, GraphError> {
        let url = format!("{}/{}/{}/message_templates", self.base, self.version, waba_id);
        let body =
            serde_json::json!({"name": name, "language": language, "category": category, "components": components});
        let r = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = r.status().as_u16();
        let answer: Value = r.json().await.map_err(transport)?;
        if status != 200 {
            return Err(graph_error(status, &answer));
        }
        Ok(TemplateInfo {
            id: answer["id"].as_str().unwrap_or_default().to_string(),
            name: name.into(),
            language: language.into(),
            category: answer["category"].as_str().unwrap_or(category).to_string(),
            status: answer["status"].as_str().unwrap_or("PENDING").to_string(),
            components: components.clone(),
        })
    }

    /// The access token goes only to the configured API base (same scheme, host and port) or to
    /// Meta's own https hosts: a Graph answer naming anywhere else (`media.url`, `paging.next`) is
    /// refused before a connection is made.
    pub(crate) fn may_send_token_to(&self, url: &str) -> Result<(), GraphError> {
        let refuse = |why: String| GraphError {
            http_status: 0,
            code: 0,
            message: why,
            details: None,
        };
        let to =
            reqwest::Url::parse(url).map_err(|_| refuse("Meta's answer named an address that is not a URL".into()))?;
        let base = reqwest::Url::parse(&self.base).ok();
        let same_origin = base.as_ref().is_some_and(|b| {
            b.scheme() == to.scheme()
                && b.host_str() == to.host_str()
                && b.port_or_known_default() == to.port_or_known_default()
        });
        let host = to.host_str().unwrap_or_default().to_ascii_lowercase();
        let meta = to.scheme() == "https"
            && META_HOSTS
                .iter()
                .any(|m| host == *m || host.ends_with(&format!(".{m}")));
        if same_origin || meta {
            Ok(())
        } else {
            Err(refuse(format!(
                "Meta's answer pointed at {}://{}, which is not Meta: Coexist did not send the access token there",
                to.scheme(),
                to.host_str().unwrap_or("?")
            )))
        }
    }

    /// An authorised GET answered 200 with JSON; anything else as Meta's error.
    async fn get_ok(&self, url: &str) -> Result<(u16, Value), GraphError> {
        self.may_send_token_to(url)?;
        let r = self
            .http
            .get(url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(transport)?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.map_err(transport)?;
        if status != 200 {
            return Err(graph_error(status, &body));
        }
        Ok((status, body))
    }

    /// Where a media id's bytes are (`GET /{ver}/{media_id}`): a short-lived url, its type, size
    /// and sha256.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, GraphError> {
        let url = format!("{}/{}/{}", self.base, self.version, media_id);
        let (status, answer) = self.get_ok(&url).await?;
        serde_json::from_value(answer).map_err(|e| GraphError {
            http_status: status,
            code: 0,
            message: format!("Meta's answer about a media file could not be read: {e}"),
            details: None,
        })
    }

    /// Uploads a file to send (`POST /{phone}/media`, multipart); Meta answers with its media id.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        bytes: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let url = format!("{}/{}/{}/media", self.base, self.version, phone_number_id);
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
            .map_err(|e| GraphError {
                http_status: 0,
                code: 0,
                message: format!("'{mime}' is not a media type: {e}"),
                details: None,
            })?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_string())
            .part("file", part);
        let r = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .multipart(form)
            .timeout(std::time::Duration::from_secs(600))
            .send()
            .await
            .map_err(transport)?;
        let status = r.status().as_u16();
        let answer: Value = r.json().await.map_err(transport)?;
        match answer["id"].as_str() {
            Some(id) if status == 200 => Ok(id.to_string()),
            _ => Err(graph_error(status, &answer)),
        }
    }

    /// The bytes behind a media url, as a response to read in chunks (never whole in memory).
    pub async fn media_bytes(&self, url: &str) -> Result<reqwest::Response, GraphError> {
        self.may_send_token_to(url)?;
        let r = self
            .http
            .get(url)
            .bearer_auth(self.token.expose())
            // The transfer of a large file may take longer than an API answer.
            .timeout(std::time::Duration::from_secs(600))
            .send()
            .await
            .map_err(transport)?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(GraphError {
                http_status: status,
                code: 0,
                message: format!("the media file could not be fetched (HTTP {status})"),
                details: None,
            });
        }
        Ok(r)
    }

    /// The link check: what Meta says about the number.
    pub async fn phone_status(&self, phone_number_id: &str) -> Result<crate::onboarding::PhoneStatus, GraphError> {
        let url = format!(
            "{}/{}/{}?fields=display_phone_number,verified_name,is_on_biz_app,platform_type,whatsapp_business_manager_messaging_limit",
            self.base, self.version, phone_number_id
        );
        let (status, answer) = self.get_ok(&url).await?;
        serde_json::from_value(answer).map_err(|e| GraphError {
            http_status: status,
            code: 0,
            message: format!("Meta's answer about the number could not be read: {e}"),
            details: None,
        })
    }

    /// `POST /{phone}/smb_app_data`: one sync request. Whether Meta may have seen a failed
    /// request matters: such a request is never repeated.
    pub async fn request_sync(&self, phone_number_id: &str, sync_type: &str) -> crate::onboarding::SyncAnswer {
        use crate::onboarding::SyncAnswer;
        let url = format!("{}/{}/{}/smb_app_data", self.base, self.version, phone_number_id);
        let body = serde_json::json!({"messaging_product": "whatsapp", "sync_type": sync_type});
        let r = match self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_connect() => return SyncAnswer::Unreachable(redacted(e)),
            Err(e) => return SyncAnswer::Lost(redacted(e)),
        };
        let status = r.status().as_u16();
        let answer: Value = match r.json().await {
            Ok(v) => v,
            Err(e) => return SyncAnswer::Lost(format!("unreadable answer: {}", redacted(e))),
        };
        if status == 200 {
            match answer["request_id"].as_str() {
                Some(id) => SyncAnswer::Accepted {
                    request_id: id.to_string(),
                },
                None => SyncAnswer::Lost(format!("Meta answered without a request id: {answer}")),
            }
        } else if status >= 500 {
            SyncAnswer::Lost(graph_error(status, &answer).message)
        } else {
            SyncAnswer::Refused(graph_error(status, &answer))
        }
    }
}

/// Meta's answer about a media id.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Hex sha256 of the bytes.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
}

pub(crate) fn transport(e: reqwest::Error) -> GraphError {
    GraphError {
        http_status: 0,
        code: 0,
        message: format!("Meta could not be reached: {}", redacted(e)),
        details: None,
    }
}

/// A transport error in words, its URL without the query string: Graph's `paging.next` links
/// carry the `access_token`, and reqwest prints the URL it failed on.
pub(crate) fn redacted(mut e: reqwest::Error) -> String {
    if let Some(url) = e.url_mut() {
        url.set_query(None);
    }
    e.to_string()
}

fn graph_error(status: u16, body: &Value) -> GraphError {
    let e = &body["error"];
    GraphError {
        http_status: status,
        code: e["code"].as_i64().unwrap_or(0),
        message: e["message"].as_str().unwrap_or("unknown error").to_string(),
        details: e
            .pointer("/error_data/details")
            .and_then(Value::as_str)
            .map(String::from),
    }
}

/// What to do about a rejected send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throughput, API rate, Meta's own trouble: try again later.
    RetryLater,
    /// Too many messages to this one recipient: try them again later, others are unaffected.
    RetryRecipient,
    /// This message will not go through as it is.
    Permanent,
    /// The account is being limited: stop campaigns and alert the owner.
    Stop,
}

pub fn classify(e: &GraphError) -> ErrorClass {
    match e.code {
        130429 | 4 | 80007 | 1 | 2 | 131000 => ErrorClass::RetryLater,
        131056 => ErrorClass::RetryRecipient,
        // Meta limits the whole account: every campaign stops for the owner to look.
        131048 | 368 | 131064 => ErrorClass::Stop,
        // Never retried, whatever the HTTP status: retrying 131049 (per-user marketing limit) is
        // penalised at the account level since 2026; the others need the owner, not time.
        131047 | 131026 | 131050 | 131049 | 132015 | 132016 | 131063 | 130472 | 130403 | 131042 | 131060 => {
            ErrorClass::Permanent
        }
        0 if e.http_status >= 500 || e.http_status == 0 => ErrorClass::RetryLater,
        _ if e.http_status >= 500 => ErrorClass::RetryLater,
        _ => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[test]
    fn every_placeholder_gets_an_example_and_names_are_meta_shaped() {
        let c = template_components("Hi {{1}}, order {{2}} is ready");
        assert_eq!(
            c[0]["example"]["body_text"][0],
            serde_json::json!(["example 1", "example 2"])
        );
        assert!(template_components("No placeholders")[0].get("example").is_none());
        assert_eq!(template_name(" Order Ready-2 ").as_deref(), Some("order_ready_2"));
        assert_eq!(template_name("café"), None);
        assert_eq!(template_name("  "), None);
    }

    /// Issue 15: Meta's 2026 codes are classified; none of the "do not retry" ones is retried even
    /// when Meta answers them with a 5xx, and each has words an owner understands.
    #[test]
    fn the_2026_error_codes_are_classified_and_explained() {
        let err = |code, http_status| GraphError {
            http_status,
            code,
            message: String::new(),
            details: None,
        };
        for code in [131063, 130472, 130403, 132016, 131042, 131060, 131049] {
            assert_eq!(classify(&err(code, 400)), ErrorClass::Permanent, "{code}");
            assert_eq!(classify(&err(code, 500)), ErrorClass::Permanent, "{code} over a 5xx");
            let words = crate::cloud::plain_reason(code, None, None);
            assert!(!words.starts_with("Meta reported error code"), "{code}: {words}");
        }
        for code in [131048, 368, 131064] {
            assert_eq!(classify(&err(code, 400)), ErrorClass::Stop, "{code}");
        }
        assert!(crate::cloud::plain_reason(131060, None, None).contains("phone"));
        assert!(crate::cloud::plain_reason(131049, None, None).contains("does not retry"));
        for code in [2593107, 2593108] {
            assert!(!crate::cloud::plain_reason(code, None, None).starts_with("Meta reported"));
        }
    }

    /// Issue 24, item 8: the token goes to Meta's https hosts or the configured base, nowhere else.
    #[tokio::test]
    async fn the_token_goes_only_to_meta_or_the_configured_base() {
        let meta = CloudClient::new(
            "https://graph.facebook.com",
            "v24.0",
            Sensitive::new("t".into()),
            Duration::from_secs(1),
        );
        for ok in [
            "https://graph.facebook.com/v24.0/1/message_templates?after=x",
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
        ] {
            assert!(meta.may_send_token_to(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://graph.facebook.com/v24.0/1",
            "http://lookaside.fbsbx.com/x",
            "https://evil.example/graph.facebook.com",
            "https://facebook.com.evil.example/x",
            "https://evilfbsbx.com/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(meta.may_send_token_to(bad).is_err(), "{bad}");
        }
        let sim = CloudClient::new(
            "http://127.0.0.1:8731",
            "v24.0",
            Sensitive::new("t".into()),
            Duration::from_secs(1),
        );
        assert!(sim.may_send_token_to("http://127.0.0.1:8731/media/1").is_ok());
        assert!(sim.may_send_token_to("http://127.0.0.1:8732/media/1").is_err());
        assert!(sim.may_send_token_to("http://127.0.0.2:8731/media/1").is_err());
        // Refused before any connection: nothing listens there, and the error is ours.
        let e = sim.media_bytes("http://10.255.255.1:9/steal").await.unwrap_err();
        assert!(e.message.contains("not Meta"), "{e:?}");
    }

    /// Issue 14, item 15: the token in a `paging.next` URL never reaches a log or the window.
    #[tokio::test]
    async fn transport_errors_do_not_show_the_query_string() {
        let e = reqwest::Client::new()
            .get("http://127.0.0.1:1/v21.0/1/message_templates?access_token=EAAG-SECRET&after=x")
            .send()
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("EAAG-SECRET"),
            "reqwest prints the whole URL: {e}"
        );
        let shown = super::redacted(e);
        assert!(!shown.contains("EAAG-SECRET"), "{shown}");
        assert!(shown.contains("127.0.0.1:1/v21.0/1/message_templates"), "{shown}");
    }
}
