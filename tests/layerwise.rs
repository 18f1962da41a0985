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

    // The two-model pair takes the same schedule (a per-tensor α of its lerp): the same entropy.
    let got = block_on(EntropyOnPhotos::new(&mut pair_model, &images, &labels, &templates).unwrap().value(&found.knots)).unwrap();
    assert_eq!(got, found.value, "pair vs recipe at knots {:?}", found.knots);
    // A pair without a fine-tune, no photos, or one label, say so.
    let mut zero_shot_only = block_on(WiseFt::new(ModelPair::new(toy("zs"), None).unwrap(), Alpha::HALF, Device::Cpu)).unwrap();
    assert!(EntropyOnPhotos::new(&mut zero_shot_only, &images, &labels, &templates).is_err());
    assert!(EntropyOnPhotos::new(&mut model, &[], &labels, &templates).is_err());
    assert!(EntropyOnPhotos::new(&mut model, &images, &labels[..1], &templates).is_err());
}

/// The session's search — what lecture mode and `wiseft sweep --layerwise` run — on the two-model
/// pair the page and the CLI load: the same schedule and entropies as the library's search on a
/// model loaded as a depth-scheduled recipe, the schedule's task accuracy measured, a progress event
/// per forward pass, cancel between passes, and the engine back at the session's α either way.
#[test]
fn the_session_searches_its_own_pair_as_the_library_searches_a_recipe() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wiseft::session::folders::read_set;
    use wiseft::session::{Cancel, LayerwiseOutcome, Prompts, Session, SessionEvent, SweepPhoto, SweepSet};

    let labels: Vec<String> = ["circle", "square", "triangle", "star", "cross", "heart", "ring", "moon"].map(String::from).to_vec();
    let templates = vec!["a photo of a {}.".to_string()];
    let search = Search { knots: 2, grid: vec![0.0, 0.25, 0.5, 0.75, 1.0], rounds: 2 };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/samples/toy");
    let mut files = read_set(&root.join("task"), SweepSet::Task, &labels).unwrap();
    files.truncate(12);
    let shift = read_set(&root.join("shift"), SweepSet::Shift, &labels).unwrap();
    files.extend(shift.into_iter().step_by(5));

    let events: Rc<RefCell<Vec<SessionEvent>>> = Rc::default();
    let (sink, cancel) = (events.clone(), Cancel::default());
    let trip = cancel.clone();
    let cancel_at = Rc::new(RefCell::new(None::<u32>));
    let when = cancel_at.clone();
    let mut session = Session::new(move |e| {
        if let SessionEvent::LayerwiseProgress { done, .. } = e {
            if *when.borrow() == Some(done) {
                trip.set();
            }
        }
        sink.borrow_mut().push(e);
    })
    .with_cancel(cancel);
    block_on(session.set_prompts(Prompts { labels: labels.clone(), templates: templates.clone() })).unwrap();
    let pair = ModelPair::new(toy("zs"), Some(toy("ft"))).unwrap();
    block_on(session.install(block_on(WiseFt::new(pair, Alpha::HALF, Device::Cpu)).unwrap())).unwrap();
    let photos: Vec<(u32, String, Vec<u8>)> = files.iter().enumerate().map(|(i, f)| (i as u32, f.name.clone(), std::fs::read(&f.path).unwrap())).collect();
    block_on(session.add_photos(photos)).unwrap();
    let list: Vec<SweepPhoto> = files.iter().enumerate().map(|(i, f)| SweepPhoto::new(i as u32, f.label, f.set)).collect();

    // Only task photos: nothing to measure the entropy on.
    let task_only: Vec<SweepPhoto> = list.iter().filter(|p| p.set == SweepSet::Task).cloned().collect();
    let e = block_on(session.layerwise(&task_only, 0.5, &search, &clock)).unwrap_err();
    assert!(e.to_string().contains("no label-free photos"), "{e}");

    events.borrow_mut().clear();
    let LayerwiseOutcome::Done(got) = block_on(session.layerwise(&list, 0.5, &search, &clock)).unwrap() else { panic!("cancelled") };
    assert_eq!(session.engine_alpha(), Some(Alpha::HALF), "the engine is back at the session's α");
    let progress: Vec<u32> = events.borrow().iter().filter_map(|e| if let SessionEvent::LayerwiseProgress { done, .. } = e { Some(*done) } else { None }).collect();
    assert_eq!(progress, (1..=got.evaluations as u32).collect::<Vec<_>>(), "one progress event per forward pass");
    assert_eq!((got.free_set, got.free_photos), (SweepSet::Shift, files.iter().filter(|f| f.set == SweepSet::Shift).count()));

    // The library's search on a recipe-loaded model over the same shift photos, in the same order.
    let loaded = load_recipe(&layerwise::recipe(&[0.5; 2]), toy("zs"), vec![toy("ft")]).unwrap();
    let prep = loaded.pair.preprocess();
    let pixels = |set: SweepSet| -> Vec<Vec<f32>> {
        files.iter().filter(|f| f.set == set).map(|f| preprocess::preprocess(&std::fs::read(&f.path).unwrap(), &f.name, &prep).unwrap()).collect()
    };
    let mut model = block_on(WiseFt::at(loaded.pair, loaded.point, Device::Cpu)).unwrap();
    let images = pixels(SweepSet::Shift);
    let mut objective = EntropyOnPhotos::new(&mut model, &images, &labels, &templates).unwrap();
    let Outcome::Done(want) = block_on(coordinate_descent(&mut objective, 0.5, &search, &clock, |_| Step::Continue)).unwrap() else { panic!() };
    assert_eq!(got.knots, want.knots);
    assert_eq!((got.entropy, got.start_entropy, got.evaluations), (want.value, want.start.value, want.evaluations.len()));
    let point = wiseft::merge::build::point_of(&layerwise::recipe(&want.knots), &model.pair).unwrap();
    model.set_point(point).unwrap();
    let probs = block_on(model.classify(&pixels(SweepSet::Task), &labels, &templates)).unwrap();
    let probs: Vec<Vec<f64>> = probs.iter().map(|p| p.iter().map(|&x| f64::from(x)).collect()).collect();
    let truth: Vec<usize> = files.iter().filter(|f| f.set == SweepSet::Task).map(|f| f.label.unwrap()).collect();
    assert_eq!(got.task_accuracy, Some(wiseft::choose::stats::accuracy(&probs, &truth)));
    assert!(got.shift_accuracy.is_some());
    assert!(got.vit_b32_seconds > got.seconds);

    // Cancelled after the second pass: no result, the engine back home.
    *cancel_at.borrow_mut() = Some(2);
    assert_eq!(block_on(session.layerwise(&list, 0.5, &search, &clock)).unwrap(), LayerwiseOutcome::Cancelled);
    assert_eq!(session.engine_alpha(), Some(Alpha::HALF));
}
