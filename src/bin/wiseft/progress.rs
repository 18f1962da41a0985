//! Download progress of the CLI, on stderr.
//!
//! On a terminal: one bar per file with bytes, MB/s, ETA and the file name. Otherwise (a log, a
//! pipe, CI) no bar: one line when a file starts and one when it is done.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{DecimalBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wiseft::hub::download::Progress;

pub struct CliProgress {
    /// Draw bars (stderr is a terminal) or print lines.
    bars: bool,
    current: Option<Current>,
}

/// The file being downloaded.
struct Current {
    url: String,
    name: String,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    /// Bytes on disk (kept from before plus arrived).
    pos: u64,
    /// Bytes that arrived in this run, and since when.
    arrived: u64,
    since: Instant,
}

impl CliProgress {
    /// Bars if stderr is a terminal, lines otherwise.
    pub fn new() -> Self {
        Self::with_bars(std::io::stderr().is_terminal())
    }

    pub fn with_bars(bars: bool) -> Self {
        CliProgress { bars, current: None }
    }

    fn bar(&self, name: &str, total: Option<u64>, pos: u64) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{msg:<24} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta}"
        } else {
            "{spinner} {msg:<22} {decimal_bytes} {decimal_bytes_per_sec}"
        };
        let style =
            ProgressStyle::with_template(template).expect("valid progress template").progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(name.to_string());
        bar.set_position(pos);
        bar.reset_eta();
        bar
    }

    /// Leaves an unfinished bar (a failed download) on screen as it stands.
    fn abandon(&mut self) {
        if let Some(Current { bar: Some(bar), .. }) = self.current.take() {
            bar.abandon();
        }
    }
}

impl Default for CliProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CliProgress {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// The last path segment of a URL, without query.
fn file_name(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].rsplit('/').find(|s| !s.is_empty()).unwrap_or(url)
}

fn size(total: Option<u64>) -> String {
    total.map(|t| DecimalBytes(t).to_string()).unwrap_or_else(|| "size unknown".into())
}

impl Progress for CliProgress {
    fn start(&mut self, url: &str, total: Option<u64>, already: u64) {
        // The same file again: the download resumes after a broken connection.
        if let Some(cur) = self.current.as_mut().filter(|c| c.url == url) {
            cur.total = total;
            cur.pos = already;
            match &cur.bar {
                Some(bar) => {
                    if let Some(t) = total {
                        bar.set_length(t);
                    }
                    bar.set_position(already);
                    bar.reset_eta();
                }
                None => eprintln!(
                    "  connection broke; resuming {} at {} of {}",
                    cur.name,
                    DecimalBytes(already),
                    size(total)
                ),
            }
            return;
        }
        self.abandon();
        let name = file_name(url).to_string();
        let bar = if self.bars {
            Some(self.bar(&name, total, already))
        } else {
            let resume =
                if already > 0 { format!(", resuming at {}", DecimalBytes(already)) } else { String::new() };
            eprintln!("downloading {url} ({}{resume})", size(total));
            None
        };
        self.current = Some(Current {
            url: url.to_string(),
            name,
            bar,
            total,
            pos: already,
            arrived: 0,
            since: Instant::now(),
        });
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(cur) = self.current.as_mut() {
            cur.pos += bytes;
            cur.arrived += bytes;
            if let Some(bar) = &cur.bar {
                bar.inc(bytes);
            }
        }
    }

    fn finish(&mut self) {
        let Some(cur) = self.current.take() else {
            return;
        };
        match cur.bar {
            Some(bar) => bar.finish(),
            None => {
                let secs = cur.since.elapsed().as_secs_f64();
                let rate = if secs > 0.0 {
                    format!(", {}/s", DecimalBytes((cur.arrived as f64 / secs) as u64))
                } else {
                    String::new()
                };
                eprintln!("downloaded {} ({} in {secs:.1} s{rate})", cur.name, DecimalBytes(cur.pos));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            file_name("https://h.co/a/b/resolve/main/model.safetensors?download=true"),
            "model.safetensors"
        );
        assert_eq!(file_name("https://h.co/x/"), "x");
    }

    #[test]
    fn lines_mode_survives_any_call_order() {
        let mut p = CliProgress::with_bars(false);
        p.finish();
        p.advance(3);
        p.start("http://127.0.0.1:1/a/model.safetensors", Some(10), 0);
        p.advance(4);
        p.start("http://127.0.0.1:1/a/model.safetensors", Some(10), 4);
        p.advance(6);
        p.finish();
        p.start("http://127.0.0.1:1/a/config.json", None, 0);
    }
}
