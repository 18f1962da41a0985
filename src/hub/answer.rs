//! What a server's answer says about the file, beyond its status: whether it is still the file
//! a partial download was cut from (validators), whether it is a web page instead of weights,
//! and how long to wait for bytes before calling a connection stalled. Shared by the native
//! downloads (`download/`) and the page's (`web/fetch.rs`).

use std::time::Duration;

/// Environment variable: seconds without a byte before a connection counts as stalled.
pub const STALL_ENV: &str = "WISEFT_STALL_SECONDS";
/// The default stall timeout, in seconds (the page's too; its address's `stall=` changes it).
pub const STALL_SECS: f64 = 30.0;

/// How long a native request may wait for its answer, or for the next bytes of the body, before it is
/// abandoned and retried: `WISEFT_STALL_SECONDS` (a positive number, fractions allowed) or 30 s.
pub fn stall_timeout() -> Duration {
    let secs = std::env::var(STALL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .unwrap_or(STALL_SECS);
    Duration::from_secs_f64(secs)
}

/// `2 s`, `1.5 s`: a stall timeout as said in messages.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// What identifies one version of a file: a `.part` cut from one version must not be completed
/// with bytes of another (the file changed on the server between two attempts).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Validator {
    /// `ETag` (strong or weak, as sent).
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The whole file's size: `Content-Length` of a 200, the total of a 206's `Content-Range`.
    pub total: Option<u64>,
}

impl Validator {
    /// The `If-Range` value for a resume: a strong ETag, else `Last-Modified` (RFC 9110: a weak
    /// ETag cannot be used). With it a server that honours `If-Range` answers `200` (the whole
    /// new file) when the file changed, instead of splicing.
    pub fn if_range(&self) -> Option<&str> {
        match &self.etag {
            Some(e) if !e.starts_with("W/") => Some(e),
            _ => self.last_modified.as_deref(),
        }
    }

    /// Why `now` (a 206's answer) is not the file `self` was taken from; `None` when nothing
    /// that both answers say differs.
    pub fn changed(&self, now: &Validator) -> Option<String> {
        let differs = |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        if differs(&self.etag, &now.etag) {
            return Some(format!(
                "the file changed on the server (ETag {} before, {} now)",
                self.etag.as_deref().unwrap_or_default(),
                now.etag.as_deref().unwrap_or_default()
            ));
        }
        if let (Some(a), Some(b)) = (self.total, now.total) {
            if a != b {
                return Some(format!("the file changed on the server ({a} bytes before, {b} now)"));
            }
        }
        if differs(&self.last_modified, &now.last_modified) {
            return Some("the file changed on the server (Last-Modified differs)".into());
        }
        None
    }
}

/// Whether an answer is a web page where a checkpoint file (or its JSON config) was expected:
/// `Content-Type: text/html` (or XHTML), or first bytes that open an HTML document whatever the
/// type says. No weights file or config starts like that (safetensors starts with its header's
/// length, a PyTorch file with `PK`, a config with `{`).
pub fn is_html(content_type: Option<&str>, first: &[u8]) -> bool {
    let ty = content_type.unwrap_or("").trim().to_ascii_lowercase();
    if ty.starts_with("text/html") || ty.starts_with("application/xhtml") {
        return true;
    }
    let start = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(first);
    let start: Vec<u8> =
        start.iter().skip_while(|b| b.is_ascii_whitespace()).take(16).map(u8::to_ascii_lowercase).collect();
    [&b"<!doctype html"[..], b"<html", b"<head", b"<body", b"<!--"].iter().any(|p| start.starts_with(p))
}

/// The error message for a web page answered instead of a file: the type, the page's title if it
/// has one, its first bytes; the caller adds what to do where it runs (CLI or page).
pub fn html_message(content_type: Option<&str>, first: &[u8]) -> String {
    let text = String::from_utf8_lossy(&first[..first.len().min(4096)]);
    let title = {
        let lower = text.to_ascii_lowercase();
        lower.find("<title").and_then(|i| {
            let open = i + lower[i..].find('>')? + 1;
            let close = open + lower[open..].find("</title")?;
            Some(clean(&text[open..close], 80))
        })
    };
    let title = title.filter(|t| !t.is_empty()).map(|t| format!(", titled \"{t}\"")).unwrap_or_default();
    format!(
        "the server answered with a web page (Content-Type: {}{title}; first bytes: \"{}\") where a \
         checkpoint file was expected: probably a login page or a mirror's error page. Open the address \
         in a browser to see it",
        content_type.map(str::trim).filter(|t| !t.is_empty()).unwrap_or("none given"),
        clean(&text, 60)
    )
}

/// `s` on one line, control characters dropped, at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    let one_line: String =
        s.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).filter(|c| !c.is_control()).collect();
    let words = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if words.chars().count() > max {
        format!("{}…", words.chars().take(max).collect::<String>())
    } else {
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_told_from_weights() {
        assert!(is_html(Some("text/html; charset=utf-8"), b"\x08\0\0\0"));
        assert!(is_html(Some("application/octet-stream"), b"\n  <!DOCTYPE HTML><html>"));
        assert!(is_html(None, b"\xEF\xBB\xBF<html lang=en>"));
        assert!(!is_html(Some("application/octet-stream"), b"\x80\0\0\0\0\0\0\0{\"a\":"));
        assert!(!is_html(Some("application/json"), b"{\"model_type\": \"clip\"}"));
        assert!(!is_html(None, b"PK\x03\x04"));
    }

    #[test]
    fn the_message_gives_type_title_and_first_bytes() {
        let page = b"<!DOCTYPE html>\n<html><head><title>Sign in \xe2\x80\x93 Hub</title></head><body>";
        let msg = html_message(Some("text/html; charset=utf-8"), page);
        assert!(msg.contains("Content-Type: text/html; charset=utf-8"), "{msg}");
        assert!(msg.contains("titled \"Sign in – Hub\""), "{msg}");
        assert!(msg.contains("first bytes: \"<!DOCTYPE html> <html><head>"), "{msg}");
        assert!(msg.contains("login page") && msg.contains("Open the address"), "{msg}");
    }

    #[test]
    fn validators_tell_a_changed_file() {
        let a = Validator { etag: Some("\"1\"".into()), last_modified: None, total: Some(10) };
        assert_eq!(a.changed(&a.clone()), None);
        let b = Validator { etag: Some("\"2\"".into()), ..a.clone() };
        assert!(a.changed(&b).unwrap().contains("ETag \"1\" before, \"2\" now"));
        let c = Validator { etag: None, total: Some(11), ..a.clone() };
        assert!(a.changed(&c).unwrap().contains("10 bytes before, 11 now"));
        assert_eq!(a.if_range(), Some("\"1\""));
        let weak = Validator { etag: Some("W/\"1\"".into()), last_modified: Some("Tue".into()), total: None };
        assert_eq!(weak.if_range(), Some("Tue"));
    }
}
