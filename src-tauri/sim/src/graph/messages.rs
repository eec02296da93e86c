//! `POST /{ver}/{phone_id}/messages`: what Meta checks before it accepts a send, and the
//! statuses that follow.

use super::*;

pub async fn send_message(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.lock().counters.api_calls += 1;
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let fault = api_fault(&sim);
    match fault {
        ApiFault::ServerError => {
            return fail(
                &sim,
                StatusCode::INTERNAL_SERVER_ERROR,
                2,
                "Service temporarily unavailable",
                "An unexpected error has occurred. Please retry your request later.",
            );
        }
        ApiFault::Drop => return Response::new(axum::body::Body::new(BrokenBody)),
        ApiFault::None | ApiFault::Timeout(_) | ApiFault::ServerErrorAfterSend => {}
    }
    let response = process_send(&sim, &id, &body);
    match fault {
        ApiFault::Timeout(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        ApiFault::ServerErrorAfterSend => {
            return fail(
                &sim,
                StatusCode::INTERNAL_SERVER_ERROR,
                2,
                "Service temporarily unavailable",
                "An unexpected error has occurred. Please retry your request later.",
            );
        }
        _ => {}
    }
    response
}

fn process_send(sim: &Sim, id: &str, body: &[u8]) -> Response {
    if id != sim.lock().cfg.phone_number_id {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            &format!("Object with ID '{id}' does not exist or does not support this operation."),
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "The request body is not valid JSON.",
        );
    };
    if req["messaging_product"] != "whatsapp" {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "messaging_product must be \"whatsapp\".",
        );
    }
    if sim.limits.throughput.check().is_err() {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        );
    }
    // Addressing (DESIGN §4, as partners document Meta's BSUID change): `to` takes a phone
    // number; a customer known only by BSUID is named in `recipient`. A BSUID placed in `to` is
    // not delivered: refused here as undeliverable (the exact answer is not documented).
    let by_recipient = req["recipient"].as_str().map(str::trim).filter(|r| !r.is_empty());
    let to_raw = req["to"].as_str().unwrap_or_default();
    let bsuid_in_to =
        to_raw.len() > 3 && to_raw.as_bytes()[2] == b'.' && to_raw[..2].chars().all(|c| c.is_ascii_alphabetic());
    let to = digits(to_raw);
    let kind = req["type"].as_str().unwrap_or("text").to_string();
    let callback = req["biz_opaque_callback_data"].as_str().map(String::from);
    if callback.as_ref().is_some_and(|c| c.chars().count() > 512) {
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "biz_opaque_callback_data is longer than 512 characters.",
        );
    }
    let mut st = sim.lock();
    let now = st.now;
    let (to, addressed_by) = match by_recipient {
        Some(b) if to_raw.is_empty() => (
            st.customers
                .iter()
                .find(|(_, c)| c.bsuid == b)
                .map(|(k, _)| k.clone())
                .unwrap_or_default(),
            "recipient",
        ),
        _ if bsuid_in_to => (String::new(), "to"),
        _ => (to, "to"),
    };
    let Some(customer) = st.customers.get(&to).cloned() else {
        drop(st);
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            131026,
            "Message undeliverable",
            "Unable to deliver message: the recipient is not a WhatsApp user or cannot receive this message.",
        );
    };
    let mut template_category = None;
    let mut template_name = None;
    // The media a message carries by id: the file itself, or a template's header.
    let mut media_id: Option<String> = None;
    match kind.as_str() {
        "text" => {
            if req["text"]["body"].as_str().is_none_or(str::is_empty) {
                drop(st);
                return fail(
                    sim,
                    StatusCode::BAD_REQUEST,
                    100,
                    "Invalid parameter",
                    "text.body is required.",
                );
            }
        }
        "image" | "document" | "video" | "audio" | "sticker" => {
            if req[&kind]["id"].is_null() && req[&kind]["link"].is_null() {
                drop(st);
                return fail(
                    sim,
                    StatusCode::BAD_REQUEST,
                    100,
                    "Invalid parameter",
                    &format!("{kind} needs an id or a link."),
                );
            }
            media_id = req[&kind]["id"].as_str().map(str::to_string);
        }
        "template" => {
            let name = req["template"]["name"].as_str().unwrap_or_default();
            let lang = req["template"]["language"]["code"].as_str().unwrap_or_default();
            match st.templates.iter().find(|t| t.name == name && t.language == lang) {
                Some(t) if t.status == "APPROVED" => {
                    let (expected, given) = (
                        placeholders(&t.components),
                        body_parameters(&req["template"]["components"]),
                    );
                    if expected != given {
                        drop(st);
                        return fail(sim, StatusCode::BAD_REQUEST, 132000, "Number of parameters does not match the expected number of params", &format!("body: number of localizable_params ({given}) does not match the expected number of params ({expected})"));
                    }
                    match header_media(&t.components, &req["template"]["components"]) {
                        Err(details) => {
                            drop(st);
                            return fail(
                                sim,
                                StatusCode::BAD_REQUEST,
                                132012,
                                "Parameter format does not match format in the created template",
                                &details,
                            );
                        }
                        Ok(id) => media_id = id,
                    }
                    if addressed_by == "recipient" && t.category.eq_ignore_ascii_case("authentication") {
                        drop(st);
                        return fail(
                            sim,
                            StatusCode::BAD_REQUEST,
                            131062,
                            "Business-scoped user ID recipient not supported",
                            "Authentication templates cannot be sent to a business-scoped user ID.",
                        );
                    }
                    template_category = Some(t.category.to_lowercase());
                    template_name = Some(t.name.clone());
                }
                Some(t) if t.status == "PAUSED" => {
                    drop(st);
                    return fail(
                        sim,
                        StatusCode::BAD_REQUEST,
                        132015,
                        "Template is Paused",
                        &format!("Template {name} is paused because of low quality."),
                    );
                }
                _ => {
                    drop(st);
                    return fail(
                        sim,
                        StatusCode::BAD_REQUEST,
                        132001,
                        "Template name does not exist in the translation",
                        &format!("template name ({name}) does not exist in {lang}"),
                    );
                }
            }
        }
        other => {
            drop(st);
            return fail(
                sim,
                StatusCode::BAD_REQUEST,
                100,
                "Invalid parameter",
                &format!("Unsupported message type {other}."),
            );
        }
    }
    // A file sent by id (or a template's header) must have been uploaded first.
    if let Some(id) = media_id.as_deref().filter(|id| !st.media.contains_key(*id)) {
        let details = format!("Media id {id} is not known: upload the file first.");
        drop(st);
        return fail(sim, StatusCode::BAD_REQUEST, 131053, "Media upload error", &details);
    }
    let window_open = customer.last_inbound_at.is_some_and(|t| now - t < 24 * 3600);
    if template_category.is_none() && !window_open {
        drop(st);
        return fail(sim, StatusCode::BAD_REQUEST, 131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number.");
    }
    if sim.limits.pair.check_key(&to).is_err() {
        drop(st);
        return fail(
            sim,
            StatusCode::BAD_REQUEST,
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from this phone number to the same phone number in a short period of time.",
        );
    }
    let free_entry = customer.free_entry_until.is_some_and(|t| now < t);
    // The messaging limit counts unique customers reached with templates outside a service
    // window over a rolling 24 h. Meta documents no dedicated error code for it; the simulator
    // answers 131064 ("messaging limit reached"), which stops a campaign.
    if template_category.is_some() && !window_open && !free_entry {
        if let Some(limit) = st.cfg.messaging_limit {
            st.reached.retain(|_, at| now - *at < 24 * 3600);
            if !st.reached.contains_key(&to) && st.reached.len() >= limit as usize {
                st.counters.messaging_limit_refused += 1;
                drop(st);
                return fail(
                    sim,
                    StatusCode::BAD_REQUEST,
                    131064,
                    "Messaging limit reached",
                    &format!("This business has reached its messaging limit of {limit} unique customers in 24 hours."),
                );
            }
        }
        st.reached.entry(to.clone()).or_insert(now);
    }
    let priced = price(now, template_category.as_deref(), window_open, free_entry);
    let wamid = st.new_id("wamid.SIM");
    st.accepted.push(Accepted {
        wamid: wamid.clone(),
        to: if addressed_by == "recipient" {
            customer.bsuid.clone()
        } else {
            to.clone()
        },
        addressed_by,
        kind: kind.clone(),
        template: template_name,
        category: template_category.clone(),
        callback: callback.clone(),
        media_id,
        at: now,
        pricing_type: priced.kind.unwrap_or("conversation").into(),
        billable: priced.billable,
        accepted_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    });
    st.counters.accepted += 1;
    *st.counters.delivered_per_recipient.entry(to.clone()).or_default() += 1;
    let mut statuses = vec!["sent", "delivered"];
    if customer.reads {
        statuses.push("read");
    }
    for (i, status) in statuses.into_iter().enumerate() {
        // A username-only customer's statuses carry the BSUID alone (inferred: Meta documents
        // `recipient_user_id` on statuses; `recipient_id` is left out like `wa_id` elsewhere).
        let mut s = json!({"id": wamid, "status": status, "timestamp": (now + i as i64 * 2).to_string(),
                           "recipient_user_id": customer.bsuid});
        if !customer.username_only {
            s["recipient_id"] = json!(to);
        }
        if let Some(cb) = &callback {
            s["biz_opaque_callback_data"] = json!(cb);
        }
        if status != "read" {
            s["pricing"] = match priced.kind {
                Some(k) => {
                    json!({"billable": priced.billable, "pricing_model": priced.model, "type": k, "category": priced.category})
                }
                None => {
                    json!({"billable": priced.billable, "pricing_model": priced.model, "category": priced.category})
                }
            };
            if priced.kind.is_none() {
                s["conversation"] = json!({"id": format!("CONV.{to}.{}.{}", priced.category, now / 86_400), "origin": {"type": priced.category}});
            }
        }
        st.truth.contact(&to);
        st.truth.status(&wamid, status);
        let body = envelope(&st.cfg, "messages", json!({"statuses": [s]}), None);
        st.counters.webhooks_queued += 1;
        *st.counters.webhooks_by_field.entry("messages".into()).or_default() += 1;
        sim.hooks.queue("messages", body);
    }
    drop(st);
    let contact = if addressed_by == "recipient" {
        json!({"input": customer.bsuid, "user_id": customer.bsuid})
    } else {
        json!({"input": req["to"], "wa_id": to, "user_id": customer.bsuid})
    };
    let body = json!({"messaging_product": "whatsapp", "contacts": [contact],
                      "messages": [{"id": wamid, "message_status": "accepted"}]});
    (StatusCode::OK, Json(body)).into_response()
}

/// How many `{{1}}` / `{{name}}` placeholders a template's BODY has.
fn placeholders(components: &Value) -> usize {
    let body = components
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
        .and_then(|c| c["text"].as_str())
        .unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        seen.insert(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    seen.len()
}

/// A template whose header is an IMAGE, VIDEO or DOCUMENT needs that media in the send's header
/// parameters; returns its media id (none when the template has no media header), or Meta's
/// complaint.
fn header_media(template: &Value, send: &Value) -> Result<Option<String>, String> {
    let of_type = |v: &Value, ty: &str| {
        v.as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(ty)))
            .cloned()
    };
    let format = of_type(template, "header")
        .and_then(|h| h["format"].as_str().map(str::to_ascii_lowercase))
        .filter(|f| matches!(f.as_str(), "image" | "video" | "document"));
    let given = of_type(send, "header").and_then(|h| h["parameters"].get(0).cloned());
    match (format, given) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("header: the template has no media header".into()),
        (Some(f), None) => Err(format!(
            "header: Format mismatch, expected {}, received UNKNOWN",
            f.to_uppercase()
        )),
        (Some(f), Some(p)) => {
            let ty = p["type"].as_str().unwrap_or_default().to_ascii_lowercase();
            if ty != f {
                return Err(format!(
                    "header: Format mismatch, expected {}, received {}",
                    f.to_uppercase(),
                    ty.to_uppercase()
                ));
            }
            match (p[&f]["id"].as_str(), p[&f]["link"].as_str()) {
                (Some(id), _) => Ok(Some(id.to_string())),
                (None, Some(_)) => Ok(None),
                (None, None) => Err(format!("header: {f} needs an id or a link")),
            }
        }
    }
}

/// How many parameters (positional, or named with `parameter_name`) a send gives the BODY.
fn body_parameters(components: &Value) -> usize {
    components
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
        .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
        .sum()
}
