//! How to choose α: the rules people use, side by side on one sweep (issue 13).
//!
//! Input: for every swept α and every picture, the class probabilities the page shows (softmax
//! over the classes of logit_scale·cosine), for a labelled task set, a shift set with or without
//! labels, and optionally an unlabeled set. Output: what each rule picks and what it costs.
//!
//! - (a) `half`: α = 0.5, the paper's default when nothing else is known.
//! - (b) `task-best`: the best accuracy on the labelled task set (in-distribution).
//! - (c1) `min-entropy`: the lowest mean prediction entropy (−Σ p ln p, averaged over pictures) of
//!   the merged model on the label-free set, as AdaMerging does.
//! - (c2) `agreement-line`: agreement-on-the-line (Baek et al. 2022, ALine-S). "The α that agrees
//!   most with the zero-shot model" would always be α = 0 (a model agrees with itself on every
//!   picture), so instead: over all pairs of swept models, the top-1 agreement on the label-free
//!   set is fitted against the agreement on the task set in probit space; the same line maps each
//!   α's task accuracy to an estimated shift accuracy, and the rule takes the best estimate.
//! - (d) `oracle`: the best accuracy on the shift set, only when its labels exist.
//!
//! The label-free set is the unlabeled pictures when there are any, else the shift set with its
//! labels hidden. The label-free rules use only the sweep's probabilities: no forward passes.
//!
//! Ties (scores within [`TIE`]): the smallest α, the one nearest the zero-shot model — on a plateau
//! of equal task accuracy it keeps the most of the zero-shot model's robustness.
//!
//! Pure functions, native-tested (tests/choose.rs), mirrored by scripts/alpha_rules.py.

pub mod layerwise;
pub mod stats;
mod words;

use serde::Serialize;

use crate::error::{Error, Result};
use stats::{accuracy, agreement, clip, fit_line, mean_entropy, phi, probit};

/// Two scores closer than this are equal (accuracies are multiples of 1/n, far coarser).
pub const TIE: f64 = 1e-9;

/// One set of pictures through the sweep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalSet {
    /// `probs[k][i][c]`: picture `i`'s probability of class `c` at the `k`-th α.
    pub probs: Vec<Vec<Vec<f64>>>,
    /// The true class of each picture, when known.
    pub labels: Option<Vec<usize>>,
}

impl EvalSet {
    pub fn len(&self) -> usize {
        self.probs.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A sweep's probabilities.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepProbs {
    pub alphas: Vec<f64>,
    pub task: EvalSet,
    pub shift: Option<EvalSet>,
    pub unlabeled: Option<EvalSet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Half,
    TaskBest,
    MinEntropy,
    AgreementLine,
    Oracle,
}

impl Rule {
    pub const ALL: [Rule; 5] = [Rule::Half, Rule::TaskBest, Rule::MinEntropy, Rule::AgreementLine, Rule::Oracle];

    /// As the table names it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Half => "α = 0.5",
            Rule::TaskBest => "best on the task set",
            Rule::MinEntropy => "lowest entropy (label-free)",
            Rule::AgreementLine => "agreement-on-the-line (label-free)",
            Rule::Oracle => "oracle (shift labels)",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Rule::Half => "half",
            Rule::TaskBest => "task-best",
            Rule::MinEntropy => "min-entropy",
            Rule::AgreementLine => "agreement-line",
            Rule::Oracle => "oracle",
        }
    }
}

/// Which pictures the label-free rules looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelFree {
    Unlabeled,
    /// The shift set, its labels unused.
    ShiftLabelsHidden,
}

/// The per-α columns the rules read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlphaRow {
    pub alpha: f64,
    pub task_accuracy: f64,
    pub shift_accuracy: Option<f64>,
    /// Mean prediction entropy on the label-free set (nats).
    pub entropy: Option<f64>,
    /// Top-1 agreement with α = 0 on the label-free set (informative: 1 at α = 0 by definition).
    pub agreement_zero_shot: Option<f64>,
    /// Agreement-on-the-line's estimate of the accuracy on the label-free set.
    pub estimated_shift_accuracy: Option<f64>,
}

/// probit(agreement on the label-free set) = slope·probit(agreement on the task set) + intercept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
    pub pairs: usize,
}

/// One rule's pick, or why it has none (`error`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub rule: Rule,
    pub name: String,
    pub alpha: Option<f64>,
    pub task_accuracy: Option<f64>,
    pub shift_accuracy: Option<f64>,
    /// Oracle shift accuracy − this rule's (fraction, ≥ 0), when the shift set has labels.
    pub loss_vs_oracle: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rules {
    pub alphas: Vec<AlphaRow>,
    pub label_free: Option<LabelFree>,
    pub line: Option<Line>,
    pub rules: Vec<RuleResult>,
    /// One sentence for the lecture: which rule would have served this audience best.
    pub verdict: String,
}

impl Rules {
    /// The same rules worded for another swept coefficient (`λ` for a recipe's sweep): they are
    /// functions of whatever value was swept, from 0 (the zero-shot model) up; only their names,
    /// errors and verdict say which.
    pub fn worded_for(mut self, symbol: &str) -> Self {
        if symbol != "α" {
            for r in &mut self.rules {
                r.name = r.name.replace('α', symbol);
                if let Some(e) = &mut r.error {
                    *e = e.replace('α', symbol);
                }
            }
            self.verdict = self.verdict.replace('α', symbol);
        }
        self
    }

    pub fn get(&self, rule: Rule) -> &RuleResult {
        self.rules.iter().find(|r| r.rule == rule).expect("every rule has a row")
    }
}

/// Checks one set's shape: `alphas` steps, the same pictures at each, `classes` entries (≥ 2) per
/// picture, finite probabilities, labels in range. Returns the number of classes.
fn check_set(set: &EvalSet, what: &str, steps: usize, classes: Option<usize>) -> Result<usize> {
    let bad = |m: String| Err(Error::Invalid(format!("α rules: {what}: {m}")));
    if set.probs.len() != steps {
        return bad(format!("{} α steps of probabilities for {steps} α values", set.probs.len()));
    }
    let n = set.len();
    if n == 0 {
        return bad("no pictures".into());
    }
    let c = classes.unwrap_or(set.probs[0][0].len());
    if c < 2 {
        return bad("one class only: every picture is that class, no rule can tell α values apart".into());
    }
    for (k, step) in set.probs.iter().enumerate() {
        if step.len() != n {
            return bad(format!("{} pictures at α step {k}, {n} at the first", step.len()));
        }
        if let Some(i) = step.iter().position(|p| p.len() != c || p.iter().any(|v| !v.is_finite())) {
            return bad(format!("picture {i} at α step {k}: {} probabilities (want {c} finite ones)", step[i].len()));
        }
    }
    if let Some(labels) = &set.labels {
        if labels.len() != n {
            return bad(format!("{} labels for {n} pictures", labels.len()));
        }
        if let Some(i) = labels.iter().position(|&y| y >= c) {
            return bad(format!("picture {i}: label {} of {c} classes", labels[i]));
        }
    }
    Ok(c)
}

/// The index of the best score (`better(a, b)`: a beats b by more than [`TIE`]); among equals the
/// smallest α.
fn pick(alphas: &[f64], scores: &[f64], maximise: bool) -> usize {
    let sign = if maximise { 1.0 } else { -1.0 };
    let top = scores.iter().map(|s| sign * s).fold(f64::NEG_INFINITY, f64::max);
    (0..alphas.len())
        .filter(|&k| sign * scores[k] >= top - TIE)
        .min_by(|&a, &b| alphas[a].total_cmp(&alphas[b]))
        .expect("at least one α")
}

/// Half a picture of slack, so that a set where every pair agrees still has a finite probit.
fn eps(n: usize) -> f64 {
    0.5 / n as f64
}

/// Agreement-on-the-line: the line over all pairs of swept models, and each α's estimate.
fn agreement_line(task: &EvalSet, free: &EvalSet, task_acc: &[f64]) -> Option<(Line, Vec<f64>)> {
    let steps = task.probs.len();
    if steps < 2 {
        return None;
    }
    let (et, eu) = (eps(task.len()), eps(free.len()));
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..steps {
        for j in i + 1..steps {
            x.push(probit(clip(agreement(&task.probs[i], &task.probs[j]), et)));
            y.push(probit(clip(agreement(&free.probs[i], &free.probs[j]), eu)));
        }
    }
    let (slope, intercept) = fit_line(&x, &y);
    let estimates = task_acc.iter().map(|&a| phi(slope * probit(clip(a, et)) + intercept)).collect();
    Some((Line { slope, intercept, pairs: x.len() }, estimates))
}

/// What each rule picks on this sweep. Bad input (no α, an empty or unlabelled task set, one class,
/// ragged probabilities) is an error naming the set; a rule that cannot run here (no label-free
/// set, no shift labels, α = 0.5 not swept) has its `error` instead of a pick.
pub fn choose(data: &SweepProbs) -> Result<Rules> {
    let alphas = &data.alphas;
    if alphas.is_empty() {
        return Err(Error::Invalid("α rules: no α values".into()));
    }
    if let Some(a) = alphas.iter().find(|a| !(0.0..=1.0).contains(*a)) {
        return Err(Error::Invalid(format!("α rules: α = {a} outside [0, 1]")));
    }
    let steps = alphas.len();
    if data.task.is_empty() {
        return Err(Error::Invalid("α rules: the task set is empty: give it labelled pictures".into()));
    }
    let Some(task_labels) = &data.task.labels else {
        return Err(Error::Invalid("α rules: the task set has no labels (the accuracies and rule (b) need them)".into()));
    };
    let c = check_set(&data.task, "task set", steps, None)?;
    let shift = data.shift.as_ref().filter(|s| !s.is_empty());
    let unlabeled = data.unlabeled.as_ref().filter(|s| !s.is_empty());
    if let Some(s) = shift {
        check_set(s, "shift set", steps, Some(c))?;
    }
    if let Some(u) = unlabeled {
        check_set(u, "unlabeled set", steps, Some(c))?;
    }

    let task_acc: Vec<f64> = data.task.probs.iter().map(|p| accuracy(p, task_labels)).collect();
    let shift_acc: Option<Vec<f64>> =
        shift.and_then(|s| s.labels.as_ref().map(|y| s.probs.iter().map(|p| accuracy(p, y)).collect()));
    let (free, label_free) = match (unlabeled, shift) {
        (Some(u), _) => (Some(u), Some(LabelFree::Unlabeled)),
        (None, Some(s)) => (Some(s), Some(LabelFree::ShiftLabelsHidden)),
        (None, None) => (None, None),
    };
    let entropy: Option<Vec<f64>> = free.map(|f| f.probs.iter().map(|p| mean_entropy(p)).collect());
    let zero = alphas.iter().position(|&a| a == 0.0);
    let agree0: Option<Vec<f64>> = free.zip(zero).map(|(f, z)| f.probs.iter().map(|p| agreement(p, &f.probs[z])).collect());
    let aline = free.and_then(|f| agreement_line(&data.task, f, &task_acc));

    let oracle = shift_acc.as_ref().map(|acc| pick(alphas, acc, true));
    let result = |rule: Rule, k: std::result::Result<usize, String>| match k {
        Ok(k) => {
            let shift = shift_acc.as_ref().map(|a| a[k]);
            RuleResult {
                rule,
                name: rule.name().to_string(),
                alpha: Some(alphas[k]),
                task_accuracy: Some(task_acc[k]),
                shift_accuracy: shift,
                loss_vs_oracle: shift.zip(oracle).map(|(s, o)| shift_acc.as_ref().unwrap()[o] - s),
                error: None,
            }
        }
        Err(e) => RuleResult { rule, name: rule.name().to_string(), alpha: None, task_accuracy: None, shift_accuracy: None, loss_vs_oracle: None, error: Some(e) },
    };
    let no_free = || "needs unlabeled pictures or a shift set (their labels are not used)".to_string();
    let rules = vec![
        result(Rule::Half, alphas.iter().position(|&a| (a - 0.5).abs() < TIE).ok_or_else(|| "α = 0.5 is not among the swept α values".to_string())),
        result(Rule::TaskBest, Ok(pick(alphas, &task_acc, true))),
        result(Rule::MinEntropy, entropy.as_ref().map(|e| pick(alphas, e, false)).ok_or_else(no_free)),
        result(
            Rule::AgreementLine,
            match (&aline, free) {
                (Some((_, est)), _) => Ok(pick(alphas, est, true)),
                (None, Some(_)) => Err("needs at least two α values (pairs of models)".into()),
                (None, None) => Err(no_free()),
            },
        ),
        result(Rule::Oracle, oracle.ok_or_else(|| "needs labels on the shift set".to_string())),
    ];
    let rows = (0..steps)
        .map(|k| AlphaRow {
            alpha: alphas[k],
            task_accuracy: task_acc[k],
            shift_accuracy: shift_acc.as_ref().map(|a| a[k]),
            entropy: entropy.as_ref().map(|e| e[k]),
            agreement_zero_shot: agree0.as_ref().map(|a| a[k]),
            estimated_shift_accuracy: aline.as_ref().map(|(_, e)| e[k]),
        })
        .collect();
    let verdict = words::verdict(&rules, label_free);
    Ok(Rules { alphas: rows, label_free, line: aline.map(|(l, _)| l), rules, verdict })
}
