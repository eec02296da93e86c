//! Named scenarios and the owner's phone: customers writing in, the owner answering from the
//! phone (with edits and revokes), history imports in shuffled chunks, the address book.

use crate::graph::queue;
use crate::hooks::envelope;
use crate::{Customer, Sim, State, Template};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// A realistic day of a small shop with `customers` customers.
    ShopDay { customers: usize },
    /// A 180-day history import of about `messages` messages.
    HistoryImport { messages: usize },
    /// Many opted-in customers ready for a campaign.
    CampaignLoad { customers: usize },
}

impl Scenario {
    pub fn parse(name: &str, size: Option<usize>) -> Result<Scenario, String> {
        match name {
            "shop-day" => Ok(Scenario::ShopDay {
                customers: size.unwrap_or(30),
            }),
            "history-import" => Ok(Scenario::HistoryImport {
                messages: size.unwrap_or(2_000),
            }),
            "campaign-load" => Ok(Scenario::CampaignLoad {
                customers: size.unwrap_or(1_000),
            }),
            other => Err(format!(
                "unknown scenario {other:?}: shop-day, history-import or campaign-load"
            )),
        }
    }
}

pub fn default_templates() -> Vec<Template> {
    let t = |id: &str, name: &str, lang: &str, category: &str, status: &str, body: &str| Template {
        id: id.into(),
        name: name.into(),
        language: lang.into(),
        category: category.into(),
        status: status.into(),
        components: json!([{"type": "BODY", "text": body}]),
        review_at: None,
    };
    vec![
        t(
            "9000000001",
            "hello_world",
            "en_US",
            "UTILITY",
            "APPROVED",
            "Hello World",
        ),
        t(
            "9000000002",
            "order_update",
            "en",
            "UTILITY",
            "APPROVED",
            "Hi {{1}}, your order {{2}} is ready.",
        ),
        t(
            "9000000003",
            "order_update",
            "pt_BR",
            "UTILITY",
            "APPROVED",
            "Oi {{1}}, seu pedido {{2}} está pronto.",
        ),
        t(
            "9000000004",
            "spring_sale",
            "en_US",
            "MARKETING",
            "APPROVED",
            "{{first_name}}, 20% off this weekend only!",
        ),
        t(
            "9000000005",
            "login_code",
            "en",
            "AUTHENTICATION",
            "APPROVED",
            "{{1}} is your verification code.",
        ),
        t(
            "9000000006",
            "old_promo",
            "en_US",
            "MARKETING",
            "PAUSED",
            "Old promotion",
        ),
        t(
            "9000000007",
            "bad_promo",
            "en_US",
            "MARKETING",
            "REJECTED",
            "Bad promotion",
        ),
        with_header(
            t(
                "9000000008",
                "new_menu",
                "en_US",
                "MARKETING",
                "APPROVED",
                "Our new menu is here, {{1}}: come and taste it!",
            ),
            "IMAGE",
        ),
        with_header(
            t(
                "9000000009",
                "invoice_ready",
                "en",
                "UTILITY",
                "APPROVED",
                "Hi {{1}}, your invoice is attached.",
            ),
            "DOCUMENT",
        ),
    ]
}

/// The template with a picture, video or document at its top.
fn with_header(mut t: Template, format: &str) -> Template {
    let body = t.components[0].clone();
    t.components = json!([{"type": "HEADER", "format": format, "example": {"header_handle": ["4::aW1hZ2U="]}}, body]);
    t
}

const NAMES: &[&str] = &[
    "Asha Verma",
    "Lucas Souza",
    "Budi Santoso",
    "Amelia Hart",
    "Jonas Weber",
    "Priya Nair",
    "Marta Silva",
    "Kenji Tanaka",
    "Fatima Zahra",
    "Diego Ramos",
    "Chloé Martin",
    "Ravi Kumar",
    "Ana Costa",
    "Siti Rahma",
];
const PREFIXES: &[(&str, &str)] = &[
    ("91", "IN"),
    ("55", "BR"),
    ("62", "ID"),
    ("44", "GB"),
    ("49", "DE"),
    ("1555", "US"),
];

pub fn new_customer(st: &mut State, wa_id: &str, name: Option<&str>) -> Customer {
    let country = PREFIXES
        .iter()
        .find(|(p, _)| wa_id.starts_with(p))
        .map(|(_, c)| *c)
        .unwrap_or("US");
    let tag: u32 = st.rng.random();
    Customer {
        wa_id: wa_id.into(),
        bsuid: format!("{country}.{tag:08x}"),
        name: name
            .map(String::from)
            .unwrap_or_else(|| NAMES[st.rng.random_range(0..NAMES.len())].into()),
        country: country.into(),
        last_inbound_at: None,
        free_entry_until: None,
        reads: st.rng.random_bool(0.8),
        opted_in_marketing: false,
        username_only: false,
    }
}

/// The `contacts[]` entry of a customer's webhook: a username-only customer carries no `wa_id`
/// (Meta's BSUID changes, 2026: the field is absent; older payloads sent an empty string).
pub fn contact_json(c: &Customer) -> serde_json::Value {
    if c.username_only {
        json!({"profile": {"name": c.name, "username": format!("@{}", c.name.to_lowercase().replace(' ', ""))}, "user_id": c.bsuid})
    } else {
        json!({"profile": {"name": c.name}, "wa_id": c.wa_id, "user_id": c.bsuid})
    }
}

/// A customer's message names its sender by `from` (the phone) and `from_user_id`; `from` is
/// absent for a username-only customer.
fn from_json(c: &Customer, mut m: serde_json::Value) -> serde_json::Value {
    m["from_user_id"] = json!(c.bsuid);
    if !c.username_only {
        m["from"] = json!(c.wa_id);
    }
    m
}

/// Makes sure at least `n` customers exist; returns their numbers (oldest first).
fn ensure_customers(st: &mut State, n: usize) -> Vec<String> {
    while st.customers.len() < n {
        let (prefix, _) = PREFIXES[st.rng.random_range(0..PREFIXES.len())];
        let rest: u64 = st.rng.random_range(100_000_000..999_999_999);
        let wa = format!("{prefix}{rest}");
        if !st.customers.contains_key(&wa) {
            let c = new_customer(st, &wa, None);
            st.customers.insert(wa, c);
        }
    }
    st.customers.keys().take(n).cloned().collect()
}

/// A customer message at `at`: opens the window (and a free entry point after an ad).
pub fn inbound(sim: &Sim, st: &mut State, wa: &str, at: i64, text: &str, referral: bool) -> String {
    inbound_on(sim, st, "messages", wa, at, text, referral)
}

/// What a customer attaches to a message; the simulator makes the bytes.
#[derive(Debug, Clone)]
pub enum Attachment {
    /// A generated PNG, `size` pixels a side (the same seed and size give the same bytes).
    Photo { size: u32, seed: Option<u64> },
    /// A voice note recorded in the app: Ogg Opus, `secs` long.
    Voice { secs: u32 },
    /// A one-page PDF under this file name, declared as `mime` (default `application/pdf`): a
    /// customer's phone declares the type, and Meta passes it on as the document's `mime_type`
    /// (Meta's messages webhook reference, document object: id, mime_type, sha256, filename,
    /// caption), so a name and a type may disagree.
    Document { filename: String, mime: Option<String> },
}

/// A customer sends a file (`caption` for photos and documents; a voice note has none), shaped
/// like Meta's `image`, `audio` (`voice: true`) and `document` messages.
pub fn media_in(sim: &Sim, st: &mut State, wa: &str, at: i64, caption: &str, what: Attachment) -> String {
    let seed = st.next_id;
    let (kind, mime, bytes) = match &what {
        Attachment::Photo { size, seed: s } => (
            "image",
            "image/png",
            crate::media::photo(s.unwrap_or(seed), (*size).clamp(1, 4096)),
        ),
        Attachment::Voice { secs } => ("audio", "audio/ogg; codecs=opus", crate::media::voice_note(seed, *secs)),
        Attachment::Document { filename, mime } => (
            "document",
            mime.as_deref().unwrap_or("application/pdf"),
            crate::media::pdf_document(filename, &[caption, "Sent from the Coexist simulator."]),
        ),
    };
    let (media_id, item) = st.add_media(mime, bytes);
    let wamid = st.new_id("wamid.IN");
    let c = st.customers.get_mut(wa).expect("known customer");
    c.last_inbound_at = Some(at);
    let c = c.clone();
    let mut media = json!({"id": media_id, "mime_type": item.mime, "sha256": item.sha256});
    match &what {
        Attachment::Voice { .. } => media["voice"] = json!(true),
        Attachment::Document { filename, .. } => {
            media["filename"] = json!(filename);
            media["caption"] = json!(caption);
        }
        Attachment::Photo { .. } => media["caption"] = json!(caption),
    }
    let m = from_json(
        &c,
        json!({"id": wamid, "timestamp": at.to_string(), "type": kind, kind: media}),
    );
    let body = envelope(
        &st.cfg,
        "messages",
        json!({"contacts": [contact_json(&c)], "messages": [m]}),
        None,
    );
    let text = (!matches!(what, Attachment::Voice { .. })).then_some(caption);
    st.truth.contact(wa);
    st.truth.message(&wamid, "customer", text, None);
    queue(sim, st, "messages", body);
    wamid
}

/// A customer message delivered on `field`: `messages`, or `standby` when Meta's Business Agent
/// answers that chat.
pub fn inbound_on(sim: &Sim, st: &mut State, field: &str, wa: &str, at: i64, text: &str, referral: bool) -> String {
    let wamid = st.new_id("wamid.IN");
    let c = st.customers.get_mut(wa).expect("known customer");
    c.last_inbound_at = Some(at);
    if referral {
        c.free_entry_until = Some(at + 72 * 3600);
    }
    let c = c.clone();
    let mut m = from_json(
        &c,
        json!({"id": wamid, "timestamp": at.to_string(), "type": "text", "text": {"body": text}}),
    );
    if referral {
        m["referral"] = json!({"source_url": "https://fb.me/sim", "source_id": "120000000000001", "source_type": "ad",
                               "headline": "Weekend offer", "ctwa_clid": format!("CLID{}", st.next_id)});
    }
    let body = envelope(
        &st.cfg,
        field,
        json!({"contacts": [contact_json(&c)], "messages": [m]}),
        None,
    );
    // Inbound traffic counts against the number's throughput too.
    let _ = sim.limits.throughput.check();
    st.truth.contact(wa);
    st.truth.message(&wamid, "customer", Some(text), None);
    if is_stop(text) {
        st.truth.opted_out.insert(wa.into());
    }
    queue(sim, st, field, body);
    wamid
}

fn is_stop(text: &str) -> bool {
    matches!(
        text.trim().to_lowercase().as_str(),
        "stop" | "parar" | "berhenti" | "unsubscribe"
    )
}

/// The owner replies from the phone app.
fn echo(sim: &Sim, st: &mut State, wa: &str, at: i64, kind: EchoKind<'_>) -> String {
    let wamid = st.new_id("wamid.ECHO");
    let c = st.customers[wa].clone();
    let mut m = json!({"from": st.cfg.display_number, "to_user_id": c.bsuid, "id": wamid, "timestamp": at.to_string()});
    if !c.username_only {
        m["to"] = json!(format!("+{}", c.wa_id));
    }
    match kind {
        EchoKind::Text(t) => {
            m["type"] = json!("text");
            m["text"] = json!({"body": t});
            st.truth.message(&wamid, "phone", Some(t), None);
        }
        EchoKind::Edit(original, t) => {
            m["type"] = json!("edit");
            // Meta's edit webhook reference (2026-07): the new content as a whole message.
            m["edit"] = json!({"original_message_id": original, "message": {"type": "text", "text": {"body": t}}});
            st.truth.edit(original, t);
        }
        EchoKind::Revoke(original) => {
            m["type"] = json!("revoke");
            m["revoke"] = json!({"original_message_id": original});
            st.truth.revoke(original);
        }
    }
    st.truth.contact(wa);
    let body = envelope(&st.cfg, "smb_message_echoes", json!({"message_echoes": [m]}), None);
    queue(sim, st, "smb_message_echoes", body);
    wamid
}

enum EchoKind<'a> {
    Text(&'a str),
    Edit(&'a str, &'a str),
    Revoke(&'a str),
}

const QUESTIONS: &[&str] = &[
    "Hi, is this still available?",
    "What time do you close today?",
    "Can I pick it up tomorrow?",
    "Do you deliver to my area?",
    "How much is the large one?",
    "Thanks!",
    "Is there a discount for two?",
];
const ANSWERS: &[&str] = &[
    "Yes, we have it in stock.",
    "We close at 7 pm.",
    "Of course, see you tomorrow.",
    "We deliver within 5 km.",
    "The large one is 25.",
    "You're welcome!",
    "Two for 45.",
];

pub fn run(sim: &Sim, scenario: &Scenario) {
    let mut st = sim.lock();
    match *scenario {
        Scenario::ShopDay { customers } => shop_day(sim, &mut st, customers),
        Scenario::HistoryImport { messages } => {
            let threads = messages.div_ceil(40).max(1);
            history_import(sim, &mut st, threads, messages);
        }
        Scenario::CampaignLoad { customers } => {
            for wa in ensure_customers(&mut st, customers) {
                if let Some(c) = st.customers.get_mut(&wa) {
                    c.opted_in_marketing = true;
                }
            }
        }
    }
}

fn shop_day(sim: &Sim, st: &mut State, n: usize) {
    let who = ensure_customers(st, n);
    let open = st.now;
    let mut at = open;
    for (i, wa) in who.iter().enumerate() {
        let msgs = st.rng.random_range(1..=3);
        for k in 0..msgs {
            at += st.rng.random_range(30..900);
            let q = QUESTIONS[st.rng.random_range(0..QUESTIONS.len())];
            let text = if i == 3 && k == msgs - 1 { "STOP" } else { q };
            let referral = k == 0 && st.rng.random_bool(0.2);
            inbound(sim, st, wa, at, text, referral);
            if text == "STOP" || !st.rng.random_bool(0.6) {
                continue;
            }
            at += st.rng.random_range(20..300);
            let a = ANSWERS[st.rng.random_range(0..ANSWERS.len())];
            let reply = echo(sim, st, wa, at, EchoKind::Text(a));
            if st.rng.random_bool(0.1) {
                at += 30;
                echo(sim, st, wa, at, EchoKind::Edit(&reply, &format!("{a} (corrected)")));
            } else if st.rng.random_bool(0.05) {
                at += 30;
                echo(sim, st, wa, at, EchoKind::Revoke(&reply));
            }
        }
    }
    st.now = st.now.max(at);
}

/// A 180-day import over `threads` customers, in chunks delivered in shuffled order.
fn history_import(sim: &Sim, st: &mut State, threads: usize, total: usize) {
    let who = ensure_customers(st, threads);
    let end = st.cfg.onboarded_at;
    let start = end - 180 * 86_400;
    let per_thread = total.div_ceil(threads);
    let mut threads_json = Vec::new();
    let mut placeholders = Vec::new();
    let mut made = 0;
    for wa in &who {
        let c = st.customers[wa].clone();
        let mut msgs = Vec::new();
        for k in 0..per_thread.min(total - made) {
            let at = start + st.rng.random_range(0..180 * 86_400);
            let wamid = format!("wamid.HIST{:09}", made + k);
            let outbound = st.rng.random_bool(0.4);
            // Meta's history reference (2026-05): every history media message comes as a
            // `media_placeholder`; only those within 14 days of onboarding get a follow-up.
            let media = st.rng.random_bool(0.05);
            let status = if outbound { "DELIVERED" } else { "READ" };
            let mut m = if outbound {
                json!({"from": st.cfg.display_number, "to": c.wa_id, "id": wamid, "timestamp": at.to_string(), "history_context": {"status": status}})
            } else {
                json!({"from": c.wa_id, "id": wamid, "timestamp": at.to_string(), "history_context": {"status": status}})
            };
            if media {
                m["type"] = json!("media_placeholder");
                if end - at <= 14 * 86_400 {
                    placeholders.push((wamid.clone(), c.wa_id.clone(), at, outbound));
                }
                st.truth.message(&wamid, "history", None, Some(&status.to_lowercase()));
            } else {
                let text = QUESTIONS[st.rng.random_range(0..QUESTIONS.len())];
                m["type"] = json!("text");
                m["text"] = json!({"body": text});
                st.truth
                    .message(&wamid, "history", Some(text), Some(&status.to_lowercase()));
            }
            msgs.push((at, m));
        }
        made += msgs.len();
        msgs.sort_by_key(|(at, _)| *at);
        st.truth.contact(wa);
        threads_json.push((c.clone(), msgs));
        if made >= total {
            break;
        }
    }
    // Chunks of about 100 messages; phase by age; chunk order and progress as Meta numbers them.
    let mut chunks: Vec<(i64, Vec<serde_json::Value>)> = Vec::new();
    for (c, msgs) in &threads_json {
        for part in msgs.chunks(100) {
            let newest = part.last().map(|(at, _)| *at).unwrap_or(end);
            let phase = if end - newest <= 86_400 {
                0
            } else if end - newest <= 90 * 86_400 {
                1
            } else {
                2
            };
            let thread = json!({"id": c.wa_id, "context": {"wa_id": c.wa_id, "user_id": c.bsuid},
                                "messages": part.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>()});
            chunks.push((phase, vec![thread]));
        }
    }
    let total_chunks = chunks.len().max(1);
    let mut numbered: Vec<(usize, i64, Vec<serde_json::Value>)> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, (phase, t))| (i + 1, phase, t))
        .collect();
    numbered.shuffle(&mut st.rng);
    for (order, phase, threads) in numbered {
        let progress = (order * 100 / total_chunks) as i64;
        let body = envelope(
            &st.cfg,
            "history",
            json!({"history": [{"metadata": {"phase": phase, "chunk_order": order, "progress": progress}, "threads": threads}]}),
            None,
        );
        st.truth.history_chunks.insert((phase, order as i64));
        st.truth.history_progress = st.truth.history_progress.max(progress);
        queue(sim, st, "history", body);
    }
    st.truth.history_state = if st.truth.history_progress >= 100 {
        "complete".into()
    } else {
        "in_progress".into()
    };
    // Media of the last 14 days follows with its asset ids: the owner's as
    // `value.message_echoes[]`, the customer's as `value.messages[]` with `from` (same wamid).
    for (wamid, customer, at, outbound) in placeholders {
        let image = json!({"mime_type": "image/jpeg", "sha256": "00", "id": format!("MEDIA{}", &wamid[10..])});
        let body = if outbound {
            let m = json!({"from": st.cfg.display_number, "to": customer, "id": wamid, "timestamp": at.to_string(),
                           "type": "image", "image": image});
            json!({"message_echoes": [m]})
        } else {
            let m =
                json!({"from": customer, "id": wamid, "timestamp": at.to_string(), "type": "image", "image": image});
            json!({"messages": [m]})
        };
        let body = envelope(&st.cfg, "history", body, None);
        queue(sim, st, "history", body);
    }
}

/// After a `history` sync request: the import, or a decline when sharing is off on the phone.
pub fn history_after_request(sim: &Sim, st: &mut State) {
    if st.cfg.history_declined {
        let body = envelope(
            &st.cfg,
            "history",
            json!({"history": [{"errors": [{"code": 2_593_109, "title": "History sync is turned off by the business from the WhatsApp Business App",
                                              "error_data": {"details": "History sharing is turned off by the business"}}]}]}),
            None,
        );
        if st.truth.history_state.is_empty() {
            st.truth.history_state = "declined".into();
        }
        queue(sim, st, "history", body);
    } else {
        let threads = st.customers.len().clamp(3, 20);
        history_import(sim, st, threads, threads * 10);
    }
}

/// After a state sync request: the phone's address book (one entry later removed).
pub fn contacts_after_request(sim: &Sim, st: &mut State) {
    let who = ensure_customers(st, 5);
    let at = st.now;
    let mut items = Vec::new();
    for wa in &who {
        let c = &st.customers[wa];
        items.push(
            json!({"type": "contact", "contact": {"full_name": c.name, "phone_number": c.wa_id, "user_id": c.bsuid},
                          "action": "add", "metadata": {"timestamp": at.to_string()}}),
        );
    }
    let supplier = format!("1555{:07}", st.rng.random_range(0..9_999_999));
    items.push(
        json!({"type": "contact", "contact": {"full_name": "Supplier", "phone_number": supplier}, "action": "add",
                      "metadata": {"timestamp": at.to_string()}}),
    );
    items.push(
        json!({"type": "contact", "contact": {"phone_number": supplier}, "action": "remove",
                      "metadata": {"timestamp": (at + 60).to_string()}}),
    );
    for wa in &who {
        st.truth.contact(wa);
    }
    st.truth.remove_contact(&supplier);
    let body = envelope(&st.cfg, "smb_app_state_sync", json!({"state_sync": items}), None);
    queue(sim, st, "smb_app_state_sync", body);
}
