// The patch convolution's input as a matrix: pixels [batch, channels, size, size] →
// patches [batch·grid², channels·patch²], each row one patch in (channel, y, x) order — the order
// of the convolution weight [hidden, channels, patch, patch] flattened, so the patch embedding is
// the matmul patches · Wᵀ. Pixels past the last whole patch are dropped, as the convolution does.

struct Params {
    batch: u32,
    channels: u32,
    size: u32,
    patch_size: u32,
    grid: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pixels: array<f32>;
@group(0) @binding(2) var<storage, read_write> patches: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let e = (wg.x + wg.y * nwg.x) * 256u + li;
    let pp = p.patch_size * p.patch_size;
    let cols = p.channels * pp;
    let g2 = p.grid * p.grid;
    if (e >= p.batch * g2 * cols) {
        return;
    }
    let row = e / cols;
    let col = e % cols;
    let b = row / g2;
    let gy = (row % g2) / p.grid;
    let gx = row % p.grid;
    let ch = col / pp;
    let py = (col % pp) / p.patch_size;
    let px = col % p.patch_size;
    let y = gy * p.patch_size + py;
    let x = gx * p.patch_size + px;
    patches[e] = pixels[((b * p.channels + ch) * p.size + y) * p.size + x];
}
