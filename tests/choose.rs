//! The α rules (src/choose): a sweep small enough to check by hand, the bad inputs, and the
//! numpy reference (scripts/alpha_rules.py) on its committed fixture.

use serde_json::Value;
use wiseft::choose::stats::{phi, probit};
use wiseft::choose::{choose, EvalSet, LabelFree, Rule, SweepProbs};

fn set(probs: &[&[[f64; 2]]], labels: Option<&[usize]>) -> EvalSet {
    EvalSet { probs: probs.iter().map(|step| step.iter().map(|p| p.to_vec()).collect()).collect(), labels: labels.map(<[usize]>::to_vec) }
}

/// Three α values, two classes, two task and two shift pictures (the numbers in the comments are
/// the hand computation).
fn by_hand() -> SweepProbs {
    SweepProbs {
        alphas: vec![0.0, 0.5, 1.0],
        // Top-1: [0,0] [0,1] [0,1] → accuracy 0.5, 1, 1.
        task: set(&[&[[0.6, 0.4], [0.7, 0.3]], &[[0.7, 0.3], [0.4, 0.6]], &[[0.8, 0.2], [0.2, 0.8]]], Some(&[0, 1])),
        // Top-1: [1,0] [1,0] [0,0] → accuracy 1, 1, 0.5.
        shift: Some(set(&[&[[0.3, 0.7], [0.9, 0.1]], &[[0.45, 0.55], [0.6, 0.4]], &[[0.9, 0.1], [0.8, 0.2]]], Some(&[1, 0]))),
        unlabeled: None,
    }
}

fn h(p: f64) -> f64 {
    -(p * p.ln() + (1.0 - p) * (1.0 - p).ln())
}

#[test]
fn a_sweep_checked_by_hand() {
    let r = choose(&by_hand()).unwrap();
    assert_eq!(r.label_free, Some(LabelFree::ShiftLabelsHidden));
    let col = |f: fn(&wiseft::choose::AlphaRow) -> Option<f64>| r.alphas.iter().map(f).collect::<Vec<_>>();
    assert_eq!(col(|a| Some(a.task_accuracy)), [Some(0.5), Some(1.0), Some(1.0)]);
    assert_eq!(col(|a| a.shift_accuracy), [Some(1.0), Some(1.0), Some(0.5)]);
    assert_eq!(col(|a| a.agreement_zero_shot), [Some(1.0), Some(1.0), Some(0.5)]);
    let want_h = [(h(0.3) + h(0.9)) / 2.0, (h(0.45) + h(0.6)) / 2.0, (h(0.9) + h(0.8)) / 2.0];
    for (a, w) in r.alphas.iter().zip(want_h) {
        assert!((a.entropy.unwrap() - w).abs() < 1e-15, "entropy at α = {}", a.alpha);
    }
    // Pairs (0, ½), (0, 1), (½, 1): task agreement ½, ½, 1 → clipped to ¾ (ε = half a picture of
    // two); shift agreement 1 → ¾, ½, ½. In probit: x = (0, 0, c), y = (c, 0, 0), c = Φ⁻¹(¾):
    // slope −½, intercept c/2.
    let c = probit(0.75);
    let line = r.line.unwrap();
    assert_eq!(line.pairs, 3);
    assert!((line.slope + 0.5).abs() < 1e-12 && (line.intercept - c / 2.0).abs() < 1e-12, "{line:?}");
    let est = col(|a| a.estimated_shift_accuracy);
    assert!((est[0].unwrap() - phi(c / 2.0)).abs() < 1e-12 && (est[1].unwrap() - 0.5).abs() < 1e-12 && (est[2].unwrap() - 0.5).abs() < 1e-12);

    let got = |rule| {
        let p = r.get(rule);
        (p.alpha, p.task_accuracy, p.shift_accuracy, p.loss_vs_oracle)
    };
    assert_eq!(got(Rule::Half), (Some(0.5), Some(1.0), Some(1.0), Some(0.0)));
    // Task accuracy 1 at α = ½ and 1: the smaller.
    assert_eq!(got(Rule::TaskBest), (Some(0.5), Some(1.0), Some(1.0), Some(0.0)));
    // Entropy lowest at α = 1 (0.413 nats), where the shift set is half wrong.
    assert_eq!(got(Rule::MinEntropy), (Some(1.0), Some(1.0), Some(0.5), Some(0.5)));
    // A negative slope: the lowest task accuracy gets the best estimate.
    assert_eq!(got(Rule::AgreementLine), (Some(0.0), Some(0.5), Some(1.0), Some(0.0)));
    assert_eq!(got(Rule::Oracle), (Some(0.0), Some(0.5), Some(1.0), Some(0.0)));
    assert_eq!(
        r.verdict,
        "For this audience, α = 0.5, best on the task set and agreement-on-the-line (label-free) would have served equally well, \
         and best (α = 0.5 and 0): 100.0% on the shift photos, as good as the oracle (α = 0)."
    );
}

#[test]
fn without_shift_labels_the_oracle_says_why_and_label_free_rules_still_pick() {
    let mut d = by_hand();
    d.shift.as_mut().unwrap().labels = None;
    let r = choose(&d).unwrap();
    assert!(r.get(Rule::Oracle).error.as_deref().unwrap().contains("labels on the shift set"));
    assert_eq!(r.get(Rule::MinEntropy).alpha, Some(1.0));
    assert_eq!(r.get(Rule::MinEntropy).loss_vs_oracle, None);
    assert!(r.verdict.contains("no rule can be scored"), "{}", r.verdict);

    // An unlabeled set takes over from the shift set for the label-free rules.
    d.unlabeled = Some(set(&[&[[0.5, 0.5]], &[[0.9, 0.1]], &[[0.6, 0.4]]], None));
    let r = choose(&d).unwrap();
    assert_eq!(r.label_free, Some(LabelFree::Unlabeled));
    assert_eq!(r.get(Rule::MinEntropy).alpha, Some(0.5));

    // No shift and no unlabeled set: the label-free rules say what they need.
    d.shift = None;
    d.unlabeled = None;
    let r = choose(&d).unwrap();
    for rule in [Rule::MinEntropy, Rule::AgreementLine] {
        assert!(r.get(rule).error.as_deref().unwrap().contains("unlabeled pictures or a shift set"), "{rule:?}");
    }
    assert_eq!(r.get(Rule::TaskBest).alpha, Some(0.5));
}

#[test]
fn bad_inputs_say_what_is_wrong() {
    let err = |d: SweepProbs| choose(&d).unwrap_err().to_string();
    let mut d = by_hand();
    d.alphas.clear();
    assert!(err(d).contains("no α values"));

    let mut d = by_hand();
    d.task = EvalSet { probs: vec![vec![]; 3], labels: Some(vec![]) };
    assert!(err(d).contains("task set is empty"));

    let mut d = by_hand();
    d.task.labels = None;
    assert!(err(d).contains("task set has no labels"));

    let one = |p: f64| vec![vec![p]];
    let d = SweepProbs { alphas: vec![0.0, 1.0], task: EvalSet { probs: vec![one(1.0), one(1.0)], labels: Some(vec![0]) }, ..Default::default() };
    assert!(err(d).contains("one class only"));

    let mut d = by_hand();
    d.shift.as_mut().unwrap().probs[1].pop();
    let e = err(d);
    assert!(e.contains("shift set") && e.contains("1 pictures at α step 1"), "{e}");

    let mut d = by_hand();
    d.task.labels = Some(vec![0, 2]);
    assert!(err(d).contains("label 2 of 2 classes"));

    let mut d = by_hand();
    d.task.probs[0][0][0] = f64::NAN;
    assert!(err(d).contains("finite"));

    // α = 0.5 not swept: that rule alone says so.
    let mut d = by_hand();
    d.alphas[1] = 0.4;
    let r = choose(&d).unwrap();
    assert!(r.get(Rule::Half).error.as_deref().unwrap().contains("not among the swept"));
    // One α: nothing to pair.
    let d = SweepProbs {
        alphas: vec![0.5],
        task: set(&[&[[0.6, 0.4]]], Some(&[0])),
        shift: Some(set(&[&[[0.6, 0.4]]], None)),
        unlabeled: None,
    };
    let r = choose(&d).unwrap();
    assert!(r.get(Rule::AgreementLine).error.as_deref().unwrap().contains("two α values"));
}

fn probs(v: &Value) -> Option<Vec<Vec<Vec<f64>>>> {
    v.as_array().map(|steps| {
        steps.iter().map(|s| s.as_array().unwrap().iter().map(|p| p.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()).collect()
    })
}

fn labels(v: &Value) -> Option<Vec<usize>> {
    v.as_array().map(|l| l.iter().map(|x| x.as_u64().unwrap() as usize).collect())
}

fn close(got: Option<f64>, want: &Value, what: &str, tol: f64) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!((g - w).abs() <= tol, "{what}: Rust {g}, numpy {w}"),
        _ => panic!("{what}: Rust {got:?}, numpy {want}"),
    }
}

#[test]
fn rust_equals_the_numpy_reference() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/choose/rules.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let d = SweepProbs {
            alphas: case["alphas"].as_array().unwrap().iter().map(|a| a.as_f64().unwrap()).collect(),
            task: EvalSet { probs: probs(&case["probs_task"]).unwrap(), labels: labels(&case["labels_task"]) },
            shift: probs(&case["probs_shift"]).map(|p| EvalSet { probs: p, labels: labels(&case["labels_shift"]) }),
            unlabeled: probs(&case["probs_unlabeled"]).map(|p| EvalSet { probs: p, labels: None }),
        };
        let r = choose(&d).unwrap();
        let want = &case["expected"];
        assert_eq!(serde_json::to_value(r.label_free).unwrap(), want["label_free"], "{name}");
        for (got, w) in r.alphas.iter().zip(want["alphas"].as_array().unwrap()) {
            let at = format!("{name}, α = {}", got.alpha);
            close(Some(got.task_accuracy), &w["task_accuracy"], &format!("{at}: task accuracy"), 1e-6);
            close(got.shift_accuracy, &w["shift_accuracy"], &format!("{at}: shift accuracy"), 1e-6);
            close(got.entropy, &w["entropy"], &format!("{at}: entropy"), 1e-6);
            close(got.agreement_zero_shot, &w["agreement_zero_shot"], &format!("{at}: agreement"), 1e-6);
            close(got.estimated_shift_accuracy, &w["estimated_shift_accuracy"], &format!("{at}: ALine estimate"), 1e-6);
        }
        let line = r.line.unwrap();
        close(Some(line.slope), &want["line"]["slope"], &format!("{name}: slope"), 1e-6);
        close(Some(line.intercept), &want["line"]["intercept"], &format!("{name}: intercept"), 1e-6);
        for (got, w) in r.rules.iter().zip(want["rules"].as_array().unwrap()) {
            assert_eq!(got.rule.key(), w["rule"].as_str().unwrap());
            let at = format!("{name}: {}", got.rule.key());
            close(got.alpha, &w["alpha"], &format!("{at}: α"), 1e-9);
            close(got.task_accuracy, &w["task_accuracy"], &format!("{at}: task accuracy"), 1e-6);
            close(got.shift_accuracy, &w["shift_accuracy"], &format!("{at}: shift accuracy"), 1e-6);
            close(got.loss_vs_oracle, &w["loss_vs_oracle"], &format!("{at}: loss"), 1e-6);
        }
    }
}
