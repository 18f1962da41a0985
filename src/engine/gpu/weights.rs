//! Both checkpoints on the device and the merge between them. Every float tensor of the zero-shot
//! checkpoint is uploaded once; for each tensor the plan interpolates, the fine-tuned one too, plus a
//! merged buffer that the lerp kernel rewrites on every α change. The forward binds the merged
//! buffer of interpolated tensors and the zero-shot buffer of kept ones (no copy).

use std::collections::BTreeMap;

use super::device::{gpu_error, Counters, Gpu, Role};
use super::kernels::{elementwise, Kernel, Kernels, LerpParams, Steps, StepsBuilder};
use crate::checkpoint::HostTensor;
use crate::error::{Error, Result};
use crate::merge::{check_alpha, Action};
use crate::pipeline::ModelPair;

/// Whether `name` is stored as f16 when f16 weights are on: the matrices (every Linear weight, the
/// patch embedding, the projections, the token embedding) — all but a fraction of a percent of the
/// bytes — when their rows are a whole number of vec4 (the f16 matmul loads vec4). Biases, layer
/// norms, class and position embeddings stay f32.
fn half_storage(name: &str, shape: &[usize]) -> bool {
    let rows = shape.first().copied().unwrap_or(0);
    shape.len() >= 2 && rows > 0 && !name.contains("position_embedding") && (shape.iter().product::<usize>() / rows) % 4 == 0
}

fn halves(values: &[f32]) -> Vec<u16> {
    values.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect()
}

/// Float tensors uploaded before the engine is built — as a download streams in — keyed by
/// (from the fine-tuned checkpoint, name). [`Weights::upload`] takes them instead of uploading.
#[derive(Default)]
pub(crate) struct Staged {
    buffers: std::collections::HashMap<(bool, String), wgpu::Buffer>,
    bytes: u64,
}

impl Staged {
    /// Uploads one tensor now, stored as the engine will bind it (f16 or f32).
    pub fn stage(&mut self, gpu: &Gpu, fine_tuned: bool, name: &str, shape: &[usize], values: &[f32]) -> Result<()> {
        let label = if fine_tuned { format!("{name} (fine-tuned)") } else { name.to_string() };
        let buffer = upload_tensor(gpu, &label, values, gpu.f16 && half_storage(name, shape))?;
        self.bytes += buffer.size();
        self.buffers.insert((fine_tuned, name.to_string()), buffer);
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn take(&mut self, fine_tuned: bool, name: &str) -> Option<wgpu::Buffer> {
        self.buffers.remove(&(fine_tuned, name.to_string()))
    }
}

fn upload_tensor(gpu: &Gpu, label: &str, values: &[f32], half: bool) -> Result<wgpu::Buffer> {
    if half {
        gpu.buffer_with(label, bytemuck::cast_slice(&halves(values)), Role::Weight)
    } else {
        gpu.buffer_with(label, bytemuck::cast_slice(values), Role::Weight)
    }
}

pub(crate) struct Weights {
    zero_shot: BTreeMap<String, wgpu::Buffer>,
    /// Tensors stored as f16 (zero-shot, fine-tuned and merged alike).
    half: std::collections::BTreeSet<String>,
    merged: BTreeMap<String, wgpu::Buffer>,
    shapes: BTreeMap<String, Vec<usize>>,
    /// Kept alive for the lerp bind groups.
    _fine_tuned: Vec<wgpu::Buffer>,
    /// The lerp dispatches, one per interpolated tensor, sharing one parameter block (wa, wb).
    lerp: Option<Steps>,
}

impl Weights {
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
        for (name, action) in &pair.plan.actions {
            let zs = &pair.zero_shot.tensors[name];
            // Integer buffers (position_ids of old checkpoints) are not used by the forward.
            if !zs.is_float() {
                continue;
            }
            let is_half = f16 && half_storage(name, &zs.shape);
            let mut get = |from_ft: bool, file: &str, t: &HostTensor| -> Result<wgpu::Buffer> {
                if let Some(b) = staged.take(from_ft, name) {
                    return Ok(b);
                }
                let values = t.as_f32().ok_or_else(|| Error::Tensor {
                    file: file.into(),
                    tensor: name.clone(),
                    msg: "was neither uploaded during the download nor kept on the host".into(),
                })?;
                upload_tensor(gpu, &if from_ft { format!("{name} (fine-tuned)") } else { name.clone() }, values, is_half)
            };
            let zs_buf = get(false, &pair.zero_shot.name, zs)?;
            let ft = pair.fine_tuned.as_ref().and_then(|f| f.tensors.get(name).map(|t| (&f.name, t)));
            if let (Action::Interpolate, Some((ft_file, ft))) = (action, ft) {
                let ft_buf = get(true, ft_file, ft)?;
                let width = if is_half { 2 } else { 4 };
                let out = gpu.buffer(&format!("{name} (merged)"), (zs.numel() * width) as u64, Role::Work)?;
                // Buffers are padded to 16 bytes: whole vec4<f32> (16 bytes) or vec4<f16> (8 bytes).
                let (kernel, vec4s) = if is_half { (Kernel::LerpF16, out.size() as usize / 8) } else { (Kernel::Lerp, out.size() as usize / 16) };
                lerp.push(gpu, kernel, LerpParams { wa: 1.0, wb: 0.0, pad: [0; 2] }, &[&zs_buf, &ft_buf, &out], elementwise(gpu, vec4s));
                merged.insert(name.clone(), out);
                fine_tuned.push(ft_buf);
            }
            if is_half {
                half.insert(name.clone());
            }
            shapes.insert(name.clone(), zs.shape.clone());
            zero_shot.insert(name.clone(), zs_buf);
        }
        let lerp = if merged.is_empty() { None } else { Some(lerp.build_shared(gpu, kernels, "merge", std::mem::size_of::<LerpParams>())?) };
        Ok(Self { zero_shot, half, merged, shapes, _fine_tuned: fine_tuned, lerp })
    }

    /// Rewrites every merged tensor at `alpha` on the device: one uniform write (wa, wb) and one
    /// compute pass; nothing else crosses the bus.
    pub fn merge(&self, gpu: &Gpu, kernels: &Kernels, alpha: f64) -> Result<()> {
        check_alpha(alpha)?;
        let Some(steps) = &self.lerp else { return Ok(()) };
        // The weights as `merge::lerp` rounds them: (1 − α) in f64, then both to f32.
        let params = LerpParams { wa: (1.0 - alpha) as f32, wb: alpha as f32, pad: [0; 2] };
        gpu.write(steps.params(), bytemuck::bytes_of(&params), Role::Uniform);
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("merge") });
        steps.record(kernels, &mut encoder, "merge");
        gpu.submit(encoder);
        Counters::add(&gpu.counters.merges, 1);
        Ok(())
    }

    /// The buffer the forward binds for `name`: merged if interpolated, else the zero-shot one.
    pub fn get(&self, name: &str) -> Result<&wgpu::Buffer> {
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
