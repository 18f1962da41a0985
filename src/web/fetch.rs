//! Getting checkpoint files into the worker: streamed `fetch` with progress, retries that resume
//! with a `Range` request, cancellation through an `AbortController`, the Cache Storage API (a
//! reload reads from it instead of the network), and local `File`s.
//!
//! Requests are plain GETs without custom headers, so a cross-origin host (the Hugging Face hub)
//! needs no CORS preflight. Only a retry after a cut connection adds `Range: bytes=N-`, a
//! CORS-safelisted header for a single range (`If-Range` is not safelisted, so instead a 206 whose
//! ETag, Last-Modified or total size differ from the first answer's starts the file over).
//!
//! Hostile networks: an attempt that gets no bytes for the stall timeout (30 s, the address's
//! `stall=`) is aborted and retried; a web page answered for a file is an error that says so; a
//! request that fails below HTTP is probed to tell a CORS refusal and a redirect loop from a
//! network that is down ([`super::guard`]).

use std::rc::Rc;

use js_sys::{Array, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Blob, BlobPropertyBag, Cache, Headers, ReadableStream, ReadableStreamDefaultReader, Response, ResponseInit, WorkerGlobalScope};

use super::error::LoadError;
use super::protocol::{Event, Level, Origin, Role};
use super::guard::{attempt_signal, content_range, secs, why_unreadable, within, Sniffed};
use super::sink::Sink;
use crate::hub::answer::Validator;
use crate::session::Cancel;

/// The Cache Storage bucket of downloaded checkpoint files (bump the suffix if the stored format changes).
pub const CACHE_NAME: &str = "wiseft-models-v1";
/// Header on a stored entry that records "this side file does not exist" (so a reload asks nobody).
const ABSENT_HEADER: &str = "x-wiseft-absent";
const MAX_ATTEMPTS: u32 = 3;
const PROGRESS_EVERY_MS: f64 = 100.0;

/// Why reading a stream stopped early.
enum StreamError {
    Js(JsValue),
    Sink(crate::Error),
    /// No bytes for the stall timeout (the stream was cancelled).
    Stalled,
}


/// Which file a progress report is about.
#[derive(Clone, Copy)]
struct Tag<'a> {
    role: Role,
    file: &'a str,
    url: &'a str,
    origin: Origin,
}

pub struct Got {
    pub bytes: Vec<u8>,
    pub origin: Origin,
}

/// One download session (one `load`): shares the abort signal and the cache.
pub struct Fetcher {
    scope: WorkerGlobalScope,
    cache: Option<Cache>,
    signal: AbortSignal,
    cancelled: Cancel,
    post: Rc<dyn Fn(Event)>,
    /// Milliseconds without a byte before an attempt is abandoned.
    stall_ms: f64,
}

pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn js_message(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    let name = Reflect::get(e, &"name".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    let msg = Reflect::get(e, &"message".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    match (name.is_empty(), msg.is_empty()) {
        (false, false) => format!("{name}: {msg}"),
        (true, false) => msg,
        (false, true) => name,
        (true, true) => format!("{e:?}"),
    }
}

fn js_error_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into()).ok().and_then(|v| v.as_string()).unwrap_or_default()
}

/// Opens the model cache; `None` where Cache Storage is unavailable (a page not served over https
/// or localhost, or storage disabled).
pub async fn open_cache(scope: &WorkerGlobalScope) -> Option<Cache> {
    let caches = scope.caches().ok()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok().map(JsCast::unchecked_into)
}

/// Resolves after `ms` milliseconds.
pub async fn sleep(scope: &WorkerGlobalScope, ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// (usage, quota) in bytes from `navigator.storage.estimate()`.
pub async fn storage_estimate(scope: &WorkerGlobalScope) -> Option<(f64, f64)> {
    let nav = Reflect::get(scope, &"navigator".into()).ok()?;
    let storage = Reflect::get(&nav, &"storage".into()).ok().filter(|v| !v.is_undefined())?;
    let storage: web_sys::StorageManager = storage.unchecked_into();
    let est = JsFuture::from(storage.estimate().ok()?).await.ok()?;
    let usage = Reflect::get(&est, &"usage".into()).ok()?.as_f64()?;
    let quota = Reflect::get(&est, &"quota".into()).ok()?.as_f64()?;
    Some((usage, quota))
}

/// Those of `urls` that are stored (as a file, not as "absent").
pub async fn cached(scope: &WorkerGlobalScope, urls: &[String]) -> Vec<String> {
    let Some(cache) = open_cache(scope).await else { return Vec::new() };
    let mut out = Vec::new();
    for url in urls {
        if let Ok(found) = JsFuture::from(cache.match_with_str(url)).await {
            if let Ok(resp) = found.dyn_into::<Response>() {
                if resp.headers().get(ABSENT_HEADER).ok().flatten().is_none() {
                    out.push(url.clone());
                }
            }
        }
    }
    out
}

/// Deletes the model cache; returns how many entries it held.
pub async fn clear_cache(scope: &WorkerGlobalScope) -> Result<u32, String> {
    let caches = scope.caches().map_err(|e| format!("Cache Storage is unavailable here: {}", js_message(&e)))?;
    let entries = match JsFuture::from(caches.open(CACHE_NAME)).await {
        Ok(cache) => {
            let cache: Cache = cache.unchecked_into();
            match JsFuture::from(cache.keys()).await {
                Ok(keys) => Array::from(&keys).length(),
                Err(_) => 0,
            }
        }
        Err(_) => 0,
    };
    JsFuture::from(caches.delete(CACHE_NAME)).await.map_err(|e| js_message(&e))?;
    Ok(entries)
}

/// Reads a stream to its end into `sink`, calling `on_chunk(received so far, uploaded)` after each
/// chunk; with `stall` (the scope, milliseconds), a read that gets nothing for that long cancels
/// the stream.
async fn read_stream(
    stream: ReadableStream,
    sink: &mut dyn Sink,
    mut on_chunk: impl FnMut(usize, Option<u64>),
    stall: Option<(&WorkerGlobalScope, f64)>,
) -> Result<(), StreamError> {
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let step = match stall {
            Some((scope, ms)) => match within(scope, reader.read(), ms).await.map_err(StreamError::Js)? {
                Some(step) => step,
                None => {
                    let _ = reader.cancel();
                    return Err(StreamError::Stalled);
                }
            },
            None => JsFuture::from(reader.read()).await.map_err(StreamError::Js)?,
        };
        if Reflect::get(&step, &"done".into()).map_err(StreamError::Js)?.as_bool().unwrap_or(false) {
            return Ok(());
        }
        let chunk: Uint8Array = Reflect::get(&step, &"value".into()).map_err(StreamError::Js)?.unchecked_into();
        if let Err(e) = sink.chunk(&chunk) {
            let _ = reader.cancel();
            return Err(StreamError::Sink(e));
        }
        on_chunk(sink.len(), sink.uploaded());
    }
}

impl Fetcher {
    pub fn new(scope: WorkerGlobalScope, cache: Option<Cache>, signal: AbortSignal, cancelled: Cancel, post: Rc<dyn Fn(Event)>, stall_ms: f64) -> Self {
        Self { scope, cache, signal, cancelled, post, stall_ms }
    }

    pub fn has_cache(&self) -> bool {
        self.cache.is_some()
    }

    fn check_cancel(&self) -> Result<(), LoadError> {
        if self.cancelled.is_set() {
            Err(LoadError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A progress reporter for one file that posts at most every 100 ms (and always the last).
    fn progress<'a>(&'a self, tag: Tag<'a>, total: Option<u64>, attempt: u32, started: f64) -> impl FnMut(usize, Option<u64>, bool) + 'a {
        let mut last = f64::NEG_INFINITY;
        move |loaded: usize, uploaded: Option<u64>, done: bool| {
            let now = js_sys::Date::now();
            if done || now - last >= PROGRESS_EVERY_MS {
                last = now;
                (self.post)(Event::Progress {
                    role: tag.role,
                    file: tag.file.to_string(),
                    url: tag.url.to_string(),
                    origin: tag.origin,
                    loaded: loaded as u64,
                    total,
                    uploaded,
                    elapsed_ms: now - started,
                    attempt,
                    done,
                });
            }
        }
    }

    /// The file at `url` into memory: from the cache when stored there, else downloaded.
    /// `Ok(None)`: the file does not exist (HTTP 404/410, or remembered as absent).
    pub async fn get(&self, url: &str, role: Role, file: &str) -> Result<Option<Got>, LoadError> {
        let mut bytes = Vec::new();
        Ok(self.get_into(url, role, file, &mut bytes).await?.map(|origin| Got { bytes, origin }))
    }

    /// The file at `url` into `sink` (from the cache when stored there, else downloaded); its origin,
    /// or `None` when the file does not exist.
    pub async fn get_into(&self, url: &str, role: Role, file: &str, sink: &mut dyn Sink) -> Result<Option<Origin>, LoadError> {
        self.check_cancel()?;
        match self.read_cached(url, role, file, sink).await? {
            Some(true) => return Ok(Some(Origin::Cache)),
            Some(false) => return Ok(None),
            None => {}
        }
        match self.download(url, role, file, sink).await {
            Ok(()) => Ok(Some(Origin::Network)),
            Err(LoadError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `Some(true)`: read from the cache into `sink`; `Some(false)`: stored as absent; `None`: not
    /// in the cache (or a damaged entry, now forgotten).
    async fn read_cached(&self, url: &str, role: Role, file: &str, sink: &mut dyn Sink) -> Result<Option<bool>, LoadError> {
        let Some(cache) = &self.cache else { return Ok(None) };
        let Ok(found) = JsFuture::from(cache.match_with_str(url)).await else { return Ok(None) };
        if found.is_undefined() || found.is_null() {
            return Ok(None);
        }
        let resp: Response = found.unchecked_into();
        if resp.headers().get(ABSENT_HEADER).ok().flatten().is_some() {
            return Ok(Some(false));
        }
        let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
        let Some(body) = resp.body() else { return Ok(None) };
        sink.start(Origin::Cache, total, 0);
        let started = js_sys::Date::now();
        let mut report = self.progress(Tag { role, file, url, origin: Origin::Cache }, total, 1, started);
        match read_stream(body, sink, |n, up| report(n, up, false), None).await {
            Ok(()) if total.is_none_or(|t| t == sink.len() as u64) => {
                report(sink.len(), sink.uploaded(), true);
                Ok(Some(true))
            }
            Err(StreamError::Sink(e)) => {
                // Stored, but not a usable checkpoint: forget it so that the next try downloads.
                self.forget(url).await;
                Err(LoadError::Unusable(e))
            }
            _ => {
                self.check_cancel()?;
                // A damaged entry: forget it and download again.
                self.forget(url).await;
                Ok(None)
            }
        }
    }

    /// Removes `url` from the cache (a stored file that turned out unusable).
    pub async fn forget(&self, url: &str) {
        if let Some(cache) = &self.cache {
            let _ = JsFuture::from(cache.delete_with_str(url)).await;
        }
    }

    fn request(&self, url: &str, offset: usize, signal: &AbortSignal) -> Result<Promise, JsValue> {
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        init.set_mode(web_sys::RequestMode::Cors);
        init.set_signal(Some(signal));
        if offset > 0 {
            let headers = Headers::new()?;
            headers.set("Range", &format!("bytes={offset}-"))?;
            init.set_headers(&headers);
        }
        Ok(self.scope.fetch_with_str_and_init(url, &init))
    }

    /// Downloads `url` with up to [`MAX_ATTEMPTS`] attempts; a retry after a cut connection or a
    /// stall resumes where it stopped when the server honours `Range` (and the file is the same).
    async fn download(&self, url: &str, role: Role, file: &str, sink: &mut dyn Sink) -> Result<(), LoadError> {
        let mut received = 0usize;
        let mut last_problem = String::new();
        let mut network_error = false;
        let mut stalled = false;
        // The version of the file the bytes in `sink` belong to, and where each attempt ended.
        let mut version: Option<Validator> = None;
        let mut ends: Vec<(usize, Option<u64>)> = Vec::new();
        let started = js_sys::Date::now();
        let stall = secs(self.stall_ms);
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                (self.post)(Event::Notice {
                    level: Level::Warn,
                    text: format!("{file} ({url}): {last_problem}; retrying (attempt {attempt} of {MAX_ATTEMPTS})"),
                    key: Some(format!("retry {url}")),
                });
                sleep(&self.scope, 500 * (attempt as i32 - 1)).await;
                self.check_cancel()?;
            }
            let offset = received;
            let (own, signal) = attempt_signal(&self.signal);
            let abort = || {
                if let Some(c) = &own {
                    c.abort();
                }
            };
            let answer = match self.request(url, offset, &signal) {
                Ok(p) => within(&self.scope, p, self.stall_ms).await,
                Err(e) => Err(e),
            };
            let resp: Response = match answer {
                Ok(Some(r)) => r.unchecked_into(),
                Ok(None) => {
                    abort();
                    stalled = true;
                    network_error = false;
                    last_problem = format!("no answer for {stall} (the connection stalled)");
                    continue;
                }
                Err(e) => {
                    self.check_cancel()?;
                    stalled = false;
                    if let Some(why) = why_unreadable(&self.scope, &self.signal, url, self.stall_ms).await {
                        return Err(LoadError::Failed(why));
                    }
                    self.check_cancel()?;
                    network_error = true;
                    last_problem = format!("the request failed ({})", js_message(&e));
                    continue;
                }
            };
            (network_error, stalled) = (false, false);
            let status = resp.status();
            let header = |name: &str| resp.headers().get(name).ok().flatten();
            let length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
            let range = header("content-range").and_then(|v| content_range(&v));
            let total = match status {
                200 => length,
                206 if offset > 0 => {
                    if range.is_some_and(|(start, _)| start != Some(offset as u64)) {
                        // Not the bytes asked for: start over.
                        let _ = resp.body().map(|b| b.cancel());
                        received = 0;
                        version = None;
                        last_problem = "the server resumed at another byte than asked".into();
                        continue;
                    }
                    range.and_then(|(_, t)| t).or(length.map(|l| l + offset as u64))
                }
                416 if offset > 0 => {
                    if range.and_then(|(_, t)| t) == Some(offset as u64) {
                        // Everything was there already (a Content-Length that promised more).
                        let mut report = self.progress(Tag { role, file, url, origin: Origin::Network }, Some(offset as u64), attempt, started);
                        report(received, sink.uploaded(), true);
                        return Ok(());
                    }
                    received = 0;
                    version = None;
                    last_problem = "the server has fewer bytes than were received".into();
                    continue;
                }
                404 | 410 => return Err(LoadError::NotFound { url: url.to_string(), status }),
                401 | 403 => {
                    return Err(LoadError::Failed(format!(
                        "{url}: HTTP {status} {}: access denied. A gated or private Hugging Face repository needs a login the page cannot do: download the file yourself and open it with \"Local files\".",
                        resp.status_text()
                    )))
                }
                408 | 429 | 500..=599 => {
                    last_problem = format!("HTTP {status} {}", resp.status_text());
                    continue;
                }
                _ => {
                    return Err(LoadError::Failed(format!(
                        "{url}: HTTP {status} {}: the server did not send the file. Check the address, or download the file and open it with \"Local files\".",
                        resp.status_text()
                    )))
                }
            };
            let now = Validator { etag: header("etag"), last_modified: header("last-modified"), total };
            if status == 206 {
                if let Some(why) = version.as_ref().and_then(|v| v.changed(&now)) {
                    // A resume must not splice two versions: ask for the whole new file.
                    let _ = resp.body().map(|b| b.cancel());
                    received = 0;
                    version = None;
                    last_problem = format!("{why}: starting over");
                    continue;
                }
            }
            version = Some(now);
            let Some(body) = resp.body() else {
                last_problem = "the response had no body".into();
                continue;
            };
            // A 200 starts over (the server ignored Range, or this is the first attempt).
            let mut sniffed = Sniffed { inner: &mut *sink, url, content_type: header("content-type"), first: true };
            sniffed.start(Origin::Network, total, if status == 206 { offset } else { 0 });
            let mut report = self.progress(Tag { role, file, url, origin: Origin::Network }, total, attempt, started);
            let read = read_stream(body, &mut sniffed, |n, up| report(n, up, false), Some((&self.scope, self.stall_ms))).await;
            received = sink.len();
            if !matches!(read, Err(StreamError::Stalled)) {
                ends.push((received, total));
            }
            self.check_cancel()?;
            match (read, total) {
                (Err(StreamError::Sink(e)), _) => return Err(LoadError::Unusable(e)),
                (Err(StreamError::Stalled), _) => {
                    abort();
                    stalled = true;
                    last_problem = format!(
                        "no bytes arrived for {stall} after {}{} (the connection stalled)",
                        mb(received as u64),
                        total.map(|t| format!(" of {}", mb(t))).unwrap_or_default()
                    );
                }
                (Ok(()), Some(t)) if (received as u64) < t => {
                    last_problem = format!("the download was cut after {} of {}", mb(received as u64), mb(t));
                }
                (Ok(()), _) => {
                    report(received, sink.uploaded(), true);
                    return Ok(());
                }
                (Err(StreamError::Js(e)), _) => {
                    last_problem = format!(
                        "the connection broke after {}{} ({})",
                        mb(received as u64),
                        total.map(|t| format!(" of {}", mb(t))).unwrap_or_default(),
                        js_message(&e)
                    );
                }
            }
        }
        if let Some(&(end, Some(t))) = ends.first() {
            if ends.len() == MAX_ATTEMPTS as usize && (end as u64) < t && ends.iter().all(|&e| e == (end, Some(t))) {
                return Err(LoadError::Failed(format!(
                    "{url}: every one of {MAX_ATTEMPTS} attempts ended after {end} bytes although the server announced {t} bytes (Content-Length) — gave up after {MAX_ATTEMPTS} attempts. The connection broke at the same byte each time: the Content-Length looks wrong (a broken server), or a proxy cuts the file there. Check the file's size where it is published, or download it with another tool and open it with \"Local files\"."
                )));
            }
        }
        let advice = if stalled {
            format!("The server stopped sending for {stall} each time. Press Load to try again later; on a slow link let the page wait longer by adding stall=SECONDS to the address (e.g. stall=120), or download the file with another tool and open it with \"Local files\".")
        } else if network_error {
            "The network request itself failed: you may be offline or the host is down. Open the address in a new tab to check it; if it downloads there, save the file and open it with \"Local files\".".to_string()
        } else {
            "Check the connection and press Load again (the cache keeps nothing of a broken download), or download the file with another tool and open it with \"Local files\".".to_string()
        };
        Err(LoadError::Failed(format!("{url}: {last_problem} — gave up after {MAX_ATTEMPTS} attempts. {advice}")))
    }

    /// Stores a downloaded file; `Err` carries a message for a notice (quota exceeded, …).
    pub async fn store(&self, url: &str, bytes: &[u8]) -> Result<(), String> {
        if self.cache.is_none() {
            return Ok(());
        }
        let bag = octet_stream();
        // The threaded build's memory is a SharedArrayBuffer, which a Blob refuses to read: the
        // bytes go through an unshared copy there.
        #[cfg(target_feature = "atomics")]
        let view = {
            let copy = Uint8Array::new_with_length(bytes.len() as u32);
            copy.copy_from(bytes);
            copy
        };
        // SAFETY: the view is consumed by the Blob constructor (which copies) before anything can
        // allocate in wasm memory and move it (hence the options are made first).
        #[cfg(not(target_feature = "atomics"))]
        let view = unsafe { Uint8Array::view(bytes) };
        let blob = Blob::new_with_u8_array_sequence_and_options(&Array::of1(&view), &bag).map_err(|e| js_message(&e))?;
        self.store_blob(url, &blob, bytes.len()).await
    }

    /// Stores a file received as a list of chunks (JavaScript `Uint8Array`s, outside wasm memory).
    pub async fn store_parts(&self, url: &str, parts: &Array, len: usize) -> Result<(), String> {
        if self.cache.is_none() {
            return Ok(());
        }
        let blob = Blob::new_with_u8_array_sequence_and_options(parts, &octet_stream()).map_err(|e| js_message(&e))?;
        self.store_blob(url, &blob, len).await
    }

    async fn store_blob(&self, url: &str, blob: &Blob, len: usize) -> Result<(), String> {
        let Some(cache) = &self.cache else { return Ok(()) };
        let headers = Headers::new().map_err(|e| js_message(&e))?;
        let _ = headers.set("content-length", &len.to_string());
        let _ = headers.set("content-type", "application/octet-stream");
        let init = ResponseInit::new();
        init.set_headers(&headers);
        let resp = Response::new_with_opt_blob_and_init(Some(blob), &init).map_err(|e| js_message(&e))?;
        self.put(cache, url, &resp, len as u64).await
    }

    /// Remembers that `url` does not exist.
    pub async fn store_absent(&self, url: &str) {
        let Some(cache) = &self.cache else { return };
        let Ok(headers) = Headers::new() else { return };
        let _ = headers.set(ABSENT_HEADER, "1");
        let init = ResponseInit::new();
        init.set_headers(&headers);
        if let Ok(resp) = Response::new_with_opt_str_and_init(Some(""), &init) {
            let _ = self.put(cache, url, &resp, 0).await;
        }
    }

    async fn put(&self, cache: &Cache, url: &str, resp: &Response, size: u64) -> Result<(), String> {
        match JsFuture::from(cache.put_with_str(url, resp)).await {
            Ok(_) => Ok(()),
            Err(e) if js_error_name(&e) == "QuotaExceededError" => {
                // The estimate is shown only when it explains the refusal (browsers may report a
                // quota larger than the one they enforce for this site).
                let room = match storage_estimate(&self.scope).await {
                    Some((usage, quota)) if usage + size as f64 > quota => {
                        format!(" ({} used of {} allowed)", mb(usage as u64), mb(quota as u64))
                    }
                    _ => String::new(),
                };
                Err(format!(
                    "{url} was not kept for next time: the browser's storage quota is exceeded{room} and the file needs {}. Press \"Clear downloaded models\" or free disk space; everything still works, but a reload downloads it again.",
                    mb(size)
                ))
            }
            Err(e) => Err(format!("{url} was not kept for next time: {}", js_message(&e))),
        }
    }

    /// Reads a local file (a `File` from the picker or a drop) into memory, with progress.
    pub async fn read_file(&self, file: &web_sys::File, role: Role) -> Result<Got, LoadError> {
        let mut bytes = Vec::new();
        self.read_file_into(file, role, &mut bytes).await?;
        Ok(Got { bytes, origin: Origin::Local })
    }

    /// Reads a local file into `sink`, with progress.
    pub async fn read_file_into(&self, file: &web_sys::File, role: Role, sink: &mut dyn Sink) -> Result<(), LoadError> {
        self.check_cancel()?;
        let name = file.name();
        let total = file.size() as u64;
        sink.start(Origin::Local, Some(total), 0);
        let started = js_sys::Date::now();
        let mut report = self.progress(Tag { role, file: &name, url: &name, origin: Origin::Local }, Some(total), 1, started);
        match read_stream(file.stream(), sink, |n, up| report(n, up, false), None).await {
            Ok(()) => {
                report(sink.len(), sink.uploaded(), true);
                Ok(())
            }
            Err(StreamError::Sink(e)) => Err(LoadError::Unusable(e)),
            Err(StreamError::Js(e)) => Err(LoadError::Failed(format!("{name}: could not read the local file ({})", js_message(&e)))),
            Err(StreamError::Stalled) => unreachable!("local files are read without a stall timeout"),
        }
    }
}

fn octet_stream() -> BlobPropertyBag {
    let bag = BlobPropertyBag::new();
    bag.set_type("application/octet-stream");
    bag
}

/// Reads a whole `Blob` (a photo) into memory.
pub async fn read_blob(blob: &Blob) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(blob.array_buffer()).await.map_err(|e| js_message(&e))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

pub fn error_text(e: &JsValue) -> String {
    js_message(e)
}
