//! Plain-language readings of Cloud API error codes, shared by intake (failed statuses) and sending.

/// A shop owner's reading of a Cloud API error code; falls back to Meta's own words.
pub fn plain_reason(code: i64, meta_title: Option<&str>, details: Option<&str>) -> String {
    let known = match code {
        131047 => Some("More than 24 hours have passed since the customer last wrote, so only an approved template can reach them now."),
        131026 => Some("The message could not be delivered: the number may not be on WhatsApp, or the customer's app is too old."),
        131050 => Some("The customer has chosen to stop receiving marketing messages from this business."),
        131049 => Some("Meta held this marketing message back to protect the customer's experience; try again in a day or more."),
        131048 => Some("Too many recipients reported or blocked recent messages: sending is limited for now (spam limit)."),
        130429 => Some("Sent too fast for this number's limit; Coexist will retry."),
        131056 => Some("Too many messages to this one customer in a short time; Coexist will retry shortly."),
        132015 => Some("The template is paused by Meta because of low quality; edit it or wait."),
        132001 => Some("The template does not exist or is not approved in this language."),
        368 => Some("The account is temporarily blocked for policy violations."),
        131042 => Some("There is a problem with the payment method of the WhatsApp Business account."),
        131051 => Some("This message type is not supported."),
        131052 => Some("The customer's media could not be downloaded."),
        131053 => Some("The media could not be uploaded."),
        4 | 80007 => Some("Too many requests to Meta in a short time; Coexist will retry."),
        190 => Some("The access token is invalid or has expired; reconnect the number in Settings."),
        _ => None,
    };
    match (known, meta_title, details) {
        (Some(k), _, _) => format!("{k} (code {code})"),
        (None, Some(t), Some(d)) if !t.is_empty() => format!("{t}: {d} (code {code})"),
        (None, Some(t), _) if !t.is_empty() => format!("{t} (code {code})"),
        (None, _, Some(d)) => format!("{d} (code {code})"),
        _ => format!("Meta reported error code {code}."),
    }
}
