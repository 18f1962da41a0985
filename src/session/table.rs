//! A finished sweep as the α rules read it and as CSV. One CSV for the page's export and
//! `wiseft sweep --csv`, written here so that the two cannot drift apart.
//!
//! Rows, by `kind`: `set` (accuracy per labelled set and α), `photo` (each photo at each α),
//! `alpha` (the label-free columns per α: mean entropy, agreement with α = 0, agreement-on-the-
//! line's estimate) and `rule` (each rule's pick and what it costs, or why it has none).

use super::sweep_data::{SweepPhoto, SweepPoint, SweepSet};
use crate::choose::{EvalSet, LabelFree, Rules, SweepProbs};
use crate::merge::Alpha;

/// The sweep's probabilities split by set, in f64, for [`crate::choose::choose`].
pub fn rules_input(alphas: &[Alpha], photos: &[SweepPhoto], probs: &[Vec<Vec<f32>>]) -> SweepProbs {
    let set = |which: SweepSet| {
        let members: Vec<usize> = (0..photos.len()).filter(|&i| photos[i].counted_in() == which).collect();
        if members.is_empty() {
            return None;
        }
        let probs = probs.iter().map(|step| members.iter().map(|&i| step[i].iter().map(|&p| p as f64).collect()).collect()).collect();
        let labels = (which != SweepSet::Unlabeled).then(|| members.iter().map(|&i| photos[i].truth().expect("labelled")).collect());
        Some(EvalSet { probs, labels })
    };
    SweepProbs {
        alphas: alphas.iter().map(|a| a.get()).collect(),
        task: set(SweepSet::Task).unwrap_or_default(),
        shift: set(SweepSet::Shift),
        unlabeled: set(SweepSet::Unlabeled),
    }
}

const HEADER: [&str; 18] = [
    "kind", "alpha", "set", "accuracy", "correct", "n", "photo", "true_label", "predicted", "p_true", "entropy",
    "agreement_zero_shot", "estimated_accuracy", "rule", "task_accuracy", "shift_accuracy", "loss_vs_oracle", "note",
];

fn quote(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A row from (column, value) pairs; the other columns empty.
fn row(cells: &[(&str, String)]) -> String {
    let line: Vec<String> = HEADER
        .iter()
        .map(|h| cells.iter().find(|(c, _)| c == h).map(|(_, v)| quote(v)).unwrap_or_default())
        .collect();
    line.join(",")
}

/// The CSV of a sweep: `names[i]` is the name of `photos[i]`.
pub fn csv(labels: &[String], photos: &[SweepPhoto], names: &[&str], points: &[SweepPoint], rules: Option<&Rules>) -> String {
    let mut out = vec![HEADER.join(",")];
    for set in [SweepSet::Task, SweepSet::Shift] {
        let members: Vec<usize> = (0..photos.len()).filter(|&i| photos[i].counted_in() == set).collect();
        if members.is_empty() {
            continue;
        }
        for point in points {
            let correct = members.iter().filter(|&&i| Some(point.scores[i].top) == photos[i].truth()).count();
            let n = members.len();
            out.push(row(&[
                ("kind", "set".into()),
                ("alpha", point.alpha.to_string()),
                ("set", set.name().into()),
                ("accuracy", (correct as f64 / n as f64).to_string()),
                ("correct", correct.to_string()),
                ("n", n.to_string()),
            ]));
        }
    }
    for set in SweepSet::ALL {
        for i in (0..photos.len()).filter(|&i| photos[i].counted_in() == set) {
            for point in points {
                let s = &point.scores[i];
                out.push(row(&[
                    ("kind", "photo".into()),
                    ("alpha", point.alpha.to_string()),
                    ("set", set.name().into()),
                    ("photo", names[i].into()),
                    ("true_label", photos[i].truth().map(|l| labels[l].clone()).unwrap_or_default()),
                    ("predicted", s.predicted.clone()),
                    ("p_true", s.p_true.map(|p| p.to_string()).unwrap_or_default()),
                ]));
            }
        }
    }
    if let Some(rules) = rules {
        let free = match rules.label_free {
            Some(LabelFree::Unlabeled) => SweepSet::Unlabeled.name(),
            Some(LabelFree::ShiftLabelsHidden) => SweepSet::Shift.name(),
            None => "",
        };
        for a in rules.alphas.iter().filter(|_| rules.label_free.is_some()) {
            out.push(row(&[
                ("kind", "alpha".into()),
                ("alpha", a.alpha.to_string()),
                ("set", free.into()),
                ("entropy", opt(a.entropy)),
                ("agreement_zero_shot", opt(a.agreement_zero_shot)),
                ("estimated_accuracy", opt(a.estimated_shift_accuracy)),
            ]));
        }
        for r in &rules.rules {
            out.push(row(&[
                ("kind", "rule".into()),
                ("alpha", opt(r.alpha)),
                ("rule", r.rule.key().into()),
                ("task_accuracy", opt(r.task_accuracy)),
                ("shift_accuracy", opt(r.shift_accuracy)),
                ("loss_vs_oracle", opt(r.loss_vs_oracle)),
                ("note", r.error.clone().unwrap_or_else(|| r.name.clone())),
            ]));
        }
    }
    out.join("\n") + "\n"
}
