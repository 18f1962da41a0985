//! Task vectors τᵢ = θᵢ − θ₀ (Ilharco et al., 2023) and what a fine-tune is relative to the
//! zero-shot model: whether its shapes match, which tensors it changes, how far it moved.
//!
//! A fine-tune that lacks a tensor of θ₀ (a vision-only fine-tune has no text tower) has a zero
//! task vector there; the zero is not stored.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::checkpoint::tensor::{shape_str, HostTensor};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};

/// Tensors, by name, of one merge input (a task vector, TIES's merged vector, a fine-tune).
pub type TensorSet = BTreeMap<String, Arc<[f32]>>;

/// Bytes of f32 values a tensor set holds.
pub fn set_bytes(set: &TensorSet) -> u64 {
    set.values().map(|v| v.len() as u64 * 4).sum()
}

/// ‖θᵢ − θ₀‖/‖θ₀‖ above which a checkpoint is flagged: fine-tunes move a few percent.
pub const FAR: f64 = 0.5;

/// One fine-tuned checkpoint against the zero-shot one (for `wiseft inspect` and every load).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FineTuneReport {
    pub checkpoint: String,
    /// Tensors of both whose shapes (or float/integer kind) differ: "name: 64×32 vs 3×5".
    pub mismatched: Vec<String>,
    /// Float tensors of θ₀ it has with other values / with the same values.
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Float tensors of θ₀ it lacks (zero task vector there).
    pub missing: Vec<String>,
    /// Tensors θ₀ does not have (a classification head): ignored.
    pub extra: Vec<String>,
    pub changed_parameters: usize,
    /// ‖θᵢ − θ₀‖/‖θ₀‖ over the float tensors both have.
    pub relative_distance: f64,
}

impl FineTuneReport {
    pub fn shapes_match(&self) -> bool {
        self.mismatched.is_empty()
    }

    /// Far from θ₀: probably not a fine-tune of it.
    pub fn is_far(&self) -> bool {
        self.relative_distance > FAR
    }

    /// The error a merge gives for this checkpoint, if any.
    pub fn check(&self) -> Result<()> {
        if let Some(m) = self.mismatched.first() {
            let (tensor, msg) = m.split_once(": ").unwrap_or((m, ""));
            return Err(Error::Merge {
                tensor: tensor.into(),
                msg: format!(
                    "{msg} ({}, {} such tensors): is it a fine-tune of the zero-shot model's architecture?",
                    self.checkpoint,
                    self.mismatched.len()
                ),
            });
        }
        if self.changed.is_empty() && self.unchanged.is_empty() {
            return Err(Error::Invalid(format!("{}: shares no tensor with the zero-shot checkpoint", self.checkpoint)));
        }
        Ok(())
    }
}

impl fmt::Display for FineTuneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.checkpoint)?;
        let shapes = if self.shapes_match() { "yes".to_string() } else { format!("NO ({} tensors differ)", self.mismatched.len()) };
        writeln!(f, "  same shapes as the zero-shot model: {shapes}")?;
        for m in self.mismatched.iter().take(5) {
            writeln!(f, "    {m}")?;
        }
        writeln!(f, "  changes {} tensors ({} parameters), leaves {} as they are, lacks {}, has {} extra", self.changed.len(), self.changed_parameters, self.unchanged.len(), self.missing.len(), self.extra.len())?;
        let far = if self.is_far() { "  — far from the zero-shot model: is it a fine-tune of it?" } else { "" };
        write!(f, "  ‖θ − θ₀‖/‖θ₀‖ = {:.4}{far}", self.relative_distance)
    }
}

fn host<'a>(t: &'a HostTensor, file: &str, name: &str) -> Result<&'a [f32]> {
    t.as_f32().ok_or_else(|| Error::Tensor { file: file.into(), tensor: name.into(), msg: "values are not on the host (read the checkpoint again)".into() })
}

/// Compares `fine_tuned` with `zero_shot`, tensor by tensor; mismatches are reported, not errors.
pub fn inspect(zero_shot: &Checkpoint, fine_tuned: &Checkpoint) -> Result<FineTuneReport> {
    let mut r = FineTuneReport { checkpoint: fine_tuned.name.clone(), ..Default::default() };
    let (mut diff2, mut base2) = (0f64, 0f64);
    for (name, zs) in &zero_shot.tensors {
        let Some(ft) = fine_tuned.tensors.get(name) else {
            if zs.is_float() {
                r.missing.push(name.clone());
            }
            continue;
        };
        if ft.shape != zs.shape || ft.is_float() != zs.is_float() {
            let kind = |t: &HostTensor| if t.is_float() { shape_str(&t.shape) } else { format!("{} ({})", shape_str(&t.shape), t.file_dtype) };
            r.mismatched.push(format!("{name}: {} in the zero-shot checkpoint vs {}", kind(zs), kind(ft)));
            continue;
        }
        if !zs.is_float() {
            continue;
        }
        let (a, b) = (host(zs, &zero_shot.name, name)?, host(ft, &fine_tuned.name, name)?);
        let mut changed = false;
        for (&x, &y) in a.iter().zip(b) {
            let d = y as f64 - x as f64;
            diff2 += d * d;
            base2 += x as f64 * x as f64;
            changed |= x.to_bits() != y.to_bits();
        }
        if changed {
            r.changed.push(name.clone());
            r.changed_parameters += a.len();
        } else {
            r.unchanged.push(name.clone());
        }
    }
    r.extra = fine_tuned.tensors.keys().filter(|n| !zero_shot.tensors.contains_key(*n)).cloned().collect();
    r.relative_distance = if base2 > 0.0 { (diff2 / base2).sqrt() } else { 0.0 };
    Ok(r)
}

/// τ = θᵢ − θ₀ in f32 over every float tensor both have (zeros included: TIES counts them).
pub fn task_vector(zero_shot: &Checkpoint, fine_tuned: &Checkpoint) -> Result<TensorSet> {
    let mut out = TensorSet::new();
    for (name, zs) in &zero_shot.tensors {
        match fine_tuned.tensors.get(name) {
            Some(ft) if zs.is_float() && ft.is_float() && ft.shape == zs.shape => {
                let (a, b) = (host(zs, &zero_shot.name, name)?, host(ft, &fine_tuned.name, name)?);
                out.insert(name.clone(), b.iter().zip(a).map(|(y, x)| y - x).collect());
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The float tensors θᵢ shares with θ₀, as they are (wise-ft's second end point).
pub fn shared_tensors(zero_shot: &Checkpoint, fine_tuned: &Checkpoint) -> Result<TensorSet> {
    let mut out = TensorSet::new();
    for (name, zs) in &zero_shot.tensors {
        match fine_tuned.tensors.get(name) {
            Some(ft) if zs.is_float() && ft.shape == zs.shape => {
                host(ft, &fine_tuned.name, name)?;
                if let crate::checkpoint::tensor::Values::F32(v) = &ft.values {
                    out.insert(name.clone(), v.clone());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Drops the tensors that are zero everywhere (they change nothing; not storing them is what
/// keeps memory at one tensor set per fine-tune for a vision-only fine-tune).
pub fn drop_zeros(set: &mut TensorSet) {
    set.retain(|_, v| v.iter().any(|&x| x != 0.0));
}
