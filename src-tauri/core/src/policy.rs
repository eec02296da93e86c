//! Small rules that are settings rather than code paths.

/// Words that, alone in a customer message, withdraw marketing consent. Configurable later; these
/// cover the languages our first users write in.
pub const DEFAULT_OPT_OUT_KEYWORDS: &[&str] = &[
    "stop",
    "unsubscribe",
    "stop all",
    "cancel",
    "end",
    "quit",
    "parar",
    "pare",
    "sair",
    "berhenti",
    "baja",
    "alto",
    "detener",
    "arrêter",
    "arreter",
    "stopp",
    "abmelden",
    "annulla",
    "basta",
];

/// Is this message text an opt-out keyword? Case and surrounding punctuation are ignored.
pub fn is_opt_out(text: &str, keywords: &[&str]) -> bool {
    let cleaned = text
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .to_lowercase();
    !cleaned.is_empty() && keywords.iter().any(|k| *k == cleaned)
}

/// How long a human reply (an echo from the phone, or the desk) pauses automation in that chat.
pub const DEFAULT_AUTOMATION_PAUSE_SECS: i64 = 12 * 3600;

/// How long "take this chat by hand" keeps automation out when no span is given.
pub const DEFAULT_TAKE_OVER_HOURS: i64 = 24;
/// The customer-service window opened by a customer message.
pub const SERVICE_WINDOW_SECS: i64 = 24 * 3600;
/// The free-entry-point window opened by a reply to a click-to-WhatsApp ad or page CTA.
pub const FREE_ENTRY_POINT_SECS: i64 = 72 * 3600;
/// Meta drops the API link when the phone app was not opened for this many days.
pub const LINK_DROP_AFTER_DAYS: i64 = 14;
/// Coexist treats the day before Meta's as the deadline, so the owner has a day to spare.
pub const PHONE_APP_DEADLINE_DAYS: i64 = 13;
/// The history and contact sync can be requested only within this long of onboarding.
pub const SYNC_WINDOW_SECS: i64 = 24 * 3600;
/// Meta's code for "the business declined history sharing": no history, not a failure.
pub const HISTORY_DECLINED_CODE: i64 = 2_593_109;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_message_only() {
        assert!(is_opt_out("STOP", DEFAULT_OPT_OUT_KEYWORDS));
        assert!(is_opt_out(" Berhenti! ", DEFAULT_OPT_OUT_KEYWORDS));
        assert!(!is_opt_out("please don't stop sending", DEFAULT_OPT_OUT_KEYWORDS));
    }
}
