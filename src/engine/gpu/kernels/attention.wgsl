// Fused multi-head attention: one workgroup per (sequence, head, query row) computes the scores
// q·kᵀ·scale against every key (only keys ≤ the query under the causal mask), their softmax, and
// the weighted sum of values — the scores never leave workgroup memory. q, k, v and out are
// [batch·seq, heads·head_dim] as the projections write them (head h at columns h·head_dim…).
// reduce_max / reduce_sum: reduce.wgsl, put before this file.

struct Params {
    batch: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    causal: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 64u;
// Checked on the host: seq ≤ MAX_SEQ, head_dim ≤ MAX_DIM.
const MAX_SEQ: u32 = 1024u;
const MAX_DIM: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> scores: array<f32, MAX_SEQ>;
var<workgroup> qs: array<f32, MAX_DIM>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let idx = wg.x + wg.y * nwg.x;
    if (idx >= p.batch * p.heads * p.seq) {
        return;
    }
    let i = idx % p.seq;
    let bh = idx / p.seq;
    let h = bh % p.heads;
    let b = bh / p.heads;
    let width = p.heads * p.head_dim;
    let col = h * p.head_dim;
    let qbase = (b * p.seq + i) * width + col;
    for (var c = li; c < p.head_dim; c += WG) {
        qs[c] = q[qbase + c];
    }
    workgroupBarrier();

    let keys = select(p.seq, i + 1u, p.causal != 0u);
    // The lowest finite f32, spelled as bits: Tint rejects the rounded decimal literal.
    var m = bitcast<f32>(0xff7fffffu);
    for (var j = li; j < keys; j += WG) {
        let kb = (b * p.seq + j) * width + col;
        var s = 0.0;
        for (var c = 0u; c < p.head_dim; c++) {
            s += qs[c] * k[kb + c];
        }
        s *= p.scale;
        scores[j] = s;
        m = max(m, s);
    }
    m = reduce_max(li, m);

    var l = 0.0;
    for (var j = li; j < keys; j += WG) {
        let e = exp(scores[j] - m);
        scores[j] = e;
        l += e;
    }
    let inv = 1.0 / reduce_sum(li, l);

    for (var c = li; c < p.head_dim; c += WG) {
        var acc = 0.0;
        for (var j = 0u; j < keys; j++) {
            acc += scores[j] * v[(b * p.seq + j) * width + col + c];
        }
        out[qbase + c] = acc * inv;
    }
}
