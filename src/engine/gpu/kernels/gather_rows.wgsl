// Pooling: out[r, :] = x[index[r], :] — the class token of each image, or the end-of-text token of
// each prompt at the position computed on the host.

struct Params {
    rows: u32,
    width: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let e = (wg.x + wg.y * nwg.x) * 256u + li;
    if (e >= p.rows * p.width) {
        return;
    }
    let r = e / p.width;
    out[e] = x[index[r] * p.width + e % p.width];
}
