//! The web page's engine side (wasm32 only): a Web Worker that downloads and caches the
//! checkpoints, merges them and classifies photos, driven by typed messages from the page.
//!
//! * [`protocol`] — the messages (page → worker [`protocol::Request`], worker → page [`protocol::Event`]).
//! * [`fetch`] — streamed downloads with progress, retries, cancellation, Cache Storage, local files.
//! * [`sink`] — where a download's bytes go (memory, the GPU, a hash, the sniffer).
//! * [`guard`] — hostile networks: stall timeouts, web pages instead of files, CORS refusals and redirect loops told apart.
//! * [`backend`] — which back end runs and why (WebGPU adapter probe).
//! * [`digest`] — SHA-256 of weights files as an export reads them again (its provenance).
//! * [`load`] — a checkpoint pair from URLs or local files to a built engine ([`error::LoadError`]).
//! * [`load_recipe`] — a zero-shot model and several fine-tunes to a recipe's merge inputs and engine.
//! * [`threads`] — the threaded build's CPU threads (a pool of Web Workers on one shared memory).
//! * [`worker`] — the thin adapter: messages in, [`crate::session::Session`] calls, events out.
//!
//! The page itself (`index.html`, `www/*.js`, `www/style.css`) only draws and posts messages.

pub mod backend;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod guard;
pub mod load;
pub mod load_recipe;
pub mod protocol;
pub mod sink;
pub mod stream;
pub mod threads;
pub mod worker;

pub use worker::start as start_worker;
