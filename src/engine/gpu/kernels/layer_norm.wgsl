// Layer norm over the last dimension, one workgroup per row: mean, then the variance of the
// centred values (two passes, as PyTorch), then (x − mean)/sqrt(var + eps)·weight + bias.
// The sums use reduce_sum (reduce.wgsl, put before this file).

struct Params {
    rows: u32,
    width: u32,
    eps: f32,
    _pad0: u32,
}

const WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(128)
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
        s += x[base + c];
    }
    let mean = reduce_sum(li, s) / f32(p.width);
    var q = 0.0;
    for (var c = li; c < p.width; c += WG) {
        let d = x[base + c] - mean;
        q += d * d;
    }
    let variance = reduce_sum(li, q) / f32(p.width);
    let inv = 1.0 / sqrt(variance + p.eps);
    for (var c = li; c < p.width; c += WG) {
        out[base + c] = (x[base + c] - mean) * inv * weight[c] + bias[c];
    }
}
