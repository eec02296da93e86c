//! One spelling per pricing category. Meta writes the same category several ways
//! (`AUTHENTICATION_INTERNATIONAL` on templates, `authentication-international` on some statuses,
//! `Authentication - International` in rate-card headings); every place a category enters Coexist
//! (webhook, template sync, rate card, policy, report) passes it through [`normalize`] so one
//! category has one key and a charge is never split between two spellings.

/// The canonical form: lowercase, words joined by `_` (hyphens, spaces and runs of them folded).
/// Unknown categories keep their words, so they are still reported as Meta named them.
pub fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_sep = false;
    for c in raw.trim().chars() {
        if matches!(c, '-' | '_' | ' ' | '\t') {
            pending_sep = !out.is_empty();
        } else {
            if pending_sep {
                out.push('_');
                pending_sep = false;
            }
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// `normalize` for an optional value, dropping one that is empty once trimmed.
pub fn normalize_opt(raw: Option<&str>) -> Option<String> {
    raw.map(normalize).filter(|c| !c.is_empty())
}

/// Serde helper: a category field normalised as it is read from a webhook.
pub(crate) fn deserialize_opt<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(normalize_opt(raw.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn meta_spellings_fold_to_one_key() {
        for s in [
            "authentication_international",
            "authentication-international",
            "AUTHENTICATION_INTERNATIONAL",
            "Authentication - International",
            " authentication  international ",
        ] {
            assert_eq!(normalize(s), "authentication_international", "{s:?}");
        }
        assert_eq!(normalize("MARKETING"), "marketing");
        assert_eq!(normalize("marketing-lite"), "marketing_lite");
        assert_eq!(normalize("Some_New-Category"), "some_new_category");
        assert_eq!(normalize("  "), "");
    }
}
