//! Class embeddings for the session's prompts. A large set (ImageNet's 1,000 classes × 80
//! templates = 80,000 prompts) is encoded in chunks, as the sweep runs its steps: an estimate of
//! the time before (prompts × the per-prompt time measured on this engine), a progress event and
//! a chance to cancel after each chunk.

use super::events::{Failure, Operation, SessionEvent};
use super::limits::{thousands, PROMPT_CHUNK};
use super::{Outlet, Prompts};
use crate::clip::templates;
use crate::pipeline::WiseFt;

/// Makes sure `model` has the class embeddings of `prompts` at its current point; `place` says
/// where for status lines.
pub(super) async fn ensure(model: &mut WiseFt, prompts: &Prompts, place: &str, out: &mut Outlet) -> Result<(), Failure> {
    let (labels, temps) = (&prompts.labels, &prompts.templates);
    let fail = |e| Failure::new(Operation::Labels, e);
    if model.has_classes(labels, temps) {
        return Ok(());
    }
    let n = prompts.count();
    let what = format!("{} prompts ({} labels × {} templates)", thousands(n as u64), thousands(labels.len() as u64), temps.len());
    if n <= PROMPT_CHUNK {
        out.status(format!("Encoding {what} at {place} …"));
        model.classes(labels, temps).await.map_err(fail)?;
        return Ok(());
    }
    out.cancel.reset();
    let all: Vec<String> = labels.iter().flat_map(|l| temps.iter().map(move |t| templates::fill(t, l))).collect();
    let mut embeds = Vec::with_capacity(n);
    let said = |per: f64| format!("Encoding {what} at {place}: about {} s at {:.2} ms per prompt on this engine; cancel stops it …", (per * n as f64).ceil(), per * 1e3);
    match out.per_prompt_s {
        Some(per) => out.status(said(per)),
        None => out.status(format!("Encoding {what} at {place}: timing the first {PROMPT_CHUNK} for an estimate …")),
    }
    let started = out.now.as_ref().map(|now| now());
    for (i, chunk) in all.chunks(PROMPT_CHUNK).enumerate() {
        let t0 = out.now.as_ref().map(|now| now());
        embeds.extend(model.encode_prompts(chunk).await.map_err(fail)?);
        if let (Some(now), Some(t0)) = (out.now.as_ref(), t0) {
            let first = out.per_prompt_s.is_none();
            out.per_prompt_s = Some((now() - t0).max(0.0) / chunk.len() as f64);
            if i == 0 && first {
                out.status(said(out.per_prompt_s.unwrap_or(0.0)));
            }
        }
        let done = embeds.len();
        let eta_s = match (out.now.as_ref(), started) {
            (Some(now), Some(s)) => Some((now() - s) / done as f64 * (n - done) as f64),
            _ => None,
        };
        out.emit(SessionEvent::PromptProgress { k: done as u32, n: n as u32, eta_s });
        (out.pause)().await;
        if out.cancel.is_set() && done < n {
            return Err(Failure::cancelled(Operation::Labels, format!("Encoding the prompts was cancelled after {} of {}.", thousands(done as u64), thousands(n as u64))));
        }
    }
    model.set_classes(labels, temps, &embeds).map_err(fail)
}
