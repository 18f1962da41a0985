//! A finished sweep as the α rules read it and as CSV. One CSV for the page's export and
//! `wiseft sweep --csv`, written here so that the two cannot drift apart.
//!
//! Rows, by `kind`: `set` (accuracy per labelled set and α), `photo` (each photo at each α),
//! `alpha` (the label-free columns per α: mean entropy, agreement with α = 0, agreement-on-the-
//! line's estimate) and `rule` (each rule's pick and what it costs, or why it has none). When the
//! photos have named sets (one task of several), a last column `named_set` names them: a `set` row
//! per named set and α, a `best` row per named set and α of its highest accuracy, and each photo
//! row's named set. Without named sets the CSV is as it was before they existed.

use super::sweep_data::{AccuracyPoint, Curve, SweepPhoto, SweepPoint, SweepSet};
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

/// How close to the top an accuracy counts as reaching it (the page's test, www/sweep.js).
const TIE: f64 = 1e-12;

fn curve(set: SweepSet, name: Option<&str>, members: &[usize], photos: &[SweepPhoto], points: &[SweepPoint]) -> Curve {
    let points: Vec<AccuracyPoint> = points
        .iter()
        .map(|point| {
            let correct = members.iter().filter(|&&i| Some(point.scores[i].top) == photos[i].truth()).count();
            let n = members.len();
            AccuracyPoint { alpha: point.alpha, correct, n, accuracy: correct as f64 / n as f64 }
        })
        .collect();
    let top = points.iter().map(|p| p.accuracy).fold(f64::NEG_INFINITY, f64::max);
    let best = points.iter().filter(|p| (p.accuracy - top).abs() < TIE).map(|p| p.alpha).collect();
    let label = name.map_or_else(|| set.name().to_string(), str::to_string);
    Curve { set, name: name.map(str::to_string), label, points, top, best }
}

/// The accuracy curves of a sweep: the task set's and the shift set's (each when it has labelled
/// photos), then one per named set within them, in the order its first photo comes in `photos`.
/// A named set is its set and its name: the same name in both sets is two curves, labelled with
/// their sets. A named set that holds its whole set's labelled photos would draw the set's curve
/// again, so it is left out.
pub fn curves(photos: &[SweepPhoto], points: &[SweepPoint]) -> Vec<Curve> {
    let mut out = Vec::new();
    let mut whole = Vec::new();
    for set in [SweepSet::Task, SweepSet::Shift] {
        let members: Vec<usize> = (0..photos.len()).filter(|&i| photos[i].counted_in() == set).collect();
        whole.push((set, members.len()));
        if !members.is_empty() {
            out.push(curve(set, None, &members, photos, points));
        }
    }
    let mut named: Vec<(SweepSet, &str)> = Vec::new();
    for p in photos {
        let set = p.counted_in();
        if let (Some(name), true) = (p.group.as_deref(), set != SweepSet::Unlabeled) {
            if !named.contains(&(set, name)) {
                named.push((set, name));
            }
        }
    }
    let mut kept = Vec::new();
    for (set, name) in named {
        let members: Vec<usize> = (0..photos.len()).filter(|&i| photos[i].counted_in() == set && photos[i].group.as_deref() == Some(name)).collect();
        let of_set = whole.iter().find(|(s, _)| *s == set).map_or(0, |(_, n)| *n);
        if members.len() < of_set {
            kept.push(curve(set, Some(name), &members, photos, points));
        }
    }
    let names: Vec<Option<String>> = kept.iter().map(|c| c.name.clone()).collect();
    for c in &mut kept {
        if names.iter().filter(|n| **n == c.name).count() > 1 {
            c.label = format!("{} ({})", c.label, c.set.name());
        }
    }
    out.extend(kept);
    out
}

const HEADER: [&str; 18] = [
    "kind", "alpha", "set", "accuracy", "correct", "n", "photo", "true_label", "predicted", "p_true", "entropy",
    "agreement_zero_shot", "estimated_accuracy", "rule", "task_accuracy", "shift_accuracy", "loss_vs_oracle", "note",
];

/// The column that names a row's named set, after [`HEADER`]'s, present only when the sweep has named sets.
const NAMED_SET: &str = "named_set";

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

/// A row from (column, value) pairs; the other columns empty. `named`: whether the CSV has the
/// named-set column.
fn row(named: bool, cells: &[(&str, String)]) -> String {
    let columns = HEADER.iter().copied().chain(named.then_some(NAMED_SET));
    let line: Vec<String> = columns.map(|h| cells.iter().find(|(c, _)| *c == h).map(|(_, v)| quote(v)).unwrap_or_default()).collect();
    line.join(",")
}

/// The CSV of a sweep: `names[i]` is the name of `photos[i]`; `curves` is [`curves`] of the same
/// photos and points.
pub fn csv(labels: &[String], photos: &[SweepPhoto], names: &[&str], points: &[SweepPoint], curves: &[Curve], rules: Option<&Rules>) -> String {
    let named = curves.iter().any(|c| c.name.is_some());
    let row = |cells: &[(&str, String)]| row(named, cells);
    let mut out = vec![if named { format!("{},{NAMED_SET}", HEADER.join(",")) } else { HEADER.join(",") }];
    // One curve's point as a row of `kind`.
    let point_row = |kind: &str, c: &Curve, p: &AccuracyPoint| {
        row(&[
            ("kind", kind.into()),
            ("alpha", p.alpha.to_string()),
            ("set", c.set.name().into()),
            ("accuracy", p.accuracy.to_string()),
            ("correct", p.correct.to_string()),
            ("n", p.n.to_string()),
            (NAMED_SET, c.name.clone().unwrap_or_default()),
        ])
    };
    for c in curves {
        out.extend(c.points.iter().map(|p| point_row("set", c, p)));
    }
    // Where each named set's curve peaks (the whole sets' peaks are the rules' oracle rows).
    for c in curves.iter().filter(|c| c.name.is_some()) {
        out.extend(c.points.iter().filter(|p| c.best.contains(&p.alpha)).map(|p| point_row("best", c, p)));
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
                    (NAMED_SET, photos[i].group.clone().filter(|_| set != SweepSet::Unlabeled).unwrap_or_default()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sweep_data::SweepScore;

    fn a(v: f64) -> Alpha {
        Alpha::new(v).unwrap()
    }

    /// A point at `alpha` where photo i's top label is `tops[i]`.
    fn point(alpha: f64, tops: &[usize]) -> SweepPoint {
        let scores = tops.iter().enumerate().map(|(i, &top)| SweepScore { image: i as u32, predicted: format!("l{top}"), top, p_true: None }).collect();
        SweepPoint { alpha: a(alpha), scores }
    }

    /// (correct, n) per point of a curve.
    fn counts(c: &Curve) -> Vec<(usize, usize)> {
        c.points.iter().map(|p| (p.correct, p.n)).collect()
    }

    /// Two named sets in the task set, the name `a` in both sets, a shift photo in no named set,
    /// and an unlabeled photo whose named set does not count.
    fn two_named_sets() -> (Vec<SweepPhoto>, Vec<SweepPoint>) {
        let (t, s) = (SweepSet::Task, SweepSet::Shift);
        let photos = vec![
            SweepPhoto::new(0, Some(0), t).in_group("a"),
            SweepPhoto::new(1, Some(1), t).in_group("a"),
            SweepPhoto::new(2, Some(2), t).in_group("b"),
            SweepPhoto::new(3, Some(0), s).in_group("a"),
            SweepPhoto::new(4, Some(1), s).in_group("c"),
            SweepPhoto::new(5, Some(1), s),
            SweepPhoto::new(6, None, t).in_group("a"),
        ];
        // Top labels per photo at α = 0 and α = 1.
        let points = vec![point(0.0, &[0, 0, 2, 0, 0, 1, 0]), point(1.0, &[0, 1, 0, 1, 0, 1, 2])];
        (photos, points)
    }

    #[test]
    fn each_named_set_is_counted_per_set_and_point() {
        let (photos, points) = two_named_sets();
        let curves = curves(&photos, &points);
        let id: Vec<(SweepSet, Option<&str>, &str)> = curves.iter().map(|c| (c.set, c.name.as_deref(), c.label.as_str())).collect();
        assert_eq!(
            id,
            [
                (SweepSet::Task, None, "fine-tuning task"),
                (SweepSet::Shift, None, "everything else"),
                (SweepSet::Task, Some("a"), "a (fine-tuning task)"),
                (SweepSet::Task, Some("b"), "b"),
                (SweepSet::Shift, Some("a"), "a (everything else)"),
                (SweepSet::Shift, Some("c"), "c"),
            ]
        );
        // By hand from the top labels above: task = photos 0, 1, 2 (labels 0, 1, 2); shift = 3, 4, 5
        // (labels 0, 1, 1); photo 6 has no label.
        assert_eq!(counts(&curves[0]), [(2, 3), (2, 3)], "task: photos 0 and 2 right at α = 0, 0 and 1 at α = 1");
        assert_eq!(counts(&curves[1]), [(2, 3), (1, 3)], "shift: 3 and 5, then only 5");
        assert_eq!(counts(&curves[2]), [(1, 2), (2, 2)], "task · a: photo 0, then 0 and 1");
        assert_eq!(counts(&curves[3]), [(1, 1), (0, 1)], "task · b: photo 2 at α = 0 only");
        assert_eq!(counts(&curves[4]), [(1, 1), (0, 1)], "shift · a: photo 3 at α = 0 only");
        assert_eq!(counts(&curves[5]), [(0, 1), (0, 1)], "shift · c: photo 4 never");
        assert_eq!(curves[2].points[0].accuracy, 0.5);
        let best: Vec<(f64, Vec<Alpha>)> = curves.iter().map(|c| (c.top, c.best.clone())).collect();
        assert_eq!(best[0], (2.0 / 3.0, vec![a(0.0), a(1.0)]), "a tie lists both");
        assert_eq!(best[2], (1.0, vec![a(1.0)]));
        assert_eq!(best[3], (1.0, vec![a(0.0)]));
        assert_eq!(best[5], (0.0, vec![a(0.0), a(1.0)]));
    }

    #[test]
    fn a_named_set_that_is_its_whole_set_is_left_out() {
        let (t, s) = (SweepSet::Task, SweepSet::Shift);
        // Task: all in `x` (its whole set); shift: `a` is one of two photos; the unlabeled photo in
        // `x` does not make `x` smaller than the task set.
        let photos = vec![
            SweepPhoto::new(0, Some(0), t).in_group("x"),
            SweepPhoto::new(1, Some(1), t).in_group("x"),
            SweepPhoto::new(2, Some(0), s).in_group("x"),
            SweepPhoto::new(3, Some(1), s),
        ];
        let points = vec![point(0.0, &[0, 0, 0, 0])];
        let curves = curves(&photos, &points);
        let id: Vec<(SweepSet, Option<&str>, &str)> = curves.iter().map(|c| (c.set, c.name.as_deref(), c.label.as_str())).collect();
        // The shift set's `x` is the only `x` drawn: no set in its label.
        assert_eq!(id, [(SweepSet::Task, None, "fine-tuning task"), (SweepSet::Shift, None, "everything else"), (SweepSet::Shift, Some("x"), "x")]);
        // Every named set is its whole set: no named curves, and the CSV is as without named sets.
        let photos: Vec<SweepPhoto> = photos.into_iter().map(|p| if p.set == t { p } else { SweepPhoto { group: None, ..p } }).collect();
        let curves = super::curves(&photos, &points);
        assert!(curves.iter().all(|c| c.name.is_none()), "{curves:?}");
        let labels = ["l0".to_string(), "l1".to_string()];
        let csv = csv(&labels, &photos, &["p0", "p1", "p2", "p3"], &points, &curves, None);
        let plain: Vec<SweepPhoto> = photos.iter().map(|p| SweepPhoto { group: None, ..p.clone() }).collect();
        assert_eq!(csv, super::csv(&labels, &plain, &["p0", "p1", "p2", "p3"], &points, &super::curves(&plain, &points), None));
        assert_eq!(csv.lines().next().unwrap(), HEADER.join(","));
    }

    #[test]
    fn the_csv_has_the_named_sets_rows_and_their_best() {
        let (photos, points) = two_named_sets();
        let curves = curves(&photos, &points);
        let labels: Vec<String> = (0..3).map(|l| format!("l{l}")).collect();
        let names = ["p0", "p1", "p2", "p3", "p4", "p5", "p6"];
        let csv = csv(&labels, &photos, &names, &points, &curves, None);
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), format!("{},named_set", HEADER.join(",")));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert!(rows.iter().all(|r| r.len() == HEADER.len() + 1), "every row has the column");
        let named = HEADER.len();
        let of = |kind: &str| rows.iter().filter(|r| r[0] == kind).collect::<Vec<_>>();
        // kind, alpha, set, accuracy, correct, n, …, named_set
        let short = |r: &Vec<&str>| format!("{} {} {} {}/{} {}", r[1], r[2], r[3], r[4], r[5], r[named]);
        let sets: Vec<String> = of("set").iter().map(|r| short(r)).collect();
        assert_eq!(sets.len(), 6 * 2);
        assert_eq!(sets[0], format!("0 fine-tuning task {} 2/3 ", 2.0 / 3.0));
        assert_eq!(sets[4..8], ["0 fine-tuning task 0.5 1/2 a", "1 fine-tuning task 1 2/2 a", "0 fine-tuning task 1 1/1 b", "1 fine-tuning task 0 0/1 b"]);
        assert_eq!(sets[8..], ["0 everything else 1 1/1 a", "1 everything else 0 0/1 a", "0 everything else 0 0/1 c", "1 everything else 0 0/1 c"]);
        let best: Vec<String> = of("best").iter().map(|r| short(r)).collect();
        assert_eq!(
            best,
            ["1 fine-tuning task 1 2/2 a", "0 fine-tuning task 1 1/1 b", "0 everything else 1 1/1 a", "0 everything else 0 0/1 c", "1 everything else 0 0/1 c"]
        );
        // Each labelled photo's rows name its named set; the unlabeled one's do not.
        let photo_set: Vec<(&str, &str)> = of("photo").iter().step_by(2).map(|r| (r[6], r[named])).collect();
        assert_eq!(photo_set, [("p0", "a"), ("p1", "a"), ("p2", "b"), ("p3", "a"), ("p4", "c"), ("p5", ""), ("p6", "")]);
    }
}
