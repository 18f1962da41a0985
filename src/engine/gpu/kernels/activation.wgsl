// Element-wise activation in place (the encoder fuses it into the matmul epilogue; this kernel runs
// it alone). Prefixed with act_fns.wgsl.

struct Params {
    n: u32,
    act: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = (wg.x + wg.y * nwg.x) * 256u + li;
    if (i >= p.n) {
        return;
    }
    x[i] = activate(x[i], p.act);
}
