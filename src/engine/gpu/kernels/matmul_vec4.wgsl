// matmul.wgsl with vec4 global loads, for K divisible by 4 (every real CLIP width). Prefixed with
// act_fns.wgsl, matmul_tile.wgsl (the tile product and the epilogue) and the weight storage type
// `weight` (f32, or f16 widened to f32 as it is staged: half the memory and
// bandwidth, still f32 accumulation).

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<weight>>;

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
        acc = multiply_tiles(lid, acc);
        workgroupBarrier();
    }
    store_tile(row0, col0, lid, acc);
}
