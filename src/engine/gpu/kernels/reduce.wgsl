// Workgroup tree reductions for the kernels that give one row to one workgroup (layer_norm,
// softmax, l2_normalize, attention); kernels.rs puts this before them. The kernel defines
// `const WG: u32`, its workgroup size (a power of two). Every invocation of the workgroup must call
// these, as they contain barriers; each returns the result to all of them.

var<workgroup> red: array<f32, WG>;

fn reduce_sum(li: u32, v: f32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (li < s) {
            red[li] = red[li] + red[li + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

fn reduce_max(li: u32, v: f32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (li < s) {
            red[li] = max(red[li], red[li + s]);
        }
        workgroupBarrier();
    }
    let top = red[0];
    workgroupBarrier();
    return top;
}
