//! Meta's Cloud API: the HTTP client and the facts about its error codes.

mod client;
mod errors;
pub mod graph_version;

pub(crate) use client::redacted;
pub use client::{
    classify, template_components, template_name, CloudClient, ErrorClass, GraphError, MediaInfo, SendOutcome,
    TemplateInfo,
};
pub use errors::plain_reason;
