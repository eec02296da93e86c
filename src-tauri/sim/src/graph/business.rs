//! The number and account nodes, templates (list, create, review) and the once-only contact and
//! history syncs (`smb_app_data`).

use super::*;

#[derive(Deserialize)]
pub struct NodeQuery {
    fields: Option<String>,
}

pub async fn node_get(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    Query(q): Query<NodeQuery>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    if let Some(answer) = crate::media::node(&sim, &id, &host, &_ver) {
        return answer;
    }
    let st = sim.lock();
    if id != st.cfg.phone_number_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported get request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    let all = json!({
        "display_phone_number": st.cfg.display_number,
        "verified_name": st.cfg.verified_name,
        "is_on_biz_app": true,
        "platform_type": if st.partner_removed { "NOT_APPLICABLE" } else { "CLOUD_API" },
        "whatsapp_business_manager_messaging_limit": crate::limit_tier(st.cfg.messaging_limit),
        "throughput": {"level": if st.cfg.throughput >= 20 { "STANDARD" } else { "LIMITED" }, "messages_per_second": st.cfg.throughput},
    });
    let mut out = json!({"id": id});
    let fields = q.fields.unwrap_or_else(|| "display_phone_number,verified_name".into());
    for f in fields.split(',').map(str::trim) {
        if let Some(v) = all.get(f) {
            out[f] = v.clone();
        }
    }
    Json(out).into_response()
}

#[derive(Deserialize)]
pub struct Paging {
    limit: Option<usize>,
    after: Option<String>,
}

pub async fn templates_get(
    AxState(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(p): Query<Paging>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    if p.after.is_some() && next_page_breaks(&sim) {
        return Response::new(axum::body::Body::new(BrokenBody));
    }
    let st = sim.lock();
    if id != st.cfg.waba_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported get request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    let limit = p.limit.unwrap_or(25).clamp(1, 100);
    let start: usize = p.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
    let page: Vec<&Template> = st.templates.iter().skip(start).take(limit).collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < st.templates.len() {
        // Graph's `next` links are absolute and carry the access token in their query string.
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let token = &st.cfg.access_token;
        paging["next"] = json!(format!(
            "http://{host}/{ver}/{id}/message_templates?access_token={token}&limit={limit}&after={end}"
        ));
    }
    Json(json!({"data": page, "paging": paging})).into_response()
}

fn next_page_breaks(sim: &Sim) -> bool {
    use rand::Rng;
    let p = sim
        .hooks
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drop_next_page;
    let mut st = sim.lock();
    let hit = st.rng.random_bool(p.clamp(0.0, 1.0));
    if hit {
        *st.counters.faults_injected.entry("drop_next_page".into()).or_default() += 1;
    }
    hit
}

pub async fn templates_post(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "The request body is not valid JSON.",
        );
    };
    let name = req["name"].as_str().unwrap_or_default().to_string();
    let language = req["language"].as_str().unwrap_or_default().to_string();
    let category = req["category"].as_str().unwrap_or_default().to_uppercase();
    let mut st = sim.lock();
    if id != st.cfg.waba_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    let valid_name = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name || language.is_empty() || !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
        drop(st);
        return fail(&sim, StatusCode::BAD_REQUEST, 100, "Invalid parameter", "name (lowercase letters, digits, _), language and category (MARKETING, UTILITY, AUTHENTICATION) are required.");
    }
    if st.templates.iter().any(|t| t.name == name && t.language == language) {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Message template already exists with this name and language.",
        );
    }
    let tid = st.new_id("");
    let review_at = st.now + 60;
    st.templates.push(Template {
        id: tid.clone(),
        name,
        language,
        category: category.clone(),
        status: "PENDING".into(),
        components: req["components"].clone(),
        review_at: Some(review_at),
    });
    Json(json!({"id": tid, "status": "PENDING", "category": category})).into_response()
}

#[derive(Deserialize)]
pub struct SyncRequest {
    messaging_product: Option<String>,
    sync_type: Option<String>,
}

pub async fn smb_app_data(
    AxState(sim): Shared,
    Path((_ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&sim, &headers) {
        return unauthorised(&sim);
    }
    let Ok(req) = serde_json::from_slice::<SyncRequest>(&body) else {
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "The request body is not valid JSON.",
        );
    };
    sim.lock().counters.sync_requests += 1;
    let sync_type = req.sync_type.unwrap_or_default();
    if req.messaging_product.as_deref() != Some("whatsapp")
        || !["smb_app_state_sync", "history"].contains(&sync_type.as_str())
    {
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "sync_type must be smb_app_state_sync or history.",
        );
    }
    let mut st = sim.lock();
    if id != st.cfg.phone_number_id {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            &format!("Object with ID '{id}' does not exist."),
        );
    }
    if st.now > st.cfg.onboarded_at + 24 * 3600 {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Synchronization can only be requested within 24 hours of onboarding.",
        );
    }
    if st.syncs.contains_key(&sync_type) {
        drop(st);
        return fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            &format!("{sync_type} was already requested for this phone number; it can be requested only once."),
        );
    }
    let request_id = st.new_id("SYNC");
    st.syncs.insert(sync_type.clone(), request_id.clone());
    if sync_type == "history" {
        crate::scenario::history_after_request(sim.as_ref(), &mut st);
    } else {
        crate::scenario::contacts_after_request(sim.as_ref(), &mut st);
    }
    Json(json!({"messaging_product": "whatsapp", "request_id": request_id})).into_response()
}
