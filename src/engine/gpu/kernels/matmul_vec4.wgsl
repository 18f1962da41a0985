// matmul.wgsl with vec4 global loads, for K divisible by 4 (every real CLIP width). Same tiles,
// same epilogue: y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) (+ y). Prefixed with act_fns.wgsl and the
// weight storage type `weight` (f32, or f16 widened to f32 as it is staged: half the memory and
// bandwidth, still f32 accumulation).

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
// Row stride of the staged tiles in vec4: 8 along K plus one of padding, so that the 8 rows a
// quarter-warp reads (rows t, t+1, … t+7) fall in distinct banks.
const S: u32 = 9u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<weight>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> xs: array<vec4<f32>, 288>;
var<workgroup> ws: array<vec4<f32>, 288>;

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
        // 32 rows × 8 vec4 of each operand, 4 per thread; consecutive threads read consecutive vec4.
        for (var e = 0u; e < 4u; e++) {
            let idx = e * 64u + li;
            let r = idx / 8u;
            let kq = idx % 8u;
            let gq = q0 + kq;
            var xv = vec4<f32>(0.0);
            if (row0 + r < p.m && gq < k4) {
                xv = x[(row0 + r) * k4 + gq];
            }
            xs[r * S + kq] = xv;
            var wv = vec4<f32>(0.0);
            if (col0 + r < p.n && gq < k4) {
                wv = vec4<f32>(w[(col0 + r) * k4 + gq]);
            }
            ws[r * S + kq] = wv;
        }
        workgroupBarrier();
        for (var kq = 0u; kq < TK / 4u; kq++) {
            let a0 = xs[(lid.y) * S + kq];
            let a1 = xs[(lid.y + 8u) * S + kq];
            let a2 = xs[(lid.y + 16u) * S + kq];
            let a3 = xs[(lid.y + 24u) * S + kq];
            let b0 = ws[(lid.x) * S + kq];
            let b1 = ws[(lid.x + 8u) * S + kq];
            let b2 = ws[(lid.x + 16u) * S + kq];
            let b3 = ws[(lid.x + 24u) * S + kq];
            var b = vec4<f32>(b0.x, b1.x, b2.x, b3.x);
            acc[0] += a0.x * b;
            acc[1] += a1.x * b;
            acc[2] += a2.x * b;
            acc[3] += a3.x * b;
            b = vec4<f32>(b0.y, b1.y, b2.y, b3.y);
            acc[0] += a0.y * b;
            acc[1] += a1.y * b;
            acc[2] += a2.y * b;
            acc[3] += a3.y * b;
            b = vec4<f32>(b0.z, b1.z, b2.z, b3.z);
            acc[0] += a0.z * b;
            acc[1] += a1.z * b;
            acc[2] += a2.z * b;
            acc[3] += a3.z * b;
            b = vec4<f32>(b0.w, b1.w, b2.w, b3.w);
            acc[0] += a0.w * b;
            acc[1] += a1.w * b;
            acc[2] += a2.w * b;
            acc[3] += a3.w * b;
        }
        workgroupBarrier();
    }
    // Thread (x, y) holds rows y, y+8, y+16, y+24 and columns x, x+8, x+16, x+24 of the tile, so
    // neighbouring threads store neighbouring columns.
    let act = p.flags & 3u;
    let has_bias = (p.flags & 4u) != 0u;
    let accumulate = (p.flags & 8u) != 0u;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y + 8u * i;
        if (r >= p.m) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + lid.x + 8u * j;
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
