// matmul.wgsl with vec4 loads along K, for K divisible by 4 (every real CLIP width). Same tiles,
// same epilogue: y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) (+ y). Prefixed with act_fns.wgsl.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
}

const TM: u32 = 32u;
const TN: u32 = 32u;
const TK: u32 = 32u;
const S: u32 = 33u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

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
    let k4 = p.k / 4u;
    var acc: array<vec4<f32>, 4>;
    let tiles = (p.k + TK - 1u) / TK;
    for (var t = 0u; t < tiles; t++) {
        let q0 = t * (TK / 4u);
        // 32 rows × 8 vec4 of each tile, 4 per thread.
        for (var e = 0u; e < 4u; e++) {
            let idx = e * 64u + li;
            let r = idx / 8u;
            let kq = idx % 8u;
            let gq = q0 + kq;
            var xv = vec4<f32>(0.0);
            if (row0 + r < p.m && gq < k4) {
                xv = x[(row0 + r) * k4 + gq];
            }
            var wv = vec4<f32>(0.0);
            if (col0 + r < p.n && gq < k4) {
                wv = w[(col0 + r) * k4 + gq];
            }
            let base = kq * 4u * S + r;
            xs[base] = xv.x;
            xs[base + S] = xv.y;
            xs[base + 2u * S] = xv.z;
            xs[base + 3u * S] = xv.w;
            ws[base] = wv.x;
            ws[base + S] = wv.y;
            ws[base + 2u * S] = wv.z;
            ws[base + 3u * S] = wv.w;
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
