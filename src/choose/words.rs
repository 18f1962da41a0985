//! The lecture's one sentence: which rule would have served this audience best.

use super::{LabelFree, Rule, RuleResult, TIE};

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn names(list: &[&RuleResult]) -> String {
    let n: Vec<&str> = list.iter().map(|r| r.name.as_str()).collect();
    match n.len() {
        0 => String::new(),
        1 => n[0].to_string(),
        _ => format!("{} and {}", n[..n.len() - 1].join(", "), n[n.len() - 1]),
    }
}

/// With shift labels: the rules (oracle aside) that lose least against the oracle. Without: what
/// the label-free rules pick, since nothing can be scored.
pub fn verdict(rules: &[RuleResult], label_free: Option<LabelFree>) -> String {
    let oracle = rules.iter().find(|r| r.rule == Rule::Oracle).filter(|r| r.alpha.is_some());
    let usable: Vec<&RuleResult> = rules.iter().filter(|r| r.rule != Rule::Oracle && r.alpha.is_some()).collect();
    let Some(oracle) = oracle else {
        let free: Vec<String> = usable
            .iter()
            .filter(|r| matches!(r.rule, Rule::MinEntropy | Rule::AgreementLine))
            .map(|r| format!("{} picks α = {}", r.name, r.alpha.unwrap()))
            .collect();
        let from = match label_free {
            Some(LabelFree::Unlabeled) => "the unlabeled photos",
            _ => "the shift photos",
        };
        return if free.is_empty() {
            "The shift photos carry no labels and there is no label-free set: no rule can be scored here.".into()
        } else {
            format!("The shift photos carry no labels, so no rule can be scored; on {from}, {}.", free.join("; "))
        };
    };
    let loss = |r: &RuleResult| r.loss_vs_oracle.unwrap_or(f64::INFINITY);
    let least = usable.iter().map(|r| loss(r)).fold(f64::INFINITY, f64::min);
    let best: Vec<&RuleResult> = usable.iter().copied().filter(|r| loss(r) <= least + TIE).collect();
    let (oa, os) = (oracle.alpha.unwrap(), oracle.shift_accuracy.unwrap());
    if best.is_empty() {
        return format!("Only the oracle applies here: α = {oa}, {} on the shift set.", pct(os));
    }
    let mut alphas: Vec<String> = best.iter().map(|r| r.alpha.unwrap().to_string()).collect();
    alphas.dedup();
    let at = match alphas.len() {
        1 => format!("α = {}", alphas[0]),
        _ => format!("α = {}", alphas.join(" and ")),
    };
    let shift = best[0].shift_accuracy.unwrap();
    let cost = if least <= TIE {
        format!("as good as the oracle (α = {oa})")
    } else {
        format!("{:.1} points below the oracle (α = {oa}, {})", least * 100.0, pct(os))
    };
    let how = if best.len() == 1 { "best" } else { "equally well, and best" };
    format!("For this audience, {} would have served {how} ({at}): {} on the shift photos, {cost}.", names(&best), pct(shift))
}
