//! The layer-wise, label-free α search (src/choose/layerwise.rs): the optimiser on functions whose
//! minimum is known, and the entropy objective on the offline world's pair against the two-model
//! merge it must equal when every knot is the same α.

use std::path::PathBuf;

use pollster::block_on;
use std::time::Instant;
use wiseft::checkpoint::Checkpoint;
use wiseft::choose::layerwise::{self, coordinate_descent, EntropyOnPhotos, Objective, Outcome, Search, Step};
use wiseft::choose::stats::mean_entropy;
use wiseft::clip::preprocess;
use wiseft::engine::Device;
use wiseft::merge::{load_recipe, Alpha, ModelPair};
use wiseft::pipeline::WiseFt;
use wiseft::Result;

fn clock() -> f64 {
    thread_local!(static EPOCH: Instant = Instant::now());
    EPOCH.with(|e| e.elapsed().as_secs_f64())
}

/// Σ (kᵢ − tᵢ)², counting its calls.
struct Bowl {
    target: Vec<f64>,
    calls: usize,
}

impl Objective for Bowl {
    async fn value(&mut self, knots: &[f64]) -> Result<f64> {
        self.calls += 1;
        Ok(knots.iter().zip(&self.target).map(|(k, t)| (k - t) * (k - t)).sum())
    }
}

#[test]
fn coordinate_descent_finds_a_separable_minimum_on_the_grid() {
    let search = Search::default();
    let mut bowl = Bowl { target: vec![0.2, 0.7, 0.4], calls: 0 };
    let Outcome::Done(found) = block_on(coordinate_descent(&mut bowl, 0.5, &search, &clock, |_| Step::Continue)).unwrap() else { panic!("not cancelled") };
    for (k, t) in found.knots.iter().zip(&bowl.target) {
        assert!((k - t).abs() < 1e-9, "knots {:?}, want {:?}", found.knots, bowl.target);
    }
    assert!(found.value < 1e-18);
    assert_eq!(found.start.knots, vec![0.5; 3]);
    assert_eq!(bowl.calls, found.evaluations.len());
    // From a grid value, round 1 moves every knot and round 2 confirms nothing moves: the other
    // 10 grid values of each of 3 knots, twice, after the start.
    assert_eq!(bowl.calls, 1 + 2 * 3 * 10);
    assert!(bowl.calls <= search.max_evaluations());
}

#[test]
fn a_search_can_be_cancelled_and_bad_settings_are_errors() {
    let mut bowl = Bowl { target: vec![0.0, 1.0], calls: 0 };
    let search = Search { knots: 2, ..Search::default() };
    let mut seen = 0;
    let outcome = block_on(coordinate_descent(&mut bowl, 0.5, &search, &clock, |p| {
        seen += 1;
        assert!(p.done <= p.most);
        if p.done == 3 { Step::Cancel } else { Step::Continue }
    }))
    .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!((bowl.calls, seen), (3, 3), "stops right after the evaluation that was cancelled");
    for bad in [Search { knots: 1, ..Search::default() }, Search { grid: vec![], ..Search::default() }, Search { grid: vec![0.5, 1.5], ..Search::default() }, Search { rounds: 0, ..Search::default() }] {
        let e = block_on(coordinate_descent(&mut bowl, 0.5, &bad, &clock, |_| Step::Continue)).unwrap_err();
        assert!(e.to_string().contains("layer-wise search"), "{e}");
    }
}

fn toy(rel: &str) -> Checkpoint {
    Checkpoint::open(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/models/toy").join(rel)).unwrap()
}

/// The shipped shift samples, one per label folder and style up to `n`, preprocessed.
fn unlabeled(pair: &ModelPair, n: usize) -> Vec<Vec<f32>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/samples/toy/shift");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().map(|f| f.unwrap().path())).collect();
    files.sort();
    let prep = pair.preprocess();
    files.iter().step_by(files.len().div_ceil(n)).map(|f| preprocess::preprocess(&std::fs::read(f).unwrap(), "sample", &prep).unwrap()).collect()
}

#[test]
fn entropy_over_equal_knots_is_the_two_model_merge_and_the_search_never_ends_worse() {
    let labels: Vec<String> = ["circle", "square", "triangle", "star", "cross", "heart", "ring", "moon"].map(String::from).to_vec();
    let templates = vec!["a photo of a {}.".to_string()];
    let search = Search { knots: 2, grid: vec![0.0, 0.25, 0.5, 0.75, 1.0], rounds: 1 };

    let loaded = load_recipe(&layerwise::recipe(&[0.5; 2]), toy("zs"), vec![toy("ft")]).unwrap();
    let images = unlabeled(&loaded.pair, 16);
    assert!(images.len() >= 12);
    let mut model = block_on(WiseFt::at(loaded.pair, loaded.point, Device::Cpu)).unwrap();

    let mut pair_model = block_on(WiseFt::new(ModelPair::new(toy("zs"), Some(toy("ft"))).unwrap(), Alpha::HALF, Device::Cpu)).unwrap();
    for a in [0.0, 0.25, 1.0] {
        pair_model.set_alpha(Alpha::new(a).unwrap()).unwrap();
        let probs = block_on(pair_model.classify(&images, &labels, &templates)).unwrap();
        let want = mean_entropy(&probs.iter().map(|p| p.iter().map(|&x| f64::from(x)).collect()).collect::<Vec<_>>());
        let got = block_on(EntropyOnPhotos::new(&mut model, &images, &labels, &templates).unwrap().value(&[a, a])).unwrap();
        assert!((got - want).abs() < 1e-5, "α = {a}: layer-wise {got}, two-model {want}");
    }

    let mut objective = EntropyOnPhotos::new(&mut model, &images, &labels, &templates).unwrap();
    let Outcome::Done(found) = block_on(coordinate_descent(&mut objective, 0.5, &search, &clock, |_| Step::Continue)).unwrap() else { panic!() };
    assert!(found.value <= found.start.value);
    assert!(found.evaluations.len() <= search.max_evaluations());
    let best = found.evaluations.iter().map(|e| e.value).fold(f64::INFINITY, f64::min);
    assert_eq!(found.value, best, "the result is the best evaluation");
    let estimate = layerwise::estimate_vit_b32_seconds(&model.pair, found.seconds / found.evaluations.len() as f64, &search);
    assert!(estimate > found.seconds, "ViT-B/32 is far bigger than the toy model");

    // A model loaded for a single α cannot be scheduled; no photos, or one label, say so.
    assert!(EntropyOnPhotos::new(&mut pair_model, &images, &labels, &templates).is_err());
    assert!(EntropyOnPhotos::new(&mut model, &[], &labels, &templates).is_err());
    assert!(EntropyOnPhotos::new(&mut model, &images, &labels[..1], &templates).is_err());
}
