// Row L2 normalisation, one workgroup per row: x / ‖x‖ (rows of zeros stay zero).
// reduce_sum: reduce.wgsl, put before this file.

struct Params {
    rows: u32,
    width: u32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wg.x + wg.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.width;
    var s = 0.0;
    for (var c = li; c < p.width; c += WG) {
        let v = x[base + c];
        s += v * v;
    }
    let norm = sqrt(reduce_sum(li, s));
    let inv = select(0.0, 1.0 / norm, norm > 0.0);
    for (var c = li; c < p.width; c += WG) {
        out[base + c] = x[base + c] * inv;
    }
}
