// text_embed.wgsl with the token embedding stored as f16 (widened to f32 on read). Prefixed with
// `enable f16;`. Text embeddings: the token embedding row of each id plus the position embedding.
// ids [batch·seq] (checked against the vocabulary on the host), out [batch·seq, hidden].

struct Params {
    rows: u32,
    seq: u32,
    hidden: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> tokens: array<f16>;     // [vocab, hidden]
@group(0) @binding(3) var<storage, read> positions: array<f32>;  // [max_positions, hidden]
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let e = (wg.x + wg.y * nwg.x) * 256u + li;
    if (e >= p.rows * p.hidden) {
        return;
    }
    let c = e % p.hidden;
    let row = e / p.hidden;
    let t = row % p.seq;
    out[e] = f32(tokens[ids[row] * p.hidden + c]) + positions[t * p.hidden + c];
}
