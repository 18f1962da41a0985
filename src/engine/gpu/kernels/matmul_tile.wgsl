// The shared half of matmul.wgsl and matmul_vec4.wgsl (prefixed to both): y[M, N] =
// act(x[M, K] · w[N, K]ᵀ + bias) (+ y when accumulating: the residual add), in tiles of 32×32
// outputs per workgroup of 8×8 threads, 4×4 outputs per thread, K in steps of 32 staged in
// workgroup memory as vec4 along K, f32 accumulation; bias, activation and residual fused into
// the epilogue. The kernels differ only in how they load x and w into the staged tiles.

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
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// xs[r·S + q] = x[row0 + r, k0 + 4q … 4q+3]; ws likewise for w's rows (the output columns).
var<workgroup> xs: array<vec4<f32>, 288>;
var<workgroup> ws: array<vec4<f32>, 288>;

// Adds the product of the staged tiles to this thread's 4×4 outputs.
fn multiply_tiles(lid: vec3<u32>, acc_in: array<vec4<f32>, 4>) -> array<vec4<f32>, 4> {
    var acc = acc_in;
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
    return acc;
}

// Writes this thread's outputs with bias, activation and residual.
fn store_tile(row0: u32, col0: u32, lid: vec3<u32>, acc: array<vec4<f32>, 4>) {
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
