// y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) (+ y), for any M, N, K: the tile loads with scalar global
// reads (matmul_vec4.wgsl loads vec4 when K is divisible by 4). w is a PyTorch Linear weight
// [out, in], read as stored (no transpose on the host). Prefixed with act_fns.wgsl and
// matmul_tile.wgsl (the tile product and the epilogue).

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;

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
        // 32×32 values of each operand, 16 per thread; consecutive threads read consecutive k.
        for (var e = 0u; e < 16u; e++) {
            let idx = e * 64u + li;
            let r = idx / TK;
            let kk = idx % TK;
            let gk = k0 + kk;
            var xv = 0.0;
            if (row0 + r < p.m && gk < p.k) {
                xv = x[(row0 + r) * p.k + gk];
            }
            xs[r * S + kk / 4u][kk % 4u] = xv;
            var wv = 0.0;
            if (col0 + r < p.n && gk < p.k) {
                wv = w[(col0 + r) * p.k + gk];
            }
            ws[r * S + kk / 4u][kk % 4u] = wv;
        }
        workgroupBarrier();
        acc = multiply_tiles(lid, acc);
        workgroupBarrier();
    }
    store_tile(row0, col0, lid, acc);
}
