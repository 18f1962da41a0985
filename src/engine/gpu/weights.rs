//! Both checkpoints on the device and the merge between them. Every float tensor of the zero-shot
//! checkpoint is uploaded once; for each tensor the plan interpolates, the fine-tuned one too, plus a
//! merged buffer that the lerp kernel rewrites on every α change. The forward binds the merged
//! buffer of interpolated tensors and the zero-shot buffer of kept ones (no copy).
//!
//! A table read by row gather (the token embedding: 49408 × 768 f32 ≈ 152 MB for ViT-L/14) may
//! exceed the adapter's storage binding limit; it is then stored as row blocks that each fit, and
//! the embedding kernel runs once per block. Any other tensor over the limit is an error that
//! names it and the limit.

use std::collections::BTreeMap;

use super::device::{gpu_error, Buf, Counters, Gpu, Role};
use super::kernels::{elementwise, CombineParams, Kernel, Kernels, LerpParams, Steps, StepsBuilder, COMBINE_MAX};
use crate::checkpoint::{F32Source, HostTensor};
use crate::error::{Error, Result};
use crate::merge::{Action, Alpha, Mix, ModelPair};

/// Whether `name` is stored as f16 when f16 weights are on: the matrices (every Linear weight, the
/// patch embedding, the projections, the token embedding) — all but a fraction of a percent of the
/// bytes — when their rows are a whole number of vec4 (the f16 matmul loads vec4). Biases, layer
/// norms, class and position embeddings stay f32.
fn half_storage(name: &str, shape: &[usize]) -> bool {
    let rows = shape.first().copied().unwrap_or(0);
    shape.len() >= 2 && rows > 0 && !name.contains("position_embedding") && (shape.iter().product::<usize>() / rows) % 4 == 0
}

/// Tensors the forward reads by row gather only, so they may be split into row blocks.
const SPLITTABLE: &[&str] = &["text_model.embeddings.token_embedding.weight"];

/// A tensor on the device: one buffer, or row blocks of a gather table over the binding limit.
#[derive(Clone)]
pub(crate) struct Parts {
    /// (first row, buffer) of each block, in row order.
    pub blocks: Vec<(usize, Buf)>,
    pub rows: usize,
}

/// Values per piece of an upload: a large tensor is decoded and written this many at a time, so
/// the host never holds a second copy of it (even, so that f16 pieces start on 4-byte offsets).
const PIECE: usize = 1 << 18;

/// Float tensors uploaded before the engine is built — as a download streams in — keyed by
/// (from the fine-tuned checkpoint, name). [`DeviceWeights::upload`] takes them instead of uploading.
#[derive(Default)]
pub(crate) struct Staged {
    buffers: std::collections::HashMap<(bool, String), Parts>,
    bytes: u64,
}

impl Staged {
    /// Uploads one tensor now, stored as the engine will bind it (f16 or f32).
    pub fn stage(&mut self, gpu: &Gpu, fine_tuned: bool, name: &str, shape: &[usize], values: &dyn F32Source) -> Result<()> {
        let label = if fine_tuned { format!("{name} (fine-tuned)") } else { name.to_string() };
        let parts = upload_tensor(gpu, name, &label, shape, values, gpu.f16 && half_storage(name, shape))?;
        self.bytes += parts.blocks.iter().map(|(_, b)| b.size()).sum::<u64>();
        self.buffers.insert((fine_tuned, name.to_string()), parts);
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn take(&mut self, fine_tuned: bool, name: &str) -> Option<Parts> {
        self.buffers.remove(&(fine_tuned, name.to_string()))
    }
}

/// The most bytes one storage binding of the engine may hold (the adapter's limit, or the test cap).
fn binding_limit(gpu: &Gpu) -> u64 {
    gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size)
}

/// Rows per block for `name` (all of them when it fits one binding). Over the limit, a gather
/// table is split; anything else is an error naming the tensor and the limit.
fn rows_per_block(gpu: &Gpu, name: &str, label: &str, shape: &[usize], element: usize) -> Result<usize> {
    let rows = shape.first().copied().unwrap_or(1).max(1);
    let row_bytes = (shape.iter().product::<usize>() / rows * element).max(1) as u64;
    let limit = binding_limit(gpu);
    if super::device::padded(row_bytes * rows as u64) <= limit {
        return Ok(rows);
    }
    if !SPLITTABLE.contains(&name) {
        // Says which limit and by how much.
        gpu.buffer(label, row_bytes * rows as u64, Role::Weight)?;
    }
    // Blocks of whole rows, a multiple of 4 rows so that each block stays 16-byte aligned.
    let per = ((limit / row_bytes) as usize / 4 * 4).max(1);
    Ok(per.min(rows))
}

fn upload_tensor(gpu: &Gpu, name: &str, label: &str, shape: &[usize], values: &dyn F32Source, half: bool) -> Result<Parts> {
    let rows = shape.first().copied().unwrap_or(1).max(1);
    let element = if half { 2 } else { 4 };
    let per = rows_per_block(gpu, name, label, shape, element)?;
    let width = values.len() / rows;
    let mut piece = vec![0f32; PIECE.min(values.len())];
    let mut halves: Vec<u16> = Vec::new();
    let mut blocks = Vec::new();
    for first in (0..rows).step_by(per) {
        let (start, end) = (first * width, (first + per).min(rows) * width);
        let label = if per < rows { format!("{label} rows {first}…") } else { label.to_string() };
        let buffer = gpu.buffer(&label, ((end - start) * element) as u64, Role::Weight)?;
        for at in (start..end).step_by(PIECE) {
            let piece = &mut piece[..PIECE.min(end - at)];
            values.read(at, piece);
            let offset = ((at - start) * element) as u64;
            if half {
                halves.clear();
                halves.extend(piece.iter().map(|&v| half::f16::from_f32(v).to_bits()));
                gpu.write_at(&buffer, offset, bytemuck::cast_slice(&halves), Role::Weight);
            } else {
                gpu.write_at(&buffer, offset, bytemuck::cast_slice(piece), Role::Weight);
            }
        }
        blocks.push((first, buffer));
    }
    Ok(Parts { blocks, rows })
}

pub(crate) struct DeviceWeights {
    zero_shot: BTreeMap<String, Parts>,
    /// Tensors stored as f16 (zero-shot, fine-tuned and merged alike).
    half: std::collections::BTreeSet<String>,
    merged: BTreeMap<String, Parts>,
    shapes: BTreeMap<String, Vec<usize>>,
    /// Kept alive for the lerp bind groups.
    _fine_tuned: Vec<Parts>,
    /// The lerp dispatches, one per (interpolated tensor, row block), each with its own (wa, wb):
    /// one α for all, or a wise-ft α schedule per tensor.
    lerp: Option<Lerp>,
    /// A recipe's combine dispatches, one per (tensor, row block), each with its own weights.
    combine: Option<Combine>,
}

/// The two-model merge on the device: one lerp dispatch per (tensor, row block), recorded twice —
/// binding one shared (wa, wb) block, so that an α change uploads 16 bytes, and each its own
/// block, for a wise-ft α schedule (a per-layer α).
struct Lerp {
    shared: Steps,
    each: Steps,
    /// Per step: the tensor it merges.
    names: Vec<String>,
}

/// A recipe's merge on the device: its inputs packed per tensor, one dispatch each.
struct Combine {
    steps: Steps,
    /// Per step: the tensor, which recipe inputs it packs (those that have the tensor), and the
    /// step's block of vec4s (length, start).
    terms: Vec<(String, Vec<usize>, u32, u32)>,
    /// Kept alive for the bind groups.
    _packed: Vec<Buf>,
}

/// The inputs' values of elements `start .. end`, one after the other, each padded to whole vec4s
/// (`len4` of them), in one buffer: what combine.wgsl reads.
fn upload_packed(gpu: &Gpu, label: &str, inputs: &[&[f32]], start: usize, end: usize, half: bool) -> Result<(Buf, usize)> {
    let len4 = (end - start).div_ceil(4);
    let element = if half { 2 } else { 4 };
    let buffer = gpu.buffer(label, (inputs.len() * len4 * 4 * element).max(4) as u64, Role::Weight)?;
    let mut halves: Vec<u16> = Vec::new();
    for (k, values) in inputs.iter().enumerate() {
        for at in (start..end).step_by(PIECE) {
            let piece = &values[at..(at + PIECE).min(end)];
            let offset = ((k * len4 * 4 + at - start) * element) as u64;
            if half {
                halves.clear();
                halves.extend(piece.iter().map(|&v| half::f16::from_f32(v).to_bits()));
                // f16 pieces of odd length: pad to a whole 4-byte word (the next piece or the
                // padding overwrites nothing that matters: PIECE is even).
                if halves.len() % 2 == 1 {
                    halves.push(0);
                }
                gpu.write_at(&buffer, offset, bytemuck::cast_slice(&halves), Role::Weight);
            } else {
                gpu.write_at(&buffer, offset, bytemuck::cast_slice(piece), Role::Weight);
            }
        }
    }
    Ok((buffer, len4))
}

/// vec4s per combine block so that `n` inputs of `element`-byte values packed side by side stay
/// within a binding of `limit` bytes: a multiple of 64 (whole workgroups of 256 threads … and
/// 16-byte aligned blocks), at least 64.
fn packed_block(limit: u64, n: usize, element: usize) -> usize {
    let per = (limit / (n.max(1) * 4 * element) as u64) as usize;
    (per / 64 * 64).max(64)
}

impl DeviceWeights {
    /// Puts every float tensor the plan uses on the device — taken from `staged` where it was
    /// uploaded during the download, else uploaded from the host now. `f16`: store the matrices as
    /// f16 (the device must have `shader-f16`).
    pub fn upload(gpu: &Gpu, kernels: &Kernels, pair: &ModelPair, f16: bool, staged: &mut Staged) -> Result<Self> {
        let mut half = std::collections::BTreeSet::new();
        let mut zero_shot = BTreeMap::new();
        let mut merged = BTreeMap::new();
        let mut shapes = BTreeMap::new();
        let mut fine_tuned = Vec::new();
        let mut lerp = StepsBuilder::default();
        let mut lerp_names = Vec::new();
        let mut combine = StepsBuilder::default();
        let (mut terms, mut packed) = (Vec::new(), Vec::new());
        for (name, action) in &pair.plan.actions {
            let zs = &pair.zero_shot.tensors[name];
            // Integer buffers (position_ids of old checkpoints) are not used by the forward.
            if !zs.is_float() {
                continue;
            }
            let is_half = f16 && half_storage(name, &zs.shape);
            let mut get = |from_ft: bool, file: &str, t: &HostTensor| -> Result<Parts> {
                if let Some(b) = staged.take(from_ft, name) {
                    return Ok(b);
                }
                let values = t.as_f32().ok_or_else(|| Error::Tensor {
                    file: file.into(),
                    tensor: name.clone(),
                    msg: "was neither uploaded during the download nor kept on the host".into(),
                })?;
                let label = if from_ft { format!("{name} (fine-tuned)") } else { name.clone() };
                upload_tensor(gpu, name, &label, &t.shape, &values, is_half)
            };
            let zs_parts = get(false, &pair.zero_shot.name, zs)?;
            let ft = pair.fine_tuned.as_ref().and_then(|f| f.tensors.get(name).map(|t| (&f.name, t)));
            if let (Action::Interpolate, Some((ft_file, ft))) = (action, ft) {
                let ft_parts = get(true, ft_file, ft)?;
                let width = if is_half { 2 } else { 4 };
                let row = zs.numel() / zs_parts.rows * width;
                let mut out = Parts { blocks: Vec::new(), rows: zs_parts.rows };
                for (i, ((first, a), (_, b))) in zs_parts.blocks.iter().zip(&ft_parts.blocks).enumerate() {
                    let end = zs_parts.blocks.get(i + 1).map_or(zs_parts.rows, |(f, _)| *f);
                    let buffer = gpu.buffer(&format!("{name} (merged)"), ((end - first) * row) as u64, Role::Work)?;
                    // Buffers are padded to 16 bytes: whole vec4<f32> (16 bytes) or vec4<f16> (8 bytes).
                    let (kernel, vec4s) = if is_half { (Kernel::LerpF16, buffer.size() as usize / 8) } else { (Kernel::Lerp, buffer.size() as usize / 16) };
                    lerp.push(gpu, kernel, LerpParams { wa: 1.0, wb: 0.0, pad: [0; 2] }, &[a, b, &buffer], elementwise(gpu, vec4s));
                    lerp_names.push(name.clone());
                    out.blocks.push((*first, buffer));
                }
                merged.insert(name.clone(), out);
                fine_tuned.push(ft_parts);
            }
            if let (Action::Combine, Some(inputs)) = (action, &pair.inputs) {
                let present: Vec<usize> = (0..inputs.sets.len()).filter(|&i| inputs.sets[i].contains_key(name)).collect();
                if present.len() + 1 > COMBINE_MAX {
                    return Err(gpu_error(format!("`{name}`: {} merge inputs, the combine kernel takes at most {}", present.len(), COMBINE_MAX - 1)));
                }
                let values: Vec<&[f32]> = present.iter().map(|&i| &inputs.sets[i][name][..]).collect();
                let width = zs.numel() / zs_parts.rows;
                let element = if is_half { 2 } else { 4 };
                let mut out = Parts { blocks: Vec::new(), rows: zs_parts.rows };
                // N inputs packed side by side can exceed one binding where θ₀'s block fits: then
                // the block is combined in pieces of `per4` vec4s, each with its own packed buffer.
                let per4 = packed_block(binding_limit(gpu), present.len(), element);
                for (i, (first, base)) in zs_parts.blocks.iter().enumerate() {
                    let end = zs_parts.blocks.get(i + 1).map_or(zs_parts.rows, |(f, _)| *f);
                    let buffer = gpu.buffer(&format!("{name} (merged)"), ((end - first) * width * element) as u64, Role::Work)?;
                    let kernel = if is_half { Kernel::CombineF16 } else { Kernel::Combine };
                    let (start, stop) = (first * width, end * width);
                    for start4 in (0..(stop - start).div_ceil(4)).step_by(per4) {
                        let from = start + start4 * 4;
                        let to = (from + per4 * 4).min(stop);
                        let label = if per4 * 4 < stop - start { format!("{name} (recipe inputs, from {from})") } else { format!("{name} (recipe inputs)") };
                        let (inputs_buffer, len4) = upload_packed(gpu, &label, &values, from, to, is_half)?;
                        let params = CombineParams { n: present.len() as u32, len4: len4 as u32, start4: start4 as u32, pad: 0, w: [0.0; COMBINE_MAX] };
                        combine.push(gpu, kernel, params, &[base, &inputs_buffer, &buffer], elementwise(gpu, len4));
                        terms.push((name.clone(), present.clone(), len4 as u32, start4 as u32));
                        packed.push(inputs_buffer);
                    }
                    out.blocks.push((*first, buffer));
                }
                merged.insert(name.clone(), out);
            }
            if is_half {
                half.insert(name.clone());
            }
            shapes.insert(name.clone(), zs.shape.clone());
            zero_shot.insert(name.clone(), zs_parts);
        }
        let lerp = if lerp_names.is_empty() {
            None
        } else {
            let shared = lerp.clone().build_shared(gpu, kernels, "merge", std::mem::size_of::<LerpParams>())?;
            Some(Lerp { shared, each: lerp.build(gpu, kernels, "scheduled merge")?, names: lerp_names })
        };
        let combine = if terms.is_empty() { None } else { Some(Combine { steps: combine.build(gpu, kernels, "recipe merge")?, terms, _packed: packed }) };
        Ok(Self { zero_shot, half, merged, shapes, _fine_tuned: fine_tuned, lerp, combine })
    }

    /// Rewrites every merged tensor of a recipe at `mix`: one write of all the weights and one
    /// compute pass of one dispatch per tensor, each reading all its inputs.
    pub fn merge_mix(&self, gpu: &Gpu, kernels: &Kernels, mix: &Mix) -> Result<()> {
        let Some(c) = &self.combine else {
            // A two-model pair at a wise-ft α schedule: each lerp its tensor's (1 − α(t), α(t)).
            return self.merge_lerp(gpu, kernels, |name| {
                let w = mix.weights.get(name).ok_or_else(|| gpu_error(format!("the α schedule has no entry for `{name}`")))?;
                Ok(LerpParams { wa: w[0], wb: w[1], pad: [0; 2] })
            });
        };
        let mut bytes = vec![0u8; c.steps.params().size() as usize];
        for (offset, (name, present, len4, start4)) in c.steps.offsets().zip(&c.terms) {
            let w = mix.weights.get(name).ok_or_else(|| gpu_error(format!("the recipe's weights have no entry for `{name}`")))?;
            let mut params = CombineParams { n: present.len() as u32, len4: *len4, start4: *start4, pad: 0, w: [0.0; COMBINE_MAX] };
            params.w[0] = w[0];
            for (slot, &i) in params.w[1..].iter_mut().zip(present) {
                *slot = w[1 + i];
            }
            let at = offset as usize;
            bytes[at..at + std::mem::size_of::<CombineParams>()].copy_from_slice(bytemuck::bytes_of(&params));
        }
        gpu.write(c.steps.params(), &bytes, Role::Uniform);
        Self::record_merge(gpu, kernels, &c.steps, "recipe merge");
        Ok(())
    }

    /// Rewrites every merged tensor at `alpha` on the device: one 16-byte uniform write (wa, wb)
    /// and one compute pass; nothing else crosses the bus.
    pub fn merge(&self, gpu: &Gpu, kernels: &Kernels, alpha: Alpha) -> Result<()> {
        let Some(lerp) = &self.lerp else { return Ok(()) };
        gpu.write(lerp.shared.params(), bytemuck::bytes_of(&LerpParams::at(alpha)), Role::Uniform);
        Self::record_merge(gpu, kernels, &lerp.shared, "merge");
        Ok(())
    }

    /// One compute pass of `steps`, counted as one merge.
    fn record_merge(gpu: &Gpu, kernels: &Kernels, steps: &Steps, label: &str) {
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        steps.record(kernels, &mut encoder, label);
        gpu.submit(encoder);
        Counters::add(&gpu.counters.merges, 1);
    }

    /// A wise-ft α schedule: every lerp with the (wa, wb) `params` gives its tensor — one uniform
    /// write of all the blocks and one compute pass.
    fn merge_lerp(&self, gpu: &Gpu, kernels: &Kernels, params: impl Fn(&str) -> Result<LerpParams>) -> Result<()> {
        let Some(lerp) = &self.lerp else { return Ok(()) };
        let mut bytes = vec![0u8; lerp.each.params().size() as usize];
        for (offset, name) in lerp.each.offsets().zip(&lerp.names) {
            let at = offset as usize;
            bytes[at..at + std::mem::size_of::<LerpParams>()].copy_from_slice(bytemuck::bytes_of(&params(name)?));
        }
        gpu.write(lerp.each.params(), &bytes, Role::Uniform);
        Self::record_merge(gpu, kernels, &lerp.each, "scheduled merge");
        Ok(())
    }

    /// The buffer the forward binds for `name`: merged if interpolated, else the zero-shot one.
    pub fn get(&self, name: &str) -> Result<&Buf> {
        match self.parts(name)?.blocks.as_slice() {
            [(_, one)] => Ok(one),
            blocks => Err(gpu_error(format!("`{name}` is split into {} row blocks (over the binding limit); only a row gather can read it", blocks.len()))),
        }
    }

    /// The row blocks the forward binds for `name` (one block when it fits one binding).
    pub fn parts(&self, name: &str) -> Result<&Parts> {
        self.merged.get(name).or_else(|| self.zero_shot.get(name)).ok_or_else(|| Error::Tensor {
            file: "GPU weights".into(),
            tensor: name.into(),
            msg: "missing (not a float tensor of the zero-shot checkpoint)".into(),
        })
    }

    pub fn shape(&self, name: &str) -> Result<&[usize]> {
        self.shapes.get(name).map(Vec::as_slice).ok_or_else(|| gpu_error(format!("no tensor `{name}`")))
    }

    /// Whether `name` is stored as f16.
    pub fn is_half(&self, name: &str) -> bool {
        self.half.contains(name)
    }

    /// How many tensors are stored as f16.
    pub fn half_count(&self) -> usize {
        self.half.len()
    }

    pub fn merged_count(&self) -> usize {
        self.merged.len()
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// The bytes of a buffer, copied to a staging buffer and read back.
    fn contents(gpu: &Gpu, buffer: &Buf) -> Vec<u8> {
        let staging = gpu.buffer("staging", buffer.size(), Role::Staging).unwrap();
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
        gpu.submit(encoder);
        pollster::block_on(gpu.read_bytes(&staging, buffer.size() as usize)).unwrap()
    }

    #[test]
    fn uploads_in_pieces_write_every_value_once() {
        // Two whole pieces and an odd tail (an f16 tail that is not a whole 4-byte word), as one
        // block, and as row blocks of a table over a 1 MB binding limit (blocks that end mid-piece).
        let rows = 2 * PIECE / 1000 + 3;
        let values: Vec<f32> = (0..rows * 1000).map(|i| (i % 2039) as f32 * 0.25 - 250.0).collect();
        let src: &[f32] = &values;
        let name = "text_model.embeddings.token_embedding.weight";
        for max_binding in [None, Some(1 << 20)] {
            let gpu = pollster::block_on(Gpu::new(true, max_binding)).unwrap_or_else(|e| panic!("{e}"));
            for half in [false, gpu.f16].into_iter().collect::<std::collections::BTreeSet<_>>() {
                let parts = upload_tensor(&gpu, name, name, &[rows, 1000], &src, half).unwrap();
                assert_eq!(parts.blocks.len() > 1, max_binding.is_some(), "{max_binding:?}");
                let mut got = Vec::new();
                for (i, (first, buffer)) in parts.blocks.iter().enumerate() {
                    let end = parts.blocks.get(i + 1).map_or(rows, |b| b.0);
                    let bytes = contents(&gpu, buffer);
                    let block: Vec<f32> = if half {
                        bytemuck::pod_collect_to_vec::<u8, u16>(&bytes).iter().map(|&h| half::f16::from_bits(h).to_f32()).collect()
                    } else {
                        bytemuck::pod_collect_to_vec(&bytes)
                    };
                    let n = (end - first) * 1000;
                    assert!(block[n..].iter().all(|&v| v == 0.0), "padding");
                    got.extend_from_slice(&block[..n]);
                }
                // The values are exact in f16 too (multiples of 0.25 below 512).
                let wrong = got.iter().zip(&values).position(|(g, v)| g != v);
                assert_eq!((got.len(), wrong), (values.len(), None), "f16 {half}, limit {max_binding:?}: first wrong value");
            }
        }
    }
}
