// lerp.wgsl for weights stored as f16: out = f16(wa·a + wb·b), computed in f32 from the widened
// halves (the rounding of `wiseft::merge::lerp`) and rounded once to f16 for storage.
// Buffers are padded to 16 bytes: whole vec4<f16> (8 bytes) throughout. Prefixed with `enable f16;`.

struct Params {
    wa: f32,
    wb: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f16>>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = (wg.x + wg.y * nwg.x) * 256u + li;
    if (i >= arrayLength(&out)) {
        return;
    }
    let x = p.wa * vec4<f32>(a[i]);
    let y = p.wb * vec4<f32>(b[i]);
    out[i] = vec4<f16>(x + y);
}
