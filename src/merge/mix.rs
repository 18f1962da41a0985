//! Every recipe in one form, so that a coefficient change is one pass: θ = w₀·θ₀ + Σᵢ wᵢ·vᵢ per
//! tensor, where the inputs vᵢ were computed once when the checkpoints loaded ([`Inputs`]) and only
//! the weights w change ([`Mix`]).
//!
//! | method | vᵢ | w₀, wᵢ |
//! |---|---|---|
//! | wise-ft with a schedule | θ₁ | 1 − α(t), α(t) |
//! | task-arithmetic | τᵢ = θᵢ − θ₀ | 1, λ(t) |
//! | average | τᵢ | 1, wᵢ / Σw |
//! | ties | τ₁ … τₙ (when kept), then τ_TIES | 1, (0 … 0,) λ(t) |
//!
//! (A wise-ft recipe with one α takes the two-model path of [`super::MergePlan`], today's merge.)
//! Weights are rounded to f32 once, here, and host and GPU kernel sum the rounded products in the
//! same order: w₀·θ₀ first, then each input in order, both leaving out the inputs of weight 0 — so
//! TIES's fine-tunes' own vectors, there only for the columns that show each fine-tune alone, cost
//! a coefficient change nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::recipe::{Method, Recipe};
use super::schedule::Depths;
use super::task_vector::TensorSet;
use super::Alpha;
use crate::error::{Error, Result};

/// What the merge inputs are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// The fine-tuned weights themselves (wise-ft with a schedule).
    FineTuned,
    /// One task vector per fine-tune.
    TaskVectors,
    /// TIES's merged task vector, trimmed at `top_k` % — the last input, after each fine-tune's own
    /// (untrimmed) task vector where those were kept ([`super::OwnVectors`]).
    Ties { top_k: f64 },
}

/// The merge inputs, computed once at load: one tensor set per input, nothing more.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub kind: Kind,
    /// The checkpoints each input came from, for messages.
    pub labels: Vec<String>,
    pub sets: Vec<TensorSet>,
    /// Layers per tower, counted in θ₀ (not in the inputs: a fine-tune that leaves the last layer
    /// as it was must not move every tensor's depth).
    pub depths: Depths,
}

impl Inputs {
    /// Bytes of f32 values held.
    pub fn bytes(&self) -> u64 {
        self.sets.iter().map(super::task_vector::set_bytes).sum()
    }

    /// How many of the sets, from the first, are one fine-tune's own input each (its task vector,
    /// or for wise-ft θ₁ itself): every set, but TIES's merged vector; none for TIES loaded without
    /// the fine-tunes' own vectors.
    pub fn own(&self) -> usize {
        match self.kind {
            Kind::FineTuned | Kind::TaskVectors => self.sets.len(),
            Kind::Ties { .. } => self.sets.len().saturating_sub(1),
        }
    }

    /// The method the inputs were made for agrees with `recipe` (its λ / weights may differ; a
    /// different k or other checkpoints need a new load).
    fn fits(&self, recipe: &Recipe) -> Result<()> {
        let ok = match (self.kind, recipe.method) {
            (Kind::FineTuned, Method::WiseFt) => true,
            (Kind::TaskVectors, Method::TaskArithmetic | Method::Average) => true,
            (Kind::Ties { top_k }, Method::Ties) => top_k == recipe.top_k,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "recipe `{}`: the loaded merge inputs are {:?}; changing the method or TIES's k needs the checkpoints merged again",
                recipe.method.key(),
                self.kind
            )))
        }
    }
}

/// The weights (w₀, w₁ … wₙ) of every combined tensor at one setting of the coefficients.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mix {
    pub weights: BTreeMap<String, Vec<f32>>,
}

impl Mix {
    /// The weights of `recipe` for every tensor some input has, each at its depth.
    pub fn new(recipe: &Recipe, inputs: &Inputs) -> Result<Self> {
        recipe.check()?;
        inputs.fits(recipe)?;
        let n = inputs.sets.len();
        let names: std::collections::BTreeSet<&String> = inputs.sets.iter().flat_map(|s| s.keys()).collect();
        let depths = &inputs.depths;
        let soup = if recipe.method == Method::Average { recipe.soup_coefficients(n)? } else { Vec::new() };
        let weights = names
            .into_iter()
            .map(|name| {
                let t = depths.of(name);
                let w: Vec<f32> = match recipe.method {
                    Method::WiseFt => wise_ft_weights(recipe, name, t)?,
                    Method::TaskArithmetic => {
                        let l = recipe.lambda.at(name, t) as f32;
                        std::iter::once(1.0).chain(std::iter::repeat_n(l, n)).collect()
                    }
                    // λ on the merged vector (the last set); the fine-tunes' own vectors at 0.
                    Method::Ties => {
                        let l = recipe.lambda.at(name, t) as f32;
                        std::iter::once(1.0).chain(std::iter::repeat_n(0.0, n - 1)).chain([l]).collect()
                    }
                    Method::Average => std::iter::once(1.0).chain(soup.iter().map(|&c| c as f32)).collect(),
                };
                Ok((name.clone(), w))
            })
            .collect::<Result<_>>()?;
        Ok(Self { weights })
    }

    /// A wise-ft recipe's α schedule over a two-model pair: (1 − α(t), α(t)) for each of `names`
    /// (the tensors the pair interpolates), `t` its depth — the fine-tune is the one input, so a
    /// per-layer α needs no merge inputs beyond the two checkpoints the pair already holds.
    pub fn wise_ft<'a>(recipe: &Recipe, names: impl IntoIterator<Item = &'a String>, depths: &Depths) -> Result<Self> {
        recipe.check()?;
        if recipe.method != Method::WiseFt {
            return Err(Error::Invalid(format!("recipe `{}`: a two-model pair takes only wise-ft schedules; load the recipe's checkpoints", recipe.method.key())));
        }
        let weights = names.into_iter().map(|name| Ok((name.clone(), wise_ft_weights(recipe, name, depths.of(name))?))).collect::<Result<_>>()?;
        Ok(Self { weights })
    }
}

/// (1 − α, α) of `name` at depth `t`, rounded as [`Alpha::weights`] rounds them, so that a flat
/// schedule is today's lerp bit for bit.
fn wise_ft_weights(recipe: &Recipe, name: &str, t: f64) -> Result<Vec<f32>> {
    let (wa, wb) = Alpha::new(recipe.alpha.at(name, t))?.weights();
    Ok(vec![wa, wb])
}

/// Where the merged model is: an α of the two-model merge, or weights of a recipe's inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    Alpha(Alpha),
    Mix(Arc<Mix>),
}

/// Values processed per block of [`combine_into`]: each input streams through once per block,
/// small enough to stay in cache between the passes over it.
const BLOCK: usize = 4096;

/// out = w₀·base + Σᵢ wᵢ·termsᵢ in f32, each product rounded, summed left to right — the order of
/// the GPU kernel (combine.wgsl), so host and device merges agree.
pub fn combine_into(base: &[f32], w0: f32, terms: &[(&[f32], f32)], out: &mut [f32]) {
    // A term of weight 0 is not read. For finite values that is exact — x + 0·v = x (only a −0
    // would have become +0, an equal value); an infinite or NaN v would have made the sum NaN —
    // and the inputs a point weighs 0 (TIES's fine-tunes' own vectors at its merged point, the
    // other fine-tunes at one fine-tune's point) then cost no pass over memory. The GPU kernel
    // (combine.wgsl) skips them alike, so host and device still agree.
    let terms: Vec<(&[f32], f32)> = terms.iter().copied().filter(|&(_, w)| w != 0.0).collect();
    crate::parallel::chunks(out, |first, part| {
        for (start, o) in (first..).step_by(BLOCK).zip(part.chunks_mut(BLOCK)) {
            let end = start + o.len();
            for (o, &x) in o.iter_mut().zip(&base[start..end]) {
                *o = w0 * x;
            }
            for (v, w) in &terms {
                for (o, &x) in o.iter_mut().zip(&v[start..end]) {
                    *o += w * x;
                }
            }
        }
    });
}

/// [`combine_into`] into a new shared buffer, written once.
pub fn combine_shared(base: &[f32], w0: f32, terms: &[(&[f32], f32)]) -> Arc<[f32]> {
    let mut out: Arc<[f32]> = Arc::from(vec![0f32; base.len()]);
    combine_into(base, w0, terms, Arc::get_mut(&mut out).expect("a new Arc has no other owner"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input of weight 0 is not read: NaN and ∞ in it (which 0·v would turn into NaN) leave the
    /// sum of the others untouched, bit for bit.
    #[test]
    fn inputs_at_weight_zero_are_not_read() {
        let base: Vec<f32> = (0..9_000).map(|i| (i as f32 * 0.37).sin()).collect();
        let tau: Vec<f32> = (0..9_000).map(|i| (i as f32 * 0.11).cos()).collect();
        let poison: Vec<f32> = (0..9_000).map(|i| if i % 2 == 0 { f32::NAN } else { f32::INFINITY }).collect();
        let want = combine_shared(&base, 1.0, &[(&tau, 0.3)]);
        let got = combine_shared(&base, 1.0, &[(&poison, 0.0), (&tau, 0.3), (&poison, 0.0)]);
        assert!(want.iter().zip(got.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn two_inputs_at_alpha_weights_are_the_lerp_bit_for_bit() {
        let a: Vec<f32> = (0..10_000).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..10_000).map(|i| (i as f32 * 0.11).cos()).collect();
        let alpha = Alpha::new(0.35).unwrap();
        let (wa, wb) = alpha.weights();
        let mut want = vec![0f32; a.len()];
        super::super::lerp(&a, &b, alpha, &mut want);
        let got = combine_shared(&a, wa, &[(&b, wb)]);
        assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()));
    }

    #[test]
    fn threads_do_not_change_a_bit_of_the_merge() {
        let n = 300_001;
        let base: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let t1: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let t2: Vec<f32> = (0..n).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
        let alpha = Alpha::new(0.35).unwrap();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| (combine_shared(&base, 0.4, &[(&t1, 0.3), (&t2, -1.25)]), super::super::lerp_shared(&base, &t1, alpha)))
        };
        let (c1, l1) = on(1);
        let (c3, l3) = on(3);
        let same = |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same(&c1, &c3), "combine differs on 3 threads");
        assert!(same(&l1, &l3), "lerp differs on 3 threads");
        let mut want = vec![0f32; n];
        super::super::lerp(&base, &t1, alpha, &mut want);
        assert!(same(&l3, &want), "the threaded lerp is not the sequential lerp");
    }
}
