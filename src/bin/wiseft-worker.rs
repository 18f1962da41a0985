//! The page's Web Worker entry point (built for wasm32 by trunk, see index.html). Natively this
//! binary only says so.

#[cfg(target_arch = "wasm32")]
fn main() {
    wiseft::web::start_worker();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("wiseft-worker is the web page's worker: build it with `trunk build` (wasm32), not natively");
    std::process::exit(2);
}
