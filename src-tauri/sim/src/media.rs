//! Media as Meta serves it: a media id answers `GET /{ver}/{media_id}` with a short-lived `url`,
//! `mime_type`, `sha256` (hex) and `file_size`; the url gives the bytes to the same bearer token.
//! Ids expire 7 simulated days after they were made (1 hour for a No Storage number). Customers' media are generated: photos as
//! PNGs, voice notes as Ogg Opus (what the phone app records), documents as PDFs.

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
/// The same for numbers with No Storage.
pub const NO_STORAGE_TTL_SECS: i64 = 3_600;

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

/// A voice note of `secs` seconds as WhatsApp records one: Ogg Opus, mono, 48 kHz. A tone that
/// swells and fades (its pitch set by `seed`), so a player that "plays" silence is caught by ear
/// and by a decoder.
pub fn voice_note(seed: u64, secs: u32) -> Vec<u8> {
    use mousiki::{Application, Bitrate, Channels, Encoder};
    use ogg::writing::{PacketWriteEndInfo, PacketWriter};
    const RATE: u32 = 48_000;
    const FRAME: usize = 960; // 20 ms
                              // CELT only (`LowDelay`): its look-ahead is 2.5 ms, the pre-skip the header must announce.
    const PRE_SKIP: u16 = 120;
    let mut enc = Encoder::builder(RATE, Channels::Mono, Application::LowDelay)
        .bitrate(Bitrate::Bits(32_000))
        .build()
        .expect("opus encoder");
    let pitch = 330.0 + (seed % 7) as f64 * 55.0;
    let frames = (secs.clamp(1, 600) * RATE) as usize / FRAME;
    let serial = 0x436f_6578 ^ seed as u32;
    let mut out = Vec::new();
    let mut w = PacketWriter::new(&mut out);
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 1]); // version, one channel
    head.extend_from_slice(&PRE_SKIP.to_le_bytes());
    head.extend_from_slice(&RATE.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]); // no output gain, mapping family 0
    w.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)
        .expect("ogg head");
    let vendor = b"coexist-sim";
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    w.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)
        .expect("ogg tags");
    let mut packet = vec![0u8; 1500];
    let mut pcm = vec![0i16; FRAME];
    for f in 0..frames {
        for (i, s) in pcm.iter_mut().enumerate() {
            let t = (f * FRAME + i) as f64 / RATE as f64;
            let swell = (t * std::f64::consts::PI / 1.5).sin().abs();
            *s = (swell * 9_000.0 * (std::f64::consts::TAU * pitch * t).sin()) as i16;
        }
        let len = enc.encode(&pcm, &mut packet).expect("opus frame");
        let granule = ((f + 1) * FRAME) as u64 + PRE_SKIP as u64;
        let end = if f + 1 == frames {
            PacketWriteEndInfo::EndStream
        } else if (f + 1) % 50 == 0 {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        w.write_packet(packet[..len].to_vec(), serial, end, granule)
            .expect("ogg packet");
    }
    drop(w);
    out
}

/// A one-page PDF with a title and a few lines of text: a catalogue or an invoice a customer
/// might send. Written by hand because the format's smallest valid file is a few objects and a
/// cross-reference table with byte offsets.
pub fn pdf_document(title: &str, lines: &[&str]) -> Vec<u8> {
    // PDF strings escape `\`, `(` and `)`; anything outside ASCII becomes `?` (the base font is Latin).
    let esc = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '\\' | '(' | ')' => format!("\\{c}"),
                c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
                _ => "?".into(),
            })
            .collect()
    };
    let mut text = format!("BT /F1 20 Tf 56 780 Td ({}) Tj /F1 12 Tf", esc(title));
    for line in lines {
        text.push_str(&format!(" 0 -22 Td ({}) Tj", esc(line)));
    }
    text.push_str(" ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The node answer for a media id, or `None` when `id` is no media.
pub(crate) fn node(sim: &Sim, id: &str, host: &str, ver: &str) -> Option<Response> {
    let st = sim.lock();
    let item = st.media.get(id)?.clone();
    let ttl = if st.cfg.no_storage {
        NO_STORAGE_TTL_SECS
    } else {
        MEDIA_TTL_SECS
    };
    let expired = st.now - item.created_at >= ttl;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The voice note decodes to as many seconds of sound as asked, and not to silence. (The
    /// WebDriver demo plays it through WebKit's GStreamer, a decoder that did not make it.)
    #[test]
    fn a_voice_note_is_ogg_opus_that_decodes_to_sound() {
        let bytes = voice_note(3, 2);
        let mut reader = ogg::reading::PacketReader::new(std::io::Cursor::new(bytes));
        let head = reader.read_packet_expected().unwrap();
        assert!(head.data.starts_with(b"OpusHead"));
        let tags = reader.read_packet_expected().unwrap();
        assert!(tags.data.starts_with(b"OpusTags"));
        let mut dec = mousiki::Decoder::new(48_000, mousiki::Channels::Mono).unwrap();
        let (mut samples, mut energy, mut last_granule) = (0usize, 0u64, 0u64);
        let mut pcm = vec![0i16; 5760];
        while let Some(p) = reader.read_packet().unwrap() {
            let n = dec.decode(&p.data, &mut pcm, false).unwrap();
            samples += n;
            energy += pcm[..n].iter().map(|s| s.unsigned_abs() as u64).sum::<u64>();
            last_granule = p.absgp_page();
        }
        assert_eq!(samples, 2 * 48_000, "two seconds of 48 kHz audio");
        assert_eq!(last_granule, 2 * 48_000 + 120, "the end granule counts the pre-skip");
        let mean = energy / samples as u64;
        assert!(mean > 1_000, "a tone, not silence (mean level {mean})");
    }

    /// Every cross-reference entry points at its object, so a strict reader opens the file.
    #[test]
    fn a_pdf_has_a_true_cross_reference_table() {
        let bytes = pdf_document("Spring (new) menu", &["Line one", "Café"]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4\n") && text.ends_with("%%EOF\n"));
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[xref_at..].starts_with("xref\n0 6\n"));
        for (i, line) in text[xref_at..].lines().skip(3).take(5).enumerate() {
            let at: usize = line[..10].parse().unwrap();
            assert!(
                text[at..].starts_with(&format!("{} 0 obj", i + 1)),
                "object {} at {at}",
                i + 1
            );
        }
        assert!(text.contains("(Spring \\(new\\) menu) Tj") && text.contains("(Caf?) Tj"));
    }
}
