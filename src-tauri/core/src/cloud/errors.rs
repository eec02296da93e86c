//! Plain-language readings of Cloud API error codes, shared by intake (failed statuses) and sending.

/// A shop owner's reading of a Cloud API error code; falls back to Meta's own words.
pub fn plain_reason(code: i64, meta_title: Option<&str>, details: Option<&str>) -> String {
    let known = match code {
        131047 => Some("More than 24 hours have passed since the customer last wrote, so only an approved template can reach them now."),
        131026 => Some("The message could not be delivered: the number may not be on WhatsApp, or the customer's app is too old."),
        131050 => Some("The customer has chosen to stop receiving marketing messages from this business."),
        131049 => Some("Meta held this marketing message back to protect the customer's experience. Coexist does not retry it (Meta penalises repeated tries); send it again yourself after a day or more."),
        131048 => Some("Too many recipients reported or blocked recent messages: sending is limited for now (spam limit)."),
        130429 => Some("Sent too fast for this number's limit; Coexist will retry."),
        131056 => Some("Too many messages to this one customer in a short time; Coexist will retry shortly."),
        132015 => Some("The template is paused by Meta because of low quality; edit it or wait."),
        132001 => Some("The template does not exist or is not approved in this language."),
        368 => Some("The account is temporarily blocked for policy violations."),
        131042 => Some("There is a problem with the payment method of the WhatsApp Business account; fix it in Meta's Business Manager, then send again."),
        131064 => Some("Meta has limited this account's messaging after template violations: campaigns are stopped until the limit lifts by itself."),
        132016 => Some("The template was disabled by Meta after repeated quality problems: create a new one."),
        131063 => Some("Marketing messages are turned off for this WhatsApp Business account."),
        130472 => Some("Meta held this message back from the customer as part of an experiment; it was not sent and will not be retried."),
        130403 => Some("This business has blocked the customer, so nothing can be sent to them; unblock them on the phone first."),
        131060 => Some("WhatsApp could not send this kind of message from this number: check the WhatsApp Business app on the phone (it may need an update or a look at its settings)."),
        2593107 => Some("This sync was already requested: Meta allows each one once."),
        2593108 => Some("The 24 hours after connecting, during which Meta allows the contact and history syncs, are over."),
        131051 => Some("This message type is not supported."),
        131052 => Some("The customer's media could not be downloaded."),
        131053 => Some("Meta could not use this file: it was not uploaded, was uploaded over 30 days ago (Meta keeps uploads that long), or is not a kind WhatsApp takes. Send the file again; for a campaign, make it again with the file."),
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
