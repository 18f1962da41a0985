//! Reading answers from hostile networks in the worker: a time limit on every wait (a stalled
//! connection), a look at the first bytes (a web page where a file was expected), and, when a
//! request fails below HTTP, two probes that tell a CORS refusal and a redirect loop from a
//! network that is down (the browser reports all three as the same `TypeError`).

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Response, WorkerGlobalScope};

use super::sink::Sink;
use super::protocol::Origin;
use crate::hub::answer::{html_message, is_html};

/// Passes the bytes on to `inner`, but first looks at the first chunk of each transfer: a web
/// page where a checkpoint file was expected stops the transfer with an error that says so.
pub struct Sniffed<'a> {
    pub inner: &'a mut dyn Sink,
    pub url: &'a str,
    pub content_type: Option<String>,
    pub first: bool,
}

impl Sink for Sniffed<'_> {
    fn start(&mut self, origin: Origin, total: Option<u64>, resume_at: usize) {
        self.first = true;
        self.inner.start(origin, total, resume_at);
    }

    fn chunk(&mut self, chunk: &Uint8Array) -> crate::Result<()> {
        if std::mem::take(&mut self.first) {
            let head = chunk.subarray(0, chunk.length().min(4096)).to_vec();
            if is_html(self.content_type.as_deref(), &head) {
                return Err(crate::Error::Download {
                    url: self.url.to_string(),
                    msg: format!(
                        "{}. A gated or private Hugging Face model needs a login the page cannot do; a mirror may lack the file. Download the file yourself and open it with \"Local files\"",
                        html_message(self.content_type.as_deref(), &head)
                    ),
                });
            }
        }
        self.inner.chunk(chunk)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn uploaded(&self) -> Option<u64> {
        self.inner.uploaded()
    }
}

/// `promise`'s value, or `None` when it has not settled after `ms` milliseconds.
pub async fn within(scope: &WorkerGlobalScope, promise: Promise, ms: f64) -> Result<Option<JsValue>, JsValue> {
    let marker: JsValue = Object::new().into();
    let mut timer = None;
    let timeout = Promise::new(&mut |resolve, _| {
        timer = scope.set_timeout_with_callback_and_timeout_and_arguments_1(&resolve, ms.min(i32::MAX as f64) as i32, &marker).ok();
    });
    let raced = JsFuture::from(Promise::race(&Array::of2(&promise, &timeout))).await;
    if let Some(t) = timer {
        scope.clear_timeout_with_handle(t);
    }
    let v = raced?;
    Ok((!Object::is(&v, &marker)).then_some(v))
}

/// `2 s`, `1.5 s`: a stall timeout as said in messages.
pub fn secs(ms: f64) -> String {
    crate::hub::answer::secs(std::time::Duration::from_secs_f64(ms / 1000.0))
}

/// The host of `url`, for messages.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// `bytes START-END/TOTAL` → (START, TOTAL if given); `bytes */TOTAL` → (None, TOTAL).
pub fn content_range(v: &str) -> Option<(Option<u64>, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = total.trim().parse().ok();
    let start = if range.trim() == "*" { None } else { Some(range.split_once('-')?.0.trim().parse().ok()?) };
    Some((start, total))
}

/// A signal for one attempt: aborted by its own controller (a stall) or by the load's (cancel).
/// Without `AbortSignal.any` (browsers before 2023), the load's signal alone.
pub fn attempt_signal(load: &AbortSignal) -> (Option<AbortController>, AbortSignal) {
    let Ok(own) = AbortController::new() else { return (None, load.clone()) };
    let ctor = Reflect::get(&js_sys::global(), &"AbortSignal".into()).ok();
    let any = ctor.as_ref().and_then(|c| Reflect::get(c, &"any".into()).ok()).and_then(|f| f.dyn_into::<Function>().ok());
    match (ctor, any) {
        (Some(c), Some(any)) => match any.call1(&c, &Array::of2(load, &own.signal())) {
            Ok(both) => (Some(own), both.unchecked_into()),
            Err(_) => (None, load.clone()),
        },
        _ => (None, load.clone()),
    }
}

/// After a request failed below HTTP: whether the host answered but refuses this page (CORS),
/// or the address redirects in a loop, as a message; `None` when neither is seen (a passing
/// failure, offline, the host down: worth retrying). Up to three HEAD requests, each within the
/// stall timeout: `cors` without following redirects (is the first hop readable?), `cors`
/// following them, and `no-cors` following them (does the host answer at all? Its answer is
/// opaque: the browser withholds it from the page, but it exists).
pub async fn why_unreadable(scope: &WorkerGlobalScope, signal: &AbortSignal, url: &str, stall_ms: f64) -> Option<String> {
    use web_sys::{RequestMode as Mode, RequestRedirect as Redirect};
    let head = |mode: Mode, redirect: Redirect| async move {
        let init = web_sys::RequestInit::new();
        init.set_method("HEAD");
        init.set_mode(mode);
        init.set_redirect(redirect);
        init.set_signal(Some(signal));
        let answer = within(scope, scope.fetch_with_str_and_init(url, &init), stall_ms).await;
        answer.ok().flatten().map(|v| v.unchecked_into::<Response>())
    };
    let cors = || {
        let host = host_of(url);
        format!(
            "{url}: {host} does not allow this page to read its files: it answers, but without the header Access-Control-Allow-Origin (CORS), so the browser keeps the file from the page. Download the file yourself (open the address in a new tab) and open it with \"Local files\"; or put it on a host that sends Access-Control-Allow-Origin (the Hugging Face hub does; on your own server, add the header). The command-line wiseft is not bound by CORS."
        )
    };
    match head(Mode::Cors, Redirect::Manual).await {
        // The first hop is readable and no redirect: the failure was passing.
        Some(r) if r.type_() != web_sys::ResponseType::Opaqueredirect => None,
        // A redirect: where does following it fail?
        Some(_) => {
            if head(Mode::Cors, Redirect::Follow).await.is_some() {
                None
            } else if head(Mode::NoCors, Redirect::Follow).await.is_some() {
                Some(cors())
            } else {
                Some(format!(
                    "{url}: the address redirects in a loop (or through more than 20 redirects), often to a login page or through a misconfigured mirror. Open it in a new tab to see where it leads; if the file downloads there, open it with \"Local files\"."
                ))
            }
        }
        None => head(Mode::NoCors, Redirect::Follow).await.map(|_| cors()),
    }
}
