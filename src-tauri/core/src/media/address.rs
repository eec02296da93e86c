//! Where a stored file lives: `ab/abcdef…` under the media folder, named by its sha256. A path
//! read back from the database (or from a restored backup, which is untrusted input) is used
//! only when it is exactly that shape, so a crafted row can name nothing outside the folder.

use std::path::{Path, PathBuf};

/// The relative path of the file whose content hashes to `sha256` (lowercase hex).
pub fn content_address(sha256: &str) -> String {
    format!("{}/{}", &sha256[..2], sha256)
}

/// True when `rel` is a content address: two lowercase hex digits, a slash, and the 64-digit
/// hash starting with them. No absolute path, no `..`, no separator of another kind.
pub fn is_content_address(rel: &str) -> bool {
    let Some((dir, name)) = rel.split_once('/') else {
        return false;
    };
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    dir.len() == 2 && name.len() == 64 && hex(dir) && hex(name) && name.starts_with(dir)
}

/// The file for `rel` under `media`, or None when `rel` is not a content address.
pub fn content_path(media: &Path, rel: &str) -> Option<PathBuf> {
    is_content_address(rel).then(|| media.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_shape_is_an_address() {
        let sha = "ab".to_string() + &"0".repeat(62);
        assert!(is_content_address(&content_address(&sha)));
        for bad in [
            "/etc/passwd".to_string(),
            "../../etc/passwd".to_string(),
            format!("ab/../{sha}"),
            format!("cd/{sha}"),
            format!("AB/{}", sha.to_uppercase()),
            format!("ab\\{sha}"),
            format!("ab/{sha}/x"),
            String::new(),
        ] {
            assert!(!is_content_address(&bad), "{bad}");
        }
        assert_eq!(content_path(Path::new("/m"), "/etc/passwd"), None);
    }
}
