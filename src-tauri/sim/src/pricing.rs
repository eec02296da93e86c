//! The simulator's own reading of Meta's pricing rules (DESIGN §4), deliberately independent of
//! coexist-core's billing so that each checks the other.

/// Per-message pricing (PMP) replaced conversation-based pricing (CBP) on 2025-07-01.
pub const PMP_FROM: i64 = 1_751_328_000;
/// Service conversations became free on 2024-11-01 (CBP).
pub const CBP_SERVICE_FREE_FROM: i64 = 1_730_419_200;
/// Announced by partners: service messages and in-window utility templates become chargeable.
pub const SERVICE_CHARGED_FROM: i64 = 1_790_812_800;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub model: &'static str,
    /// PMP `pricing.type`; none under CBP.
    pub kind: Option<&'static str>,
    pub category: String,
    pub billable: bool,
}

/// What Meta would report for a message sent at `at`.
pub fn price(at: i64, template_category: Option<&str>, window_open: bool, free_entry: bool) -> Priced {
    let category = template_category.unwrap_or("service").to_string();
    if at < PMP_FROM {
        let free_service = category == "service" && at >= CBP_SERVICE_FREE_FROM;
        let billable = !(free_entry || free_service);
        let category = if free_entry {
            "referral_conversion".to_string()
        } else {
            category
        };
        return Priced {
            model: "CBP",
            kind: None,
            category,
            billable,
        };
    }
    let charged_service = at >= SERVICE_CHARGED_FROM;
    let (kind, billable) = if free_entry {
        ("free_entry_point", false)
    } else {
        match template_category {
            None | Some("utility") if window_open && !charged_service => ("free_customer_service", false),
            _ => ("regular", true),
        }
    };
    Priced {
        model: "PMP",
        kind: Some(kind),
        category,
        billable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_rules() {
        let pmp = PMP_FROM + 10;
        assert_eq!(price(pmp, Some("marketing"), true, false).kind, Some("regular"));
        assert_eq!(
            price(pmp, Some("utility"), true, false).kind,
            Some("free_customer_service")
        );
        assert_eq!(price(pmp, Some("utility"), false, false).kind, Some("regular"));
        assert_eq!(
            price(pmp, None, true, false),
            Priced {
                model: "PMP",
                kind: Some("free_customer_service"),
                category: "service".into(),
                billable: false
            }
        );
        assert_eq!(
            price(pmp, Some("marketing"), false, true).kind,
            Some("free_entry_point")
        );
        assert!(price(SERVICE_CHARGED_FROM, None, true, false).billable);
        let cbp = price(PMP_FROM - 10, None, true, false);
        assert_eq!((cbp.model, cbp.kind, cbp.billable), ("CBP", None, false));
        assert!(price(CBP_SERVICE_FREE_FROM - 10, None, true, false).billable);
    }
}
