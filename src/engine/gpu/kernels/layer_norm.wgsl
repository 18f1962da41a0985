// Layer norm over the last dimension, one workgroup per row: mean, then the variance of the
// centred values (two passes, as PyTorch), then (x − mean)/sqrt(var + eps)·weight + bias.

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

var<workgroup> red: array<f32, WG>;

fn sum_all(li: u32, v: f32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (li < s) {
            red[li] = red[li] + red[li + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

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
    let mean = sum_all(li, s) / f32(p.width);
    var q = 0.0;
    for (var c = li; c < p.width; c += WG) {
        let d = x[base + c] - mean;
        q += d * d;
    }
    let variance = sum_all(li, q) / f32(p.width);
    let inv = 1.0 / sqrt(variance + p.eps);
    for (var c = li; c < p.width; c += WG) {
        out[base + c] = (x[base + c] - mean) * inv * weight[c] + bias[c];
    }
}
