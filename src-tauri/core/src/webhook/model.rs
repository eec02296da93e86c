//! Typed shapes of the Cloud API webhook bodies Coexist handles. Lenient on purpose: every field
//! Meta may omit is optional, unknown keys are ignored, timestamps may be strings or numbers.

pub use super::lenient::Each;
use super::lenient::{opt_ts, ts};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default)]
    pub object: String,
    #[serde(borrow, default)]
    pub entry: Vec<Entry<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Entry<'a> {
    #[serde(default)]
    pub id: String,
    #[serde(default, deserialize_with = "opt_ts")]
    pub time: Option<i64>,
    #[serde(borrow, default)]
    pub changes: Vec<Change<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Change<'a> {
    pub field: String,
    /// Parsed later by field, so an unknown field costs nothing and a bad one names itself.
    #[serde(borrow)]
    pub value: &'a RawValue,
}

#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: String,
    #[serde(default)]
    pub phone_number_id: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Profile {
    pub name: Option<String>,
    pub username: Option<String>,
    pub country_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WaContact {
    #[serde(default)]
    pub profile: Profile,
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    /// A parent BSUID (`US.ENT.…`) where Meta has linked portfolios.
    pub parent_user_id: Option<String>,
}

/// `field = messages`: customer messages and statuses of business-sent messages.
#[derive(Debug, Default, Deserialize)]
pub struct MessagesValue {
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub contacts: Vec<WaContact>,
    #[serde(default)]
    pub messages: Each<WaMessage>,
    #[serde(default)]
    pub statuses: Each<Status>,
}

impl MessagesValue {
    /// The messages and statuses that could not be read, named.
    pub fn rejected(&self) -> Vec<String> {
        let m = self.messages.rejected.iter().map(|e| format!("message {e}"));
        m.chain(self.statuses.rejected.iter().map(|e| format!("status {e}")))
            .collect()
    }
}

/// `field = smb_message_echoes`: what the owner sent from the phone app.
#[derive(Debug, Default, Deserialize)]
pub struct EchoesValue {
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub contacts: Vec<WaContact>,
    #[serde(default)]
    pub message_echoes: Each<WaMessage>,
}

impl EchoesValue {
    pub fn rejected(&self) -> Vec<String> {
        self.message_echoes
            .rejected
            .iter()
            .map(|e| format!("echo {e}"))
            .collect()
    }
}

/// `field = history`: chunks of the up-to-180-day import, a decline, or media follow-ups.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryValue {
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub history: Vec<HistoryItem>,
    /// Media for earlier `media_placeholder` messages: the owner's here…
    #[serde(default)]
    pub message_echoes: Each<WaMessage>,
    /// …and the customer's here, in the same form with `from` (Meta's history reference,
    /// 2026-05: "additional history webhooks containing media message asset IDs").
    #[serde(default)]
    pub messages: Each<WaMessage>,
}

impl HistoryValue {
    pub fn rejected(&self) -> Vec<String> {
        let threads = self.history.iter().flat_map(|h| &h.threads);
        let in_threads = threads.flat_map(|t| {
            t.messages
                .rejected
                .iter()
                .map(move |e| format!("history message {e} of thread {}", t.id))
        });
        in_threads
            .chain(
                self.message_echoes
                    .rejected
                    .iter()
                    .chain(self.messages.rejected.iter())
                    .map(|e| format!("media follow-up {e}")),
            )
            .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryItem {
    pub metadata: Option<HistoryMeta>,
    #[serde(default)]
    pub threads: Vec<HistoryThread>,
    #[serde(default)]
    pub errors: Vec<GraphError>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryMeta {
    #[serde(default)]
    pub phase: i64,
    #[serde(default)]
    pub chunk_order: i64,
    #[serde(default)]
    pub progress: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryThread {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub context: ThreadContext,
    #[serde(default)]
    pub messages: Each<WaMessage>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ThreadContext {
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    pub username: Option<String>,
}

/// `field = smb_app_state_sync`: the phone's address book.
#[derive(Debug, Default, Deserialize)]
pub struct StateSyncValue {
    #[serde(default)]
    pub state_sync: Vec<StateSyncItem>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StateSyncItem {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub contact: Option<SyncedContact>,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub metadata: SyncMeta,
}

#[derive(Debug, Default, Deserialize)]
pub struct SyncedContact {
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
    pub username: Option<String>,
    pub country_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SyncMeta {
    #[serde(default, deserialize_with = "opt_ts")]
    pub timestamp: Option<i64>,
}

/// `field = account_update`.
#[derive(Debug, Default, Deserialize)]
pub struct AccountUpdateValue {
    pub phone_number: Option<String>,
    #[serde(default)]
    pub event: String,
    pub disconnection_info: Option<DisconnectionInfo>,
    /// `DISABLED_UPDATE`: `{waba_ban_state, waba_ban_date}`.
    pub ban_info: Option<serde_json::Value>,
    /// `ACCOUNT_RESTRICTION`: `restriction_info[] {restriction_type, expiration}`.
    pub restriction_info: Option<serde_json::Value>,
    /// `ACCOUNT_VIOLATION`: `violation_info {violation_type}`.
    pub violation_info: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DisconnectionInfo {
    pub reason: Option<String>,
    pub initiated_by: Option<String>,
}

/// `field = user_preferences`: a customer stopped or resumed marketing messages.
#[derive(Debug, Default, Deserialize)]
pub struct UserPreferencesValue {
    #[serde(default)]
    pub contacts: Vec<WaContact>,
    #[serde(default)]
    pub user_preferences: Vec<UserPreference>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserPreference {
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    pub detail: Option<String>,
    pub category: Option<String>,
    #[serde(default)]
    pub value: String,
    #[serde(default, deserialize_with = "opt_ts")]
    pub timestamp: Option<i64>,
}

/// `messaging_handovers`: a chat changing hands between Meta's Business Agent and this app.
/// Meta's WhatsApp documentation shows no sample; the shape follows the handover protocol
/// (Messenger's `pass_thread_control` / `take_thread_control`), read leniently.
#[derive(Debug, Default, Deserialize)]
pub struct HandoversValue {
    #[serde(default)]
    pub contacts: Vec<WaContact>,
    #[serde(default, alias = "messaging_handovers")]
    pub handovers: Vec<Handover>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Handover {
    #[serde(default, alias = "wa_id")]
    pub from: Option<String>,
    #[serde(default, alias = "from_user_id")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub timestamp: Option<i64>,
    /// The chat passed to this app: the agent no longer answers it.
    pub pass_thread_control: Option<serde_json::Value>,
    /// The agent (or Meta) took the chat.
    pub take_thread_control: Option<serde_json::Value>,
}

/// One message in any of its envelopes: inbound, echo, history.
#[derive(Debug, Default, Deserialize)]
pub struct WaMessage {
    #[serde(default)]
    pub from: String,
    pub from_user_id: Option<String>,
    pub to: Option<String>,
    pub to_user_id: Option<String>,
    /// Echoes to a username-only customer may name the parent BSUID too (`US.ENT.…`).
    pub to_parent_user_id: Option<String>,
    /// The same on a customer's own message; inferred by symmetry with `to_parent_user_id`.
    pub from_parent_user_id: Option<String>,
    pub id: String,
    #[serde(deserialize_with = "ts")]
    pub timestamp: i64,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub text: Option<TextBody>,
    pub image: Option<Media>,
    pub video: Option<Media>,
    pub audio: Option<Media>,
    pub document: Option<Media>,
    pub sticker: Option<Media>,
    pub button: Option<Button>,
    pub interactive: Option<serde_json::Value>,
    pub location: Option<Location>,
    pub reaction: Option<Reaction>,
    pub referral: Option<Referral>,
    pub edit: Option<Edit>,
    pub revoke: Option<Revoke>,
    pub history_context: Option<HistoryContext>,
    /// `type: system`: a customer's phone number or business-scoped user id changed.
    pub system: Option<SystemBody>,
}

/// A system message. `user_changed_number` names the new phone (`wa_id`; `new_wa_id` in some
/// versions); `user_changed_user_id` the new BSUID (`user_id`) and the old one (`previous_user_id`).
#[derive(Debug, Default, Deserialize)]
pub struct SystemBody {
    pub body: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub wa_id: Option<String>,
    pub new_wa_id: Option<String>,
    pub user_id: Option<String>,
    pub previous_user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TextBody {
    #[serde(default)]
    pub body: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Media {
    pub id: Option<String>,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Button {
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Location {
    pub name: Option<String>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Reaction {
    pub message_id: Option<String>,
    pub emoji: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Referral {
    pub source_type: Option<String>,
    pub source_id: Option<String>,
    pub source_url: Option<String>,
    pub ctwa_clid: Option<String>,
}

/// An edit of a customer's or the owner's message. Meta's edit webhook reference (2026-07) carries
/// the new content as a whole message (`edit.message {type, text | image…}`); payloads before it
/// carried `edit.text`. Both are read.
#[derive(Debug, Default, Deserialize)]
pub struct Edit {
    pub original_message_id: String,
    pub message: Option<EditedContent>,
    pub text: Option<TextBody>,
}

/// The content an edit gives a message: new words, or a media message's new caption.
#[derive(Debug, Default, Deserialize)]
pub struct EditedContent {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub text: Option<TextBody>,
    pub image: Option<Media>,
    pub video: Option<Media>,
    pub audio: Option<Media>,
    pub document: Option<Media>,
    pub sticker: Option<Media>,
}

impl Edit {
    /// The edited words (a caption for media), wherever this payload put them; none when the
    /// edit names no content Coexist can read, so the message keeps what it had.
    pub fn new_text(&self) -> Option<&str> {
        let inner = self.message.as_ref().and_then(|m| {
            m.text.as_ref().map(|t| t.body.as_str()).or_else(|| {
                [&m.image, &m.video, &m.audio, &m.document, &m.sticker]
                    .into_iter()
                    .flatten()
                    .find_map(|x| x.caption.as_deref())
            })
        });
        inner.or(self.text.as_ref().map(|t| t.body.as_str()))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Revoke {
    pub original_message_id: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryContext {
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Status {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(deserialize_with = "ts")]
    pub timestamp: i64,
    pub recipient_id: Option<String>,
    pub recipient_user_id: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    pub pricing: Option<Pricing>,
    pub conversation: Option<ConversationInfo>,
    #[serde(default)]
    pub errors: Vec<GraphError>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Pricing {
    pub billable: Option<bool>,
    pub pricing_model: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Normalised on entry: Meta spells `authentication-international` with a hyphen at times.
    #[serde(default, deserialize_with = "crate::billing::category::deserialize_opt")]
    pub category: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConversationInfo {
    pub id: Option<String>,
    pub origin: Option<ConversationOrigin>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConversationOrigin {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorData {
    pub details: Option<String>,
}

impl WaMessage {
    /// The media part of a media message, whatever its kind.
    pub fn media(&self) -> Option<&Media> {
        self.image
            .as_ref()
            .or(self.video.as_ref())
            .or(self.audio.as_ref())
            .or(self.document.as_ref())
            .or(self.sticker.as_ref())
    }

    /// The text a person would read for this message, when it has one (borrowed when it can be:
    /// history imports run this for every message). A file's text is its caption only: a
    /// document's name lives in `media_filename`, apart from what people wrote.
    pub fn display_text(&self) -> Option<Cow<'_, str>> {
        if let Some(t) = &self.text {
            return Some(Cow::Borrowed(t.body.as_str()));
        }
        if let Some(c) = self.media().and_then(|m| m.caption.as_deref()) {
            return Some(Cow::Borrowed(c));
        }
        if let Some(t) = self.button.as_ref().and_then(|b| b.text.as_deref()) {
            return Some(Cow::Borrowed(t));
        }
        if let Some(i) = &self.interactive {
            for path in ["/button_reply/title", "/list_reply/title", "/nfm_reply/body"] {
                if let Some(s) = i.pointer(path).and_then(|v| v.as_str()) {
                    return Some(Cow::Borrowed(s));
                }
            }
        }
        if let Some(l) = &self.location {
            let parts: Vec<&str> = [l.name.as_deref(), l.address.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if !parts.is_empty() {
                return Some(Cow::Owned(parts.join(", ")));
            }
        }
        self.reaction
            .as_ref()
            .and_then(|r| r.emoji.as_deref())
            .map(Cow::Borrowed)
    }
}

/// `field = message_template_status_update`: Meta's review (or a later pause) of a template.
#[derive(Debug, Default, Deserialize)]
pub struct TemplateStatusValue {
    #[serde(default)]
    pub event: String,
    pub message_template_id: Option<serde_json::Value>,
    pub message_template_name: Option<String>,
    pub message_template_language: Option<String>,
    pub reason: Option<String>,
}
