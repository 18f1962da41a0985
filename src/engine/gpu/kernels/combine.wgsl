// A merge recipe's tensor: out = w₀·base + Σₖ wₖ·inputₖ (k = 1 … n), the recipe's inputs packed
// one after the other in `inputs` (each `len4` vec4s long), so one dispatch reads all N of them
// whatever N is (WebGPU allows only 8 storage buffers per stage). When N inputs of a tensor would
// exceed one storage binding, the tensor is done in blocks of `len4` vec4s starting at `start4` of
// `base` and `out`, each block's inputs packed in a buffer of its own. Products rounded before each
// sum, summed in input order, inputs of weight 0 left out — as `wiseft::merge::mix::combine_into`
// does on the host.
// `weight` is the storage type, f32 or f16 (prefixed by kernels.rs); sums are in f32.

struct Params {
    n: u32,
    len4: u32,
    start4: u32,
    _pad1: u32,
    // w₀ … w₁₅: weight k is w[k / 4][k % 4] (uniform arrays have a 16-byte stride).
    w: array<vec4<f32>, 4>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> base: array<vec4<weight>>;
@group(0) @binding(2) var<storage, read> inputs: array<vec4<weight>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<weight>>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = (wg.x + wg.y * nwg.x) * 256u + li;
    if (i >= p.len4) {
        return;
    }
    var acc = p.w[0].x * vec4<f32>(base[p.start4 + i]);
    for (var k = 1u; k <= p.n; k = k + 1u) {
        // An input of weight 0 is not read, as the host's combine_into leaves it out: exact for
        // finite values (x + 0·v = x), and TIES's fine-tunes' own vectors, at 0 at its merged
        // point, then cost a λ change no bandwidth. The weight is a uniform: the branch is the
        // same for the whole dispatch.
        let wk = p.w[k / 4u][k % 4u];
        if (wk != 0.0) {
            acc = acc + wk * vec4<f32>(inputs[(k - 1u) * p.len4 + i]);
        }
    }
    out[p.start4 + i] = vec4<weight>(acc);
}
