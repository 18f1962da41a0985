// Row softmax, one workgroup per row: max, then Σ exp(x − max), then exp(x − max)/Σ.
// reduce_max / reduce_sum: reduce.wgsl, put before this file.

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
    // The lowest finite f32, spelled as bits: Tint rejects the rounded decimal literal.
    var m = bitcast<f32>(0xff7fffffu);
    for (var c = li; c < p.width; c += WG) {
        m = max(m, x[base + c]);
    }
    m = reduce_max(li, m);
    var sum = 0.0;
    for (var c = li; c < p.width; c += WG) {
        sum += exp(x[base + c] - m);
    }
    let inv = 1.0 / reduce_sum(li, sum);
    for (var c = li; c < p.width; c += WG) {
        out[base + c] = exp(x[base + c] - m) * inv;
    }
}
