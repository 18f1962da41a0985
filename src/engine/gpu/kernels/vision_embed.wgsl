// Vision embeddings: token 0 is the class embedding, tokens 1.. the patch embeddings; position
// embeddings are added to all. out [batch·tokens, hidden].

struct Params {
    batch: u32,
    tokens: u32,
    hidden: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> class_embedding: array<f32>;  // [hidden]
@group(0) @binding(2) var<storage, read> patch_embeds: array<f32>;     // [batch·(tokens−1), hidden]
@group(0) @binding(3) var<storage, read> positions: array<f32>;        // [tokens, hidden]
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let e = (wg.x + wg.y * nwg.x) * 256u + li;
    if (e >= p.batch * p.tokens * p.hidden) {
        return;
    }
    let c = e % p.hidden;
    let row = e / p.hidden;
    let t = row % p.tokens;
    let b = row / p.tokens;
    var v: f32;
    if (t == 0u) {
        v = class_embedding[c];
    } else {
        v = patch_embeds[(b * (p.tokens - 1u) + t - 1u) * p.hidden + c];
    }
    out[e] = v + positions[t * p.hidden + c];
}
