//! Normalising the identifiers WhatsApp uses for people.

/// Meta sends numbers as digits, sometimes with a leading `+` (echo `to`), and uses empty strings
/// for "unknown" (BSUID-only contacts). Keep digits only; empty means none.
pub fn normalize_wa_id(raw: Option<&str>) -> Option<String> {
    let digits: String = raw?.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// A business-scoped user id, or none for an empty string.
pub fn normalize_bsuid(raw: Option<&str>) -> Option<String> {
    let s = raw?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Whether `s` has a BSUID's shape: an ISO country code, a dot, then Meta's id (`BR.1a2b…`,
/// a parent `US.ENT.…`), as opposed to a phone number.
pub fn looks_like_bsuid(s: &str) -> bool {
    let s = s.trim();
    let b = s.as_bytes();
    b.len() > 3 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic() && b[2] == b'.'
}

/// An optional display string, none when empty.
pub fn non_empty(raw: Option<&str>) -> Option<String> {
    let s = raw?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_and_empty_are_normalised() {
        assert_eq!(
            normalize_wa_id(Some("+91 98765-43210")).as_deref(),
            Some("919876543210")
        );
        assert_eq!(normalize_wa_id(Some("")), None);
        assert_eq!(normalize_bsuid(Some("  ")), None);
        assert_eq!(normalize_bsuid(Some("BR.99zz")).as_deref(), Some("BR.99zz"));
    }
}
