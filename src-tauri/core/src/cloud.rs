//! Meta's Cloud API: the HTTP client and the facts about its error codes.

mod client;
mod errors;

pub use client::{
    classify, template_components, template_name, CloudClient, ErrorClass, GraphError, SendOutcome, TemplateInfo,
};
pub use errors::plain_reason;
