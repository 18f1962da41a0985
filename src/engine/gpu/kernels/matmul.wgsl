// y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) (+ y when accumulating: the residual add), for any M, N,
// K. w is a PyTorch Linear weight [out, in], read as stored (no transpose on the host).
// Tiles of 32×32 outputs per workgroup of 8×8 threads, 4×4 outputs per thread, K in steps of 32
// staged in workgroup memory, f32 accumulation; bias, activation and residual fused into the
// epilogue. Scalar loads, for any K (matmul_vec4.wgsl takes K divisible by 4). Prefixed with
// act_fns.wgsl.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    // bits 0–1: activation code; bit 2: add bias; bit 3: accumulate into y.
    flags: u32,
}

const TM: u32 = 32u;
const TN: u32 = 32u;
const TK: u32 = 32u;
// Row stride of the staged tiles: one more than the tile so that stores along K hit distinct banks.
const S: u32 = 33u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// xs[k·S + m], ws[k·S + n]: the tiles stored K-major, so a thread reads 4 consecutive rows/cols.
var<workgroup> xs: array<f32, 1056>;
var<workgroup> ws: array<f32, 1056>;

@compute @workgroup_size(8, 8)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = wg.y * TM;
    let col0 = wg.x * TN;
    var acc: array<vec4<f32>, 4>;
    let tiles = (p.k + TK - 1u) / TK;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * TK;
        // 32×32 values of each tile, 16 per thread; consecutive threads read consecutive k.
        for (var e = 0u; e < 16u; e++) {
            let idx = e * 64u + li;
            let r = idx / TK;
            let kk = idx % TK;
            let gk = k0 + kk;
            var xv = 0.0;
            if (row0 + r < p.m && gk < p.k) {
                xv = x[(row0 + r) * p.k + gk];
            }
            xs[kk * S + r] = xv;
            var wv = 0.0;
            if (col0 + r < p.n && gk < p.k) {
                wv = w[(col0 + r) * p.k + gk];
            }
            ws[kk * S + r] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let xb = kk * S + lid.y * 4u;
            let a = vec4<f32>(xs[xb], xs[xb + 1u], xs[xb + 2u], xs[xb + 3u]);
            let wb = kk * S + lid.x * 4u;
            let b = vec4<f32>(ws[wb], ws[wb + 1u], ws[wb + 2u], ws[wb + 3u]);
            acc[0] += a.x * b;
            acc[1] += a.y * b;
            acc[2] += a.z * b;
            acc[3] += a.w * b;
        }
        workgroupBarrier();
    }
    let act = p.flags & 3u;
    let has_bias = (p.flags & 4u) != 0u;
    let accumulate = (p.flags & 8u) != 0u;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if (r >= p.m) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + lid.x * 4u + j;
            if (c < p.n) {
                var v = acc[i][j];
                if (has_bias) {
                    v += bias[c];
                }
                v = activate(v, act);
                let o = r * p.n + c;
                if (accumulate) {
                    v = y[o] + v;
                }
                y[o] = v;
            }
        }
    }
}
