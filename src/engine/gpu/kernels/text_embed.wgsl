// Text embeddings: the token embedding row of each id plus the position embedding. The token
// embedding is stored as `weight` (f32 or f16, prefixed by kernels.rs) and widened on read.
// ids [batch·seq] (checked against the vocabulary on the host), out [batch·seq, hidden].
// `tokens` holds vocabulary rows [first, end): a table over the binding limit is bound one row
// block per dispatch, and each dispatch writes only the rows whose id falls in its block.

struct Params {
    rows: u32,
    seq: u32,
    hidden: u32,
    first: u32,
    end: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> tokens: array<weight>;     // [vocab, hidden]
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
    let id = ids[row];
    if (id < p.first || id >= p.end) {
        return;
    }
    let t = row % p.seq;
    out[e] = f32(tokens[(id - p.first) * p.hidden + c]) + positions[t * p.hidden + c];
}
