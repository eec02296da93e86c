//! Media as Meta serves it: a media id answers `GET /{ver}/{media_id}` with a short-lived `url`,
//! `mime_type`, `sha256` (hex) and `file_size`; the url gives the bytes to the same bearer token.
//! Ids expire 7 simulated days after they were made. Customers' photos are generated PNGs.

use crate::{Sim, State};
use axum::extract::{Path, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long Meta lets a media id be downloaded.
pub const MEDIA_TTL_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone)]
pub struct MediaItem {
    pub mime: String,
    pub bytes: Arc<Vec<u8>>,
    pub sha256: String,
    pub created_at: i64,
}

impl State {
    /// Keeps `bytes` under a new media id and returns it.
    pub fn add_media(&mut self, mime: &str, bytes: Vec<u8>) -> (String, MediaItem) {
        let id = format!("{}", 1_000_000_000_000_000u64 + self.next_id);
        self.next_id += 1;
        let item = MediaItem {
            mime: mime.into(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: Arc::new(bytes),
            created_at: self.now,
        };
        self.media.insert(id.clone(), item.clone());
        (id, item)
    }
}

/// A small picture, different for each `seed`: a real PNG a webview can show.
pub fn photo(seed: u64, size: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size, size);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("png header");
        let mut data = Vec::with_capacity((size * size * 3) as usize);
        // A gradient with grain, like a photo: the grain keeps it from compressing to nothing.
        let mut noise = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for y in 0..size {
            for x in 0..size {
                let s = seed as u32;
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                let grain = (noise >> 58) as u8;
                data.extend_from_slice(&[
                    (((x * 255 / size.max(1)) ^ s) as u8).wrapping_add(grain),
                    (((y * 255 / size.max(1)).wrapping_add(s * 37)) as u8).wrapping_add(grain),
                    ((((x + y) * 127 / size.max(1)).wrapping_add(s * 91)) as u8).wrapping_add(grain),
                ]);
            }
        }
        w.write_image_data(&data).expect("png data");
    }
    out
}

/// The node answer for a media id, or `None` when `id` is no media.
pub(crate) fn node(sim: &Sim, id: &str, host: &str, ver: &str) -> Option<Response> {
    let st = sim.lock();
    let item = st.media.get(id)?.clone();
    let expired = st.now - item.created_at >= MEDIA_TTL_SECS;
    drop(st);
    if expired {
        return Some(crate::graph::fail(
            sim,
            StatusCode::NOT_FOUND,
            100,
            "Unsupported get request.",
            &format!("Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
        ));
    }
    let body = serde_json::json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{host}/_sim/media/{id}?ver={ver}&ext=1"),
        "mime_type": item.mime,
        "sha256": item.sha256,
        "file_size": item.bytes.len(),
        "id": id,
    });
    Some(axum::Json(body).into_response())
}

/// `GET` the bytes behind a media url, with the bearer token like Meta's lookaside host.
pub async fn bytes_get(AxState(sim): AxState<Arc<Sim>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !crate::graph::authorised(&sim, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let item = sim.lock().media.get(&id).cloned();
    let pace = sim.hooks.faults.lock().unwrap_or_else(|p| p.into_inner()).slow_media_ms;
    match item {
        Some(m) => {
            *sim.lock().counters.media_downloads.entry(id).or_default() += 1;
            let len = m.bytes.len();
            let body = if pace > 0 {
                axum::body::Body::new(Paced::new(m.bytes, pace))
            } else {
                // Shared, not copied: a 50 MB file served ten times is still one 50 MB buffer.
                axum::body::Body::from(bytes::Bytes::from_owner(Shared(m.bytes.clone())))
            };
            (
                [
                    (header::CONTENT_TYPE, m.mime),
                    (header::CONTENT_LENGTH, len.to_string()),
                ],
                body,
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Files for a test or a bench: `count` media ids of `size` bytes each (random, so they do not
/// compress), with their sha256.
#[derive(serde::Deserialize)]
pub struct NewMedia {
    count: usize,
    size: usize,
    #[serde(default = "octet")]
    mime: String,
}

fn octet() -> String {
    "application/pdf".into()
}

pub async fn media_post(AxState(sim): AxState<Arc<Sim>>, axum::Json(n): axum::Json<NewMedia>) -> Response {
    use rand::RngCore;
    let mut out = Vec::new();
    for _ in 0..n.count.min(10_000) {
        let mut bytes = vec![0u8; n.size.min(200 * 1024 * 1024)];
        sim.lock().rng.fill_bytes(&mut bytes);
        let (id, item) = sim.lock().add_media(&n.mime, bytes);
        out.push(serde_json::json!({"id": id, "sha256": item.sha256, "size": item.bytes.len()}));
    }
    axum::Json(serde_json::json!({"media": out})).into_response()
}

/// A body sent 64 KiB at a time with a pause between pieces: a slow line, so a test can stop a
/// client in the middle of a download.
struct Paced {
    bytes: Arc<Vec<u8>>,
    at: usize,
    pause: Duration,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Paced {
    fn new(bytes: Arc<Vec<u8>>, pause_ms: u64) -> Self {
        Paced {
            bytes,
            at: 0,
            pause: Duration::from_millis(pause_ms),
            sleep: None,
        }
    }
}

impl http_body::Body for Paced {
    type Data = bytes::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        if self.at >= self.bytes.len() {
            return Poll::Ready(None);
        }
        let pause = self.pause;
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        let end = (self.at + 64 * 1024).min(self.bytes.len());
        let piece = bytes::Bytes::copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Poll::Ready(Some(Ok(http_body::Frame::data(piece))))
    }
}

/// Meta's upload limits by type: (mime types, largest size in bytes).
pub const UPLOAD_LIMITS: &[(&[&str], usize)] = &[
    (&["image/jpeg", "image/png"], 5 * 1024 * 1024),
    (&["image/webp"], 500 * 1024),
    (
        &["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"],
        16 * 1024 * 1024,
    ),
    (&["video/mp4", "video/3gpp"], 16 * 1024 * 1024),
    (
        &[
            "text/plain",
            "application/pdf",
            "application/vnd.ms-powerpoint",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ],
        100 * 1024 * 1024,
    ),
];

/// `POST /{ver}/{phone_id}/media` (multipart: `messaging_product`, `type`, `file`): the file is
/// kept under a new media id, within Meta's type and size limits.
pub async fn upload(
    AxState(sim): AxState<Arc<Sim>>,
    Path((_ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    if !crate::graph::authorised(&sim, &headers) {
        return crate::graph::unauthorised(&sim);
    }
    if id != sim.lock().cfg.phone_number_id {
        return crate::graph::fail(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            "Unknown phone number id.",
        );
    }
    let (mut product, mut kind, mut file) = (None, None, None);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or_default() {
            "messaging_product" => product = field.text().await.ok(),
            "type" => kind = field.text().await.ok(),
            "file" => {
                let mime = field.content_type().map(str::to_string);
                file = field.bytes().await.ok().map(|b| (mime, b));
            }
            _ => {}
        }
    }
    let bad = |details: &str| crate::graph::fail(&sim, StatusCode::BAD_REQUEST, 131053, "Media upload error", details);
    if product.as_deref() != Some("whatsapp") {
        return bad("messaging_product must be \"whatsapp\".");
    }
    let Some((file_mime, bytes)) = file else {
        return bad("The file is missing.");
    };
    let mime = kind.or(file_mime).unwrap_or_default();
    let Some((_, max)) = UPLOAD_LIMITS.iter().find(|(types, _)| types.contains(&mime.as_str())) else {
        return bad(&format!("Unsupported file type {mime}."));
    };
    if bytes.len() > *max {
        return bad(&format!(
            "The file is {} bytes; the limit for {mime} is {max} bytes.",
            bytes.len()
        ));
    }
    let mut st = sim.lock();
    st.counters.media_uploads += 1;
    let (media_id, _) = st.add_media(&mime, bytes.to_vec());
    drop(st);
    axum::Json(serde_json::json!({"id": media_id})).into_response()
}
