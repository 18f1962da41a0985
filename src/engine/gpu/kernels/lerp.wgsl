// WiSE-FT merge of one tensor: out = wa·a + wb·b, with wa = f32(1 − α) and wb = f32(α) rounded on
// the host, each product rounded before the sum — the order of `wiseft::merge::lerp`, so the merged
// weights are bit for bit those of the host merge. Buffers are padded to 16 bytes, so vec4 is exact.
// `weight` is the storage type, f32 or f16 (prefixed by kernels.rs): f16 halves are widened, merged
// in f32 with the same rounding, and rounded once to f16 for storage.

struct Params {
    wa: f32,
    wb: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<weight>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<weight>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<weight>>;

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
    out[i] = vec4<weight>(x + y);
}
