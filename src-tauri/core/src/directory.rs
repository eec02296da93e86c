//! The contact directory the desk works with: search, tags, VIP, consent history, and a CSV
//! import that names the line of every row it could not take (and still takes the good ones).

use crate::error::{CoreError, Result};
use crate::phone::normalize_wa_id;
use crate::store::Store;
use serde::Serialize;

/// One contact as the Contacts view lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ContactRow {
    pub id: i64,
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    pub display_name: String,
    pub vip: bool,
    /// JSON array text, as stored.
    pub tags: String,
    /// The newest consent event: `opt_in`, `opt_out`, or none.
    pub consent: Option<String>,
    pub last_inbound_at: Option<i64>,
    pub last_message_at: Option<i64>,
    pub source: String,
}

/// One consent event, newest first in a contact's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConsentEvent {
    pub kind: String,
    pub source: String,
    pub detail: Option<String>,
    pub at: i64,
}

/// What a CSV import did: rows taken, and each refused row with its line and why.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ImportReport {
    pub created: i64,
    pub updated: i64,
    pub errors: Vec<LineError>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LineError {
    pub line: i64,
    pub message: String,
}

const SELECT: &str = "SELECT c.id, c.wa_id, c.bsuid,
        COALESCE(c.name, c.profile_name, c.username, '+' || c.wa_id, c.bsuid) AS display_name,
        c.vip != 0 AS vip, c.tags,
        (SELECT kind FROM consent WHERE contact_id = c.id ORDER BY at DESC, id DESC LIMIT 1) AS consent,
        v.last_inbound_at, v.last_message_at, c.source
     FROM contact c LEFT JOIN conversation v ON v.contact_id = c.id";

impl Store {
    /// A page of contacts by name, optionally matching `query` (name, number or tag).
    pub async fn contacts(&self, query: Option<&str>, limit: i64, offset: i64) -> Result<Vec<ContactRow>> {
        let like = query
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| format!("%{}%", q.replace(['%', '_'], "")));
        let sql = format!(
            "{SELECT} WHERE c.removed_at IS NULL AND (?1 IS NULL
                OR COALESCE(c.name, c.profile_name, c.username, '') LIKE ?1
                OR c.wa_id LIKE ?1 OR c.tags LIKE ?1)
             ORDER BY COALESCE(c.name, c.profile_name, c.username) IS NULL, display_name COLLATE NOCASE, c.id
             LIMIT ?2 OFFSET ?3"
        );
        Ok(sqlx::query_as(&sql)
            .bind(like)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?)
    }

    /// How many contacts `contacts(query, …)` pages through.
    pub async fn contact_count(&self, query: Option<&str>) -> Result<i64> {
        let like = query
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| format!("%{}%", q.replace(['%', '_'], "")));
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM contact c WHERE c.removed_at IS NULL AND (?1 IS NULL
                OR COALESCE(c.name, c.profile_name, c.username, '') LIKE ?1
                OR c.wa_id LIKE ?1 OR c.tags LIKE ?1)",
        )
        .bind(like)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn contact(&self, id: i64) -> Result<Option<ContactRow>> {
        let sql = format!("{SELECT} WHERE c.id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    /// Every consent event of a contact, newest first: who said yes or no, when, and how.
    pub async fn consent_history(&self, contact_id: i64) -> Result<Vec<ConsentEvent>> {
        Ok(sqlx::query_as(
            "SELECT kind, source, detail, at FROM consent WHERE contact_id = ? ORDER BY at DESC, id DESC",
        )
        .bind(contact_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Replaces a contact's tags (trimmed, deduplicated, lower-case), audited.
    pub async fn set_tags(&self, contact_id: i64, tags: &[String], actor: &str, now: i64) -> Result<()> {
        let clean = clean_tags(tags.iter().map(String::as_str));
        let json = serde_json::to_string(&clean).map_err(|e| CoreError::Invalid(e.to_string()))?;
        let subject = contact_id.to_string();
        self.audited(now, actor, crate::audit::Action::ContactTags, Some(&subject), |tx| {
            Box::pin(async move {
                sqlx::query("UPDATE contact SET tags = ? WHERE id = ?")
                    .bind(&json)
                    .bind(contact_id)
                    .execute(&mut *tx)
                    .await?;
                Ok(((), serde_json::json!({"tags": clean})))
            })
        })
        .await
    }

    /// Records consent given or withdrawn at the desk (a form signed at the counter), audited.
    pub async fn set_consent(&self, contact_id: i64, opt_in: bool, note: &str, actor: &str, now: i64) -> Result<()> {
        let kind = if opt_in { "opt_in" } else { "opt_out" };
        let (note, subject) = (note.to_string(), contact_id.to_string());
        self.audited(now, actor, crate::audit::Action::Consent, Some(&subject), |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO consent (contact_id, kind, source, detail, at) VALUES (?, ?, 'manual', ?, ?)")
                    .bind(contact_id)
                    .bind(kind)
                    .bind(Some(&note).filter(|n| !n.trim().is_empty()))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                Ok(((), serde_json::json!({"kind": kind, "detail": note})))
            })
        })
        .await
    }

    /// Imports contacts from CSV (`phone` column required; `name`, `tags` split on `;` or `|`,
    /// `vip` yes/no, `consent` opt_in/opt_out optional). Good rows are kept, bad ones reported by
    /// line, all in one transaction so a crash leaves either all the good rows or none.
    pub async fn import_contacts_csv(&self, text: &str, actor: &str, now: i64) -> Result<ImportReport> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| CoreError::Invalid(format!("line 1: the CSV header cannot be read: {e}")))?
            .clone();
        let col = |names: &[&str]| {
            headers
                .iter()
                .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
        };
        let phone_col = col(&["phone", "wa_id", "number", "phone number"])
            .ok_or_else(|| CoreError::Invalid("line 1: the CSV needs a `phone` column".into()))?;
        let (name_col, tags_col, vip_col, consent_col) =
            (col(&["name"]), col(&["tags", "tag"]), col(&["vip"]), col(&["consent"]));
        let mut report = ImportReport::default();
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        for (i, row) in reader.records().enumerate() {
            let line = i as i64 + 2;
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    report.errors.push(LineError {
                        line,
                        message: format!("unreadable row ({e})"),
                    });
                    continue;
                }
            };
            let field = |c: Option<usize>| c.and_then(|c| row.get(c)).filter(|v| !v.is_empty());
            let raw_phone = field(Some(phone_col)).unwrap_or_default();
            let Some(wa) = normalize_wa_id(Some(raw_phone)).filter(|d| (7..=15).contains(&d.len())) else {
                report.errors.push(LineError {
                    line,
                    message: format!(
                        "{raw_phone:?} is not a phone number (use the international form, e.g. +44 7700 900123)"
                    ),
                });
                continue;
            };
            let vip = match field(vip_col).map(str::to_ascii_lowercase).as_deref() {
                None => None,
                Some("yes" | "y" | "true" | "1") => Some(true),
                Some("no" | "n" | "false" | "0") => Some(false),
                Some(other) => {
                    report.errors.push(LineError {
                        line,
                        message: format!("vip must be yes or no, not {other:?}"),
                    });
                    continue;
                }
            };
            let consent = match field(consent_col)
                .map(|v| v.to_ascii_lowercase().replace(['-', ' '], "_"))
                .as_deref()
            {
                None => None,
                Some("opt_in" | "yes" | "in") => Some("opt_in"),
                Some("opt_out" | "no" | "out") => Some("opt_out"),
                Some(other) => {
                    report.errors.push(LineError {
                        line,
                        message: format!("consent must be opt_in or opt_out, not {other:?}"),
                    });
                    continue;
                }
            };
            let tags = field(tags_col).map(|t| clean_tags(t.split([';', '|'])));
            let existing: Option<(i64, String)> = sqlx::query_as("SELECT id, tags FROM contact WHERE wa_id = ?")
                .bind(&wa)
                .fetch_optional(&mut *tx)
                .await?;
            let id = match existing {
                Some((id, old_tags)) => {
                    // Tags add to what the desk already set; a name given here wins.
                    let merged = tags.map(|t| {
                        let mut all: Vec<String> = serde_json::from_str(&old_tags).unwrap_or_default();
                        all.extend(t);
                        clean_tags(all.iter().map(String::as_str))
                    });
                    sqlx::query(
                        "UPDATE contact SET name = COALESCE(?, name), vip = COALESCE(?, vip),
                         tags = COALESCE(?, tags), removed_at = NULL WHERE id = ?",
                    )
                    .bind(field(name_col))
                    .bind(vip)
                    .bind(merged.map(|t| serde_json::to_string(&t).unwrap_or_else(|_| "[]".into())))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    report.updated += 1;
                    id
                }
                None => {
                    report.created += 1;
                    sqlx::query_scalar(
                        "INSERT INTO contact (wa_id, name, vip, tags, source, created_at)
                         VALUES (?, ?, ?, ?, 'manual', ?) RETURNING id",
                    )
                    .bind(&wa)
                    .bind(field(name_col))
                    .bind(vip.unwrap_or(false))
                    .bind(serde_json::to_string(&tags.unwrap_or_default()).unwrap_or_else(|_| "[]".into()))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            if let Some(kind) = consent {
                sqlx::query("INSERT INTO consent (contact_id, kind, source, detail, at) VALUES (?, ?, 'import', ?, ?)")
                    .bind(id)
                    .bind(kind)
                    .bind(format!("CSV import, line {line}"))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        crate::audit::append_with(
            &mut tx,
            self.sealing().as_ref(),
            now,
            actor,
            crate::audit::Action::ContactsImport,
            None,
            &serde_json::json!({"created": report.created, "updated": report.updated, "refused": report.errors.len()}),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}

fn clean_tags<'a>(tags: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = tags
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn csv_import_keeps_good_rows_and_names_bad_lines() {
        let store = Store::open_in_memory().await.unwrap();
        let csv = "phone,name,tags,vip,consent\n\
                   +44 7700 900123,Asha,cakes;regular,yes,opt_in\n\
                   not-a-number,Bob,,,\n\
                   4915112345678,Lena,Cakes | wholesale,no,\n\
                   +1 555 0100 222,Kim,,maybe,\n\
                   447700900123,,vip-list,,opt-out\n";
        let r = store.import_contacts_csv(csv, "owner", 1_000).await.unwrap();
        assert_eq!((r.created, r.updated), (2, 1), "{r:?}");
        let lines: Vec<i64> = r.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 5]);
        assert!(r.errors[0].message.contains("not a phone number"), "{:?}", r.errors);
        assert!(r.errors[1].message.contains("vip must be yes or no"), "{:?}", r.errors);

        let all = store.contacts(None, 50, 0).await.unwrap();
        let names: Vec<&str> = all.iter().map(|c| c.display_name.as_str()).collect();
        assert_eq!(names, vec!["Asha", "Lena"]);
        let asha = &all[0];
        assert!(asha.vip);
        assert_eq!(asha.tags, r#"["cakes","regular","vip-list"]"#);
        // The later line (opt-out) is the current consent; the history keeps both.
        assert_eq!(asha.consent.as_deref(), Some("opt_out"));
        let history = store.consent_history(asha.id).await.unwrap();
        assert_eq!(history.len(), 2);
        assert!(history.iter().all(|e| e.source == "import"));
        assert_eq!(all[1].tags, r#"["cakes","wholesale"]"#);

        assert_eq!(store.contacts(Some("wholesale"), 50, 0).await.unwrap().len(), 1);
        assert_eq!(store.contact_count(Some("cakes")).await.unwrap(), 2);
        assert_eq!(
            store.contacts(Some("7700"), 50, 0).await.unwrap()[0].display_name,
            "Asha"
        );
    }

    #[tokio::test]
    async fn a_csv_without_a_phone_column_is_refused_whole() {
        let store = Store::open_in_memory().await.unwrap();
        let e = store.import_contacts_csv("name\nAsha\n", "owner", 1).await.unwrap_err();
        assert!(e.to_string().contains("needs a `phone` column"), "{e}");
        assert_eq!(store.contact_count(None).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn tags_and_consent_set_at_the_desk_are_audited() {
        let store = Store::open_in_memory().await.unwrap();
        store
            .import_contacts_csv("phone\n+447700900123\n", "owner", 1)
            .await
            .unwrap();
        let id = store.contacts(None, 1, 0).await.unwrap()[0].id;
        store
            .set_tags(id, &[" Regular ".into(), "regular".into(), "cakes".into()], "desk", 2)
            .await
            .unwrap();
        store
            .set_consent(id, true, "signed at the counter", "desk", 3)
            .await
            .unwrap();
        let c = store.contact(id).await.unwrap().unwrap();
        assert_eq!(c.tags, r#"["cakes","regular"]"#);
        assert_eq!(c.consent.as_deref(), Some("opt_in"));
        let log = store.audit_entries().await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert!(
            actions.contains(&"contact.tags") && actions.contains(&"consent"),
            "{actions:?}"
        );
    }
}
