//! The WiSE-FT merge: θ(α) = (1−α)·θ_zero-shot + α·θ_fine-tuned, tensor by tensor.
//!
//! Which tensors are interpolated is decided once, in a [`MergePlan`], when both checkpoints are
//! loaded ([`ModelPair`]); moving α ([`Alpha`]) then only re-runs the arithmetic (here on the host;
//! the GPU engine runs the same plan in a kernel).
//!
//! Merge recipes beyond one α ([`recipe`]: task arithmetic, soups, TIES, per-layer schedules) are
//! brought to one form when the checkpoints load ([`build`], [`mix`]): θ = w₀·θ₀ + Σᵢ wᵢ·vᵢ over
//! inputs computed once, so a coefficient change is again one pass.

mod alpha;
pub mod build;
pub mod lean;
pub mod mix;
mod pair;
pub mod recipe;
pub mod schedule;
pub mod task_vector;
pub mod ties;

pub use alpha::Alpha;
pub use build::{load_recipe, load_recipe_with, Loaded, OwnVectors};
pub use mix::{combine_shared, Inputs, Mix, Point};
pub use pair::{ModelPair, OwnVectorsAside};
pub use recipe::{Method, Recipe};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::checkpoint::tensor::{shape_str, HostTensor, Values};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};

/// What happens to one tensor of the zero-shot checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Present in both with the same shape: interpolated in f32.
    Interpolate,
    /// Absent from the fine-tuned checkpoint (e.g. the text tower of a vision-only fine-tune), or an
    /// integer buffer: taken from the zero-shot checkpoint as is.
    KeepZeroShot,
    /// Some recipe input has it: w₀·θ₀ + Σᵢ wᵢ·vᵢ over the inputs that have it ([`mix`]).
    Combine,
}

/// Counts and names, for the CLI and the page.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MergeReport {
    pub interpolated: Vec<String>,
    pub kept: Vec<String>,
    /// Tensors only the fine-tuned checkpoint has (a classification head): not used.
    pub extra: Vec<String>,
    pub interpolated_parameters: usize,
    pub kept_parameters: usize,
}

/// One merged tensor at some α: a checkpoint's tensor as it is, or two to interpolate.
pub enum Merged<'a> {
    /// Kept from the zero-shot checkpoint, or an end point (α = 0 or 1).
    Shared(&'a HostTensor),
    /// (1−α)·zero_shot + α·fine_tuned, as [`lerp`] computes it.
    Lerp { zero_shot: &'a [f32], fine_tuned: &'a [f32], alpha: Alpha },
    /// w₀·base + Σᵢ wᵢ·termsᵢ, as [`mix::combine_into`] computes it.
    Sum { base: &'a [f32], w0: f32, terms: Vec<(&'a [f32], f32)> },
}

impl Merged<'_> {
    /// The values: shared where they are a checkpoint's, else computed now.
    pub fn values(&self, name: &str) -> Result<Arc<[f32]>> {
        match self {
            Merged::Shared(t) => match &t.values {
                Values::F32(v) => Ok(v.clone()),
                _ => Err(Error::Tensor { file: "merged weights".into(), tensor: name.into(), msg: "holds no float values on the host".into() }),
            },
            Merged::Lerp { zero_shot, fine_tuned, alpha } => Ok(lerp_shared(zero_shot, fine_tuned, *alpha)),
            Merged::Sum { base, w0, terms } => Ok(combine_shared(base, *w0, terms)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MergePlan {
    /// One action per zero-shot tensor, in name order.
    pub actions: BTreeMap<String, Action>,
    pub report: MergeReport,
}

impl MergePlan {
    /// Plans the merge of `zero_shot` with `fine_tuned`; without a fine-tuned checkpoint every
    /// tensor is kept (α has no effect).
    pub fn new(zero_shot: &Checkpoint, fine_tuned: Option<&Checkpoint>) -> Result<Self> {
        let mut actions = BTreeMap::new();
        let mut report = MergeReport::default();
        for (name, zs) in &zero_shot.tensors {
            let action = match fine_tuned.and_then(|ft| ft.tensors.get(name)) {
                None => Action::KeepZeroShot,
                Some(ft) if ft.shape != zs.shape => {
                    return Err(Error::Merge {
                        tensor: name.clone(),
                        msg: format!(
                            "is {} in the zero-shot checkpoint but {} in the fine-tuned one: are both the same architecture?",
                            shape_str(&zs.shape),
                            shape_str(&ft.shape)
                        ),
                    })
                }
                Some(ft) if zs.is_float() && !ft.is_float() => {
                    return Err(Error::Merge {
                        tensor: name.clone(),
                        msg: format!("is {} in the zero-shot checkpoint but {} in the fine-tuned one", zs.file_dtype, ft.file_dtype),
                    })
                }
                Some(_) if !zs.is_float() => Action::KeepZeroShot,
                Some(_) => Action::Interpolate,
            };
            match action {
                Action::Interpolate => {
                    report.interpolated.push(name.clone());
                    report.interpolated_parameters += zs.numel();
                }
                Action::KeepZeroShot | Action::Combine => {
                    report.kept.push(name.clone());
                    if zs.is_float() {
                        report.kept_parameters += zs.numel();
                    }
                }
            }
            actions.insert(name.clone(), action);
        }
        if let Some(ft) = fine_tuned {
            report.extra = ft.tensors.keys().filter(|n| !zero_shot.tensors.contains_key(*n)).cloned().collect();
        }
        Ok(Self { actions, report })
    }

    /// The tensors the two-model merge interpolates.
    pub fn interpolated(&self) -> impl Iterator<Item = &String> {
        self.actions.iter().filter(|(_, a)| **a == Action::Interpolate).map(|(name, _)| name)
    }

    /// Plans a recipe's merge: every float tensor of θ₀ that some input has is combined.
    pub fn combining(zero_shot: &Checkpoint, inputs: &Inputs) -> Self {
        let mut actions = BTreeMap::new();
        let mut report = MergeReport::default();
        for (name, zs) in &zero_shot.tensors {
            let combined = zs.is_float() && inputs.sets.iter().any(|s| s.contains_key(name));
            if combined {
                report.interpolated.push(name.clone());
                report.interpolated_parameters += zs.numel();
            } else {
                report.kept.push(name.clone());
                if zs.is_float() {
                    report.kept_parameters += zs.numel();
                }
            }
            actions.insert(name.clone(), if combined { Action::Combine } else { Action::KeepZeroShot });
        }
        Self { actions, report }
    }

    /// Where the merged value of one tensor comes from at `alpha`, without computing it (the CPU
    /// engine interpolates straight into its packed layout).
    pub fn source<'a>(&self, name: &str, zero_shot: &'a Checkpoint, fine_tuned: Option<&'a Checkpoint>, alpha: Alpha) -> Result<Merged<'a>> {
        let missing = |file: &str| Error::Tensor { file: file.into(), tensor: name.into(), msg: "missing".into() };
        let zs = zero_shot.tensors.get(name).ok_or_else(|| missing(&zero_shot.name))?;
        match (self.actions.get(name), fine_tuned) {
            (Some(Action::Interpolate), Some(ft_ckpt)) => {
                let ft = ft_ckpt.tensors.get(name).ok_or_else(|| missing(&ft_ckpt.name))?;
                Ok(if alpha == Alpha::ZERO_SHOT {
                    Merged::Shared(zs)
                } else if alpha == Alpha::FINE_TUNED {
                    Merged::Shared(ft)
                } else {
                    Merged::Lerp {
                        zero_shot: values_on_host(zs, name, &zero_shot.name)?,
                        fine_tuned: values_on_host(ft, name, &ft_ckpt.name)?,
                        alpha,
                    }
                })
            }
            _ => Ok(Merged::Shared(zs)),
        }
    }

    /// The merged value of one tensor. Kept tensors and the end points α = 0 and α = 1 are shared,
    /// not copied, so they are the original weights bit for bit.
    pub fn tensor(&self, name: &str, zero_shot: &Checkpoint, fine_tuned: Option<&Checkpoint>, alpha: Alpha) -> Result<HostTensor> {
        let source = self.source(name, zero_shot, fine_tuned, alpha)?;
        // `source` has checked that the zero-shot tensor exists.
        let zs = &zero_shot.tensors[name];
        Ok(match source {
            Merged::Shared(t) => HostTensor { file_dtype: zs.file_dtype, ..t.clone() },
            Merged::Lerp { zero_shot: a, fine_tuned: b, alpha } => {
                HostTensor { shape: zs.shape.clone(), file_dtype: zs.file_dtype, values: Values::F32(lerp_shared(a, b, alpha)) }
            }
            sum @ Merged::Sum { .. } => HostTensor { shape: zs.shape.clone(), file_dtype: zs.file_dtype, values: Values::F32(sum.values(name)?) },
        })
    }

    /// Every tensor of the zero-shot checkpoint, merged at `alpha`.
    pub fn merge(&self, zero_shot: &Checkpoint, fine_tuned: Option<&Checkpoint>, alpha: Alpha) -> Result<BTreeMap<String, HostTensor>> {
        self.actions.keys().map(|name| Ok((name.clone(), self.tensor(name, zero_shot, fine_tuned, alpha)?))).collect()
    }
}

pub(super) fn values_on_host<'a>(t: &'a HostTensor, name: &str, file: &str) -> Result<&'a [f32]> {
    t.as_f32().ok_or_else(|| Error::Tensor {
        file: file.into(),
        tensor: name.into(),
        msg: "its values went to the GPU and are not on the host: read the checkpoint again to merge it here".into(),
    })
}

/// out = (1−α)·a + α·b in f32, with the weights rounded to f32 first and the two products rounded
/// before the sum — the order PyTorch and NumPy use for `(1 - alpha) * a + alpha * b`, so results
/// agree bit for bit with the reference.
pub fn lerp(a: &[f32], b: &[f32], alpha: Alpha, out: &mut [f32]) {
    let (wa, wb) = alpha.weights();
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = wa * x + wb * y;
    }
}

/// [`lerp`] into a new shared buffer, written once: a `Vec` turned into an `Arc<[f32]>` would be
/// copied (the merge of a ViT-B/32 vision tower would write 350 MB twice). Large tensors are split
/// over the CPU engine's threads; each value is the same expression, so the bits do not change.
pub fn lerp_shared(a: &[f32], b: &[f32], alpha: Alpha) -> Arc<[f32]> {
    let (wa, wb) = alpha.weights();
    let mut out = Arc::<[f32]>::new_uninit_slice(a.len().min(b.len()));
    let slots = Arc::get_mut(&mut out).expect("a new Arc has no other owner");
    let (a, b) = (&a[..slots.len()], &b[..slots.len()]);
    crate::parallel::chunks(slots, |start, part| {
        for ((o, &x), &y) in part.iter_mut().zip(&a[start..]).zip(&b[start..]) {
            o.write(wa * x + wb * y);
        }
    });
    // SAFETY: the chunks cover every slot, and each wrote all of its slots: there are
    // min(a.len(), b.len()) of them and a and b were cut to that length.
    unsafe { out.assume_init() }
}
