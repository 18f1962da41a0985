//! TIES-merging (Yadav et al., 2023): Trim, Elect sign, disjoint merge. Computed once when the
//! checkpoints load; λ then only scales the result (θ = θ₀ + λ·τ_TIES).
//!
//! As in the reference implementation (and FusionBench), each task vector is trimmed over all of
//! its parameters at once — one magnitude threshold per fine-tune, not one per tensor: keep every
//! entry with |τ| ≥ the (d − ⌊d·k/100⌋)-th smallest magnitude, zero the rest. (That is the
//! reference code's `kthvalue` rule, and keeps ⌊d·k/100⌋ + 1 entries when magnitudes are distinct;
//! we follow it rather than fix it, so results match FusionBench's.) The elected sign
//! of a parameter is the sign of the sum of the trimmed values; where that sum is 0, the sign of
//! the sum of all elected signs (the "majority" rule). The merged value is the mean of the trimmed
//! entries that agree with the elected sign; zeros do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::task_vector::TensorSet;

/// The magnitude below which TIES's trim zeroes an entry of `tau` (every entry of one fine-tune's
/// task vector, all tensors together, zeros included): the (d − ⌊d·k/100⌋)-th smallest |τ| of its d
/// entries, as torch.kthvalue finds it; 0 (nothing is below it) when `top_k` keeps them all.
pub fn threshold<T: AsRef<[f32]>>(tau: &BTreeMap<String, T>, top_k: f64) -> f32 {
    let d: usize = tau.values().map(|v| v.as_ref().len()).sum();
    let keep = (d as f64 * top_k / 100.0) as usize;
    if keep >= d || d == 0 {
        return 0.0;
    }
    let mut mags: Vec<f32> = tau.values().flat_map(|v| v.as_ref().iter().map(|x| x.abs())).collect();
    let rank = (d - keep).max(1) - 1;
    let (_, &mut t, _) = mags.select_nth_unstable_by(rank, f32::total_cmp);
    t
}

/// An entry after the trim at `threshold`: zero below it, itself otherwise.
fn trimmed(x: f32, threshold: f32) -> f32 {
    if x.abs() < threshold {
        0.0
    } else {
        x
    }
}

/// The merged task vector of `taus` (each a fine-tune's tensors, untrimmed; a tensor a fine-tune
/// lacks is zero there), each trimmed at its own `thresholds` entry ([`threshold`]) as it is read —
/// so the fine-tunes' vectors are held once, untrimmed, and can also be inputs of their own.
/// Tensors zero everywhere are left out.
pub fn merge<T: AsRef<[f32]>>(taus: &[BTreeMap<String, T>], thresholds: &[f32]) -> TensorSet {
    assert_eq!(taus.len(), thresholds.len(), "one trim threshold per task vector");
    let names: BTreeSet<&String> = taus.iter().flat_map(|t| t.keys()).collect();
    // Elect: sign of the sum per parameter, then the global majority sign for the ties at 0.
    let mut signs: Vec<(&String, Vec<i8>)> = Vec::with_capacity(names.len());
    let mut total: i64 = 0;
    for name in &names {
        let len = taus.iter().find_map(|t| t.get(*name)).map_or(0, |v| v.as_ref().len());
        let mut sum = vec![0f64; len];
        for (t, &cut) in taus.iter().zip(thresholds) {
            if let Some(v) = t.get(*name) {
                for (s, &x) in sum.iter_mut().zip(v.as_ref()) {
                    *s += trimmed(x, cut) as f64;
                }
            }
        }
        let sign: Vec<i8> = sum.iter().map(|&s| if s > 0.0 { 1 } else if s < 0.0 { -1 } else { 0 }).collect();
        total += sign.iter().map(|&s| s as i64).sum::<i64>();
        signs.push((name, sign));
    }
    let majority: i8 = if total > 0 { 1 } else if total < 0 { -1 } else { 0 };
    // Disjoint mean of the entries that agree with the elected sign.
    let mut out = TensorSet::new();
    for (name, sign) in signs {
        // The inputs that have this tensor, looked up once (not per element).
        let values: Vec<(&[f32], f32)> = taus.iter().zip(thresholds).filter_map(|(t, &cut)| t.get(name).map(|v| (v.as_ref(), cut))).collect();
        let mut merged = vec![0f32; sign.len()];
        for (j, m) in merged.iter_mut().enumerate() {
            let s = if sign[j] == 0 { majority } else { sign[j] };
            let (mut sum, mut count) = (0f64, 0u32);
            for &(v, cut) in &values {
                let x = trimmed(v[j], cut);
                if (s > 0 && x > 0.0) || (s < 0 && x < 0.0) {
                    sum += x as f64;
                    count += 1;
                }
            }
            *m = (sum / count.max(1) as f64) as f32;
        }
        if merged.iter().any(|&x| x != 0.0) {
            out.insert(name.clone(), Arc::from(merged));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn set(v: &[f32]) -> BTreeMap<String, Vec<f32>> {
        BTreeMap::from([("w".to_string(), v.to_vec())])
    }

    #[test]
    fn trims_globally_keeping_ties_at_the_threshold() {
        let t = BTreeMap::from([("a".to_string(), vec![0.1, -0.5, 0.2]), ("b".to_string(), vec![0.5, -0.05])]);
        // k = 40 % of 5 = 2; the threshold is the 3rd smallest magnitude (0.2): 3 entries stay.
        let cut = threshold(&t, 40.0);
        assert_eq!(cut, 0.2);
        let kept = |v: &[f32]| v.iter().map(|&x| trimmed(x, cut)).collect::<Vec<_>>();
        assert_eq!(kept(&t["a"]), vec![0.0, -0.5, 0.2]);
        assert_eq!(kept(&t["b"]), vec![0.5, 0.0]);
        assert_eq!(threshold(&set(&[1.0, -2.0]), 100.0), 0.0, "k = 100 % trims nothing");
    }

    #[test]
    fn elects_signs_and_averages_the_agreeing_entries() {
        let taus = [set(&[0.3, 0.2, 0.0, -1.0]), set(&[-0.1, 0.4, 0.0, 1.0]), set(&[0.0, 0.0, 0.0, 0.5])];
        let m = merge(&taus, &[0.0; 3]);
        // + elected (0.2); mean of {0.2, 0.4}; all zero; + elected (0.5), mean of {1.0, 0.5}.
        assert_eq!(&*m["w"], &[0.3, 0.3f32, 0.0, 0.75][..]);
    }

    #[test]
    fn trims_each_vector_at_its_own_threshold_as_it_reads_it() {
        // The second vector trimmed at 0.5 loses its −0.4, so the first one's +0.3 elects + alone.
        let taus = [set(&[0.3, 0.2]), set(&[-0.4, 0.6])];
        let m = merge(&taus, &[0.0, 0.5]);
        assert_eq!(&*m["w"], &[0.3, 0.4f32][..], "+ elected where the untrimmed sum −0.1 elects −");
        assert_eq!(&*merge(&taus, &[0.0, 0.0])["w"], &[-0.4, 0.4f32][..], "untrimmed: − elected, then the mean of {{0.2, 0.6}}");
    }
}
