//! Redaction of secret values from text that leaves the cluster (setup-step output going to the
//! audit log and logs), and bounding such text.

/// What replaces a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every occurrence of each secret replaced. Very short values are skipped: they
/// would shred ordinary text and cannot be secrets the host generated.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        out = out.replace(secret, REDACTED);
    }
    out
}

/// The last `limit` bytes of `text` (on a character boundary), marked when cut.
pub fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_everywhere() {
        let out = redact(
            "user=admin pass=S3cretValue1 again S3cretValue1",
            &["S3cretValue1", "ab"],
        );
        assert_eq!(out, "user=admin pass=[REDACTED] again [REDACTED]");
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("short", 10), "short");
        assert_eq!(tail("abcdéf", 3), "…éf");
    }
}
