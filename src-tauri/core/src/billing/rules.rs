//! What Meta's pricing rules say about one message, as a pure function of its facts and the
//! policy of its date. No database and no clock: time is passed in.

use super::policy::PricingPolicy;

/// What is known about one outbound message when it is priced.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// When it was sent (unix seconds).
    pub at: i64,
    /// The template category, none for a non-template (free-form) message.
    pub template_category: Option<&'a str>,
    /// A customer message opened the 24 h customer-service window before it.
    pub window_open: bool,
    /// A reply to an ad or page button opened a 72 h free entry point before it.
    pub free_entry: bool,
    /// CBP: a conversation of this category with this customer was already opened (and charged)
    /// within the last 24 h.
    pub cbp_conversation_open: bool,
}

/// The computed pricing of one message, in Meta's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub model: &'static str,
    /// `regular`, `free_customer_service`, `free_entry_point`, or `conversation` under CBP.
    pub pricing_type: &'static str,
    pub category: String,
    /// Would be charged once delivered.
    pub billable: bool,
    /// Which rate-card column prices it when billable.
    pub rate_column: Option<&'static str>,
    /// The policy rule that decided.
    pub rule: &'static str,
}

/// The rate-card column for a category. Service replies, when charged, are priced by the card's
/// `service` column where it has one (cards from 2026-10-01) and at the utility rate otherwise
/// ([`super::rates::Card::price`] falls back), never with volume tiers.
pub fn rate_column(category: &str) -> Option<&'static str> {
    match category {
        // Marketing messages sent through the Marketing Messages API are priced as marketing.
        "marketing" | "marketing_lite" => Some("marketing"),
        "utility" => Some("utility"),
        "service" => Some("service"),
        "authentication" => Some("authentication"),
        "authentication_international" => Some("authentication_international"),
        _ => None,
    }
}

pub fn charge(p: &PricingPolicy, f: &Facts) -> Charge {
    let category = f.template_category.unwrap_or("service");
    let make = |model, pricing_type, category: &str, billable: bool, rule| Charge {
        model,
        pricing_type,
        category: category.to_string(),
        billable,
        rate_column: if billable { rate_column(category) } else { None },
        rule,
    };
    // A CBP conversation opened before the switch runs out its 24 hours under CBP.
    if f.at < p.pmp_from || (f.cbp_conversation_open && f.at < p.pmp_from + p.window_secs) {
        if f.free_entry {
            return make("CBP", "free_entry_point", "referral_conversion", false, "cbp");
        }
        if f.cbp_conversation_open {
            return make("CBP", "conversation", category, false, "cbp");
        }
        if category == "service" && f.at >= p.cbp_service_free_from {
            return make("CBP", "free_customer_service", category, false, "cbp-service-free");
        }
        return make("CBP", "conversation", category, true, "cbp");
    }
    if f.free_entry {
        return make("PMP", "free_entry_point", category, false, "pmp");
    }
    let charged_service = p.service_charged(f.at);
    match f.template_category {
        None if charged_service => make("PMP", "regular", category, true, "service-charged-2026"),
        None => make("PMP", "free_customer_service", category, false, "pmp"),
        Some("utility") if f.window_open && charged_service => {
            make("PMP", "regular", category, true, "service-charged-2026")
        }
        Some("utility") if f.window_open => make("PMP", "free_customer_service", category, false, "pmp"),
        Some(_) => make("PMP", "regular", category, true, "pmp"),
    }
}

/// What a phone-sent message would have cost through the API on its date (DESIGN §4): inside an
/// open window as a free-form reply, outside it as a utility template.
pub fn as_if_api(p: &PricingPolicy, f: &Facts) -> Charge {
    let category = if f.window_open { None } else { Some("utility") };
    charge(
        p,
        &Facts {
            template_category: category,
            ..*f
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::policy::parse_day;

    fn day(s: &str) -> i64 {
        parse_day(s).unwrap()
    }

    /// Every rule across its dates, with the expectation worked out by hand from DESIGN §4.
    #[test]
    #[rustfmt::skip]
    fn rule_table() {
        let p = PricingPolicy::shipped();
        let h = 3600;
        // (case, policy, facts, model, type, category, billable, rate column)
        #[allow(clippy::type_complexity)]
        let table: Vec<(&str, &PricingPolicy, Facts, &str, &str, &str, bool, Option<&str>)> = vec![
            ("CBP marketing opens a conversation", &p,
             Facts { at: day("2025-03-01"), template_category: Some("marketing"), ..Default::default() },
             "CBP", "conversation", "marketing", true, Some("marketing")),
            ("CBP second marketing within 24 h joins it", &p,
             Facts { at: day("2025-03-01") + h, template_category: Some("marketing"), cbp_conversation_open: true, ..Default::default() },
             "CBP", "conversation", "marketing", false, None),
            ("CBP service before 2024-11-01 is charged", &p,
             Facts { at: day("2024-10-15"), window_open: true, ..Default::default() },
             "CBP", "conversation", "service", true, Some("service")),
            ("CBP service from 2024-11-01 is free", &p,
             Facts { at: day("2024-11-01"), window_open: true, ..Default::default() },
             "CBP", "free_customer_service", "service", false, None),
            ("CBP free entry point", &p,
             Facts { at: day("2025-02-01"), template_category: Some("marketing"), free_entry: true, ..Default::default() },
             "CBP", "free_entry_point", "referral_conversion", false, None),
            ("conversation open across 2025-07-01 stays CBP", &p,
             Facts { at: day("2025-07-01") + 2 * h, template_category: Some("utility"), cbp_conversation_open: true, ..Default::default() },
             "CBP", "conversation", "utility", false, None),
            ("a CBP conversation does not cover a day later", &p,
             Facts { at: day("2025-07-02") + 2 * h, template_category: Some("utility"), cbp_conversation_open: true, ..Default::default() },
             "PMP", "regular", "utility", true, Some("utility")),
            ("PMP marketing is charged", &p,
             Facts { at: day("2025-08-01"), template_category: Some("marketing"), window_open: true, ..Default::default() },
             "PMP", "regular", "marketing", true, Some("marketing")),
            ("PMP utility inside an open window is free", &p,
             Facts { at: day("2025-08-01"), template_category: Some("utility"), window_open: true, ..Default::default() },
             "PMP", "free_customer_service", "utility", false, None),
            ("PMP utility outside a window is charged", &p,
             Facts { at: day("2025-08-01"), template_category: Some("utility"), ..Default::default() },
             "PMP", "regular", "utility", true, Some("utility")),
            ("PMP free-form reply in window is free", &p,
             Facts { at: day("2026-09-30"), window_open: true, ..Default::default() },
             "PMP", "free_customer_service", "service", false, None),
            ("PMP free entry point: even marketing is free", &p,
             Facts { at: day("2025-08-01"), template_category: Some("marketing"), free_entry: true, window_open: true, ..Default::default() },
             "PMP", "free_entry_point", "marketing", false, None),
            ("PMP authentication is charged", &p,
             Facts { at: day("2025-08-01"), template_category: Some("authentication"), window_open: true, ..Default::default() },
             "PMP", "regular", "authentication", true, Some("authentication")),
            ("2026-10-01: a free-form reply costs the utility rate", &p,
             Facts { at: day("2026-10-01"), window_open: true, ..Default::default() },
             "PMP", "regular", "service", true, Some("service")),
            ("2026-10-01: in-window utility is charged", &p,
             Facts { at: day("2026-10-02"), template_category: Some("utility"), window_open: true, ..Default::default() },
             "PMP", "regular", "utility", true, Some("utility")),
            ("2026-10-01: the free entry point stays free", &p,
             Facts { at: day("2026-10-02"), window_open: true, free_entry: true, ..Default::default() },
             "PMP", "free_entry_point", "service", false, None),
            ("the day before 2026-10-01: a reply is still free", &p,
             Facts { at: day("2026-09-30"), window_open: true, ..Default::default() },
             "PMP", "free_customer_service", "service", false, None),
            ("the day before 2026-10-01: in-window utility is still free", &p,
             Facts { at: day("2026-09-30"), template_category: Some("utility"), window_open: true, ..Default::default() },
             "PMP", "free_customer_service", "utility", false, None),
        ];
        for (case, policy, facts, model, kind, category, billable, column) in table {
            let c = charge(policy, &facts);
            assert_eq!(
                (c.model, c.pricing_type, c.category.as_str(), c.billable, c.rate_column),
                (model, kind, category, billable, column),
                "{case}"
            );
        }
    }

    #[test]
    fn phone_messages_are_priced_as_their_api_equivalent() {
        let p = PricingPolicy::shipped();
        let inside = as_if_api(
            &p,
            &Facts {
                at: day("2026-05-01"),
                window_open: true,
                ..Default::default()
            },
        );
        assert!(!inside.billable, "a reply inside the window was free in May 2026");
        let outside = as_if_api(
            &p,
            &Facts {
                at: day("2026-05-01"),
                ..Default::default()
            },
        );
        assert_eq!((outside.category.as_str(), outside.billable), ("utility", true));
        let after = as_if_api(
            &p,
            &Facts {
                at: day("2026-11-01"),
                window_open: true,
                ..Default::default()
            },
        );
        assert_eq!((after.rate_column, after.billable), (Some("service"), true));
    }
}
