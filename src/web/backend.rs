//! Which compute back end the worker runs, and why: probes `navigator.gpu` in the worker and names
//! the adapter (a software rasteriser such as SwiftShader is called one, not "your GPU").

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::protocol::{AdapterInfo, Backend};
use crate::engine::choice::{self, Decision, Offer};
use crate::engine::{Device, Engine};

/// What the browser offers for WebGPU.
#[derive(Debug, Clone)]
pub struct GpuProbe {
    pub adapter: Option<AdapterInfo>,
    /// One line: why there is no adapter, or which one there is.
    pub note: String,
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn get_string(v: &JsValue, key: &str) -> String {
    get(v, key).as_string().unwrap_or_default()
}

/// Asks `navigator.gpu` for an adapter (without keeping it).
pub async fn probe(scope: &JsValue) -> GpuProbe {
    let gpu = get(&get(scope, "navigator"), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return GpuProbe { adapter: None, note: "navigator.gpu absent (no WebGPU in this browser or context)".into() };
    }
    let Ok(request) = get(&gpu, "requestAdapter").dyn_into::<Function>() else {
        return GpuProbe { adapter: None, note: "navigator.gpu has no requestAdapter()".into() };
    };
    let adapter = match request.call0(&gpu) {
        Ok(p) => match JsFuture::from(js_sys::Promise::from(p)).await {
            Ok(a) => a,
            Err(e) => return GpuProbe { adapter: None, note: format!("requestAdapter() failed: {}", super::fetch::error_text(&e)) },
        },
        Err(e) => return GpuProbe { adapter: None, note: format!("requestAdapter() failed: {}", super::fetch::error_text(&e)) },
    };
    if adapter.is_null() || adapter.is_undefined() {
        return GpuProbe { adapter: None, note: "navigator.gpu present, but no WebGPU adapter was granted".into() };
    }
    let info = get(&adapter, "info");
    let fallback = get(&info, "isFallbackAdapter").as_bool().or_else(|| get(&adapter, "isFallbackAdapter").as_bool()).unwrap_or(false);
    let (vendor, architecture, device, description) =
        (get_string(&info, "vendor"), get_string(&info, "architecture"), get_string(&info, "device"), get_string(&info, "description"));
    let software = fallback || choice::is_software_renderer(&format!("{vendor} {architecture} {device} {description}"));
    let adapter = AdapterInfo { vendor, architecture, device, description, software };
    let note = format!("WebGPU adapter: {}", describe_adapter(&adapter));
    GpuProbe { adapter: Some(adapter), note }
}

/// "SwiftShader (google) — a software renderer on the CPU, not a GPU", "NVIDIA GeForce RTX 4070 (nvidia, lovelace)".
pub fn describe_adapter(a: &AdapterInfo) -> String {
    let all = format!("{} {} {}", a.description, a.architecture, a.device).to_lowercase();
    let (name, rest): (String, Vec<&str>) = if all.contains("swiftshader") {
        ("SwiftShader".into(), vec![a.vendor.as_str()])
    } else if !a.description.is_empty() {
        (a.description.clone(), vec![a.vendor.as_str(), a.architecture.as_str()])
    } else {
        let parts: Vec<&str> = [a.vendor.as_str(), a.architecture.as_str(), a.device.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
        (if parts.is_empty() { "an unnamed adapter".into() } else { parts.join(" ") }, Vec::new())
    };
    let rest: Vec<&str> = rest.into_iter().filter(|s| !s.is_empty()).collect();
    let name = if rest.is_empty() { name } else { format!("{name} ({})", rest.join(", ")) };
    if a.software {
        format!("{name}, a software renderer on the CPU, not a GPU")
    } else {
        name
    }
}

/// What to build, by the one rule of [`choice::decide`]. `forced` is the page's `?backend=`: `gpu`
/// takes any adapter (SwiftShader included, as the tests do), `cpu` never asks for one.
pub fn decide(probe: &GpuProbe, forced: Option<Device>) -> Decision {
    let name = probe.adapter.as_ref().map(describe_adapter);
    let offer = probe.adapter.as_ref().zip(name.as_deref()).map(|(a, name)| Offer { name, software: a.software });
    choice::decide(forced.unwrap_or(Device::Auto), offer, &probe.note, "add backend=gpu to the address")
}

/// The back end report for the page once the engine exists. On the CPU it says how many threads
/// the engine runs on, and why (the badge's headline and its "why" line).
pub fn report(engine: &Engine, reason: String, probe: &GpuProbe) -> Backend {
    let threads = super::threads::current();
    let (name, reason) = match (engine.device(), &probe.adapter) {
        // The browser names the adapter better than wgpu can from inside WebGPU.
        (Device::Gpu, Some(a)) => (format!("GPU engine (WebGPU) on {}", describe_adapter(a)), reason),
        (Device::Gpu, None) => (engine.describe(), reason),
        _ => {
            let count = match threads.count {
                1 => "one thread".to_string(),
                n => format!("{n} threads"),
            };
            (format!("{} · WebAssembly SIMD, {count}", engine.describe()), format!("{reason}; {}", threads.note))
        }
    };
    Backend { kind: engine.device(), name, reason, adapter: probe.adapter.clone() }
}
