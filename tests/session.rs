//! The session natively, as the page's worker drives it: the three columns, α changes, photos,
//! the sweep with progress and cancel — on fixture pair a with the CPU engine; and a session over
//! a merge recipe (three fine-tunes of pair a's θ₀), whose coefficient changes equal the library
//! path of `wiseft classify --recipe` at each setting.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use pollster::block_on;
use wiseft::clip::preprocess;
use wiseft::engine::Device;
use wiseft::merge::{Alpha, ModelPair, OwnVectors};
use wiseft::pipeline::WiseFt;
use wiseft::session::{Cancel, Column, Operation, PhotoId, Prompts, Score, Session, SessionEvent, SweepOutcome, SweepPhoto, SweepSet};

const LABELS: [&str; 5] = ["cat", "dog", "red car", "tree", "the ocean"];
const IMAGES: [&str; 4] = ["images/photo.png", "images/photo.jpg", "images/gray.png", "images/wide.png"];

fn model(alpha: f64) -> WiseFt {
    let pair = ModelPair::new(open("models/a_zs"), Some(open("models/a_ft"))).unwrap();
    block_on(WiseFt::new(pair, a(alpha), Device::Cpu)).unwrap()
}

type Log = Rc<RefCell<Vec<SessionEvent>>>;

/// A session at α = 0.5 with pair a and its labels; every event is logged.
fn session() -> (Session, Log) {
    let log: Log = Rc::default();
    let sink = log.clone();
    let mut s = Session::new(move |e| sink.borrow_mut().push(e));
    block_on(s.set_prompts(Prompts::new(LABELS, None, &[]))).unwrap();
    block_on(s.install(model(0.5))).unwrap();
    (s, log)
}

fn photo(id: PhotoId, rel: &str) -> (PhotoId, String, Vec<u8>) {
    (id, rel.to_string(), std::fs::read(fixture(rel)).unwrap())
}

/// Every score of every `Results` event since the log was last drained.
fn scores(log: &Log) -> impl Iterator<Item = Score> {
    let events = std::mem::take(&mut *log.borrow_mut());
    events
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Results { scores, .. } => Some(scores),
            _ => None,
        })
        .flatten()
}

/// (photo, column) → probabilities, from every `Results` event since the log was last drained.
fn results(log: &Log) -> Vec<(PhotoId, Column, Alpha, Vec<f32>)> {
    scores(log).map(|s| (s.image, s.model, s.alpha.expect("a two-model score has its α"), s.probs)).collect()
}

/// What a fresh classifier says of the photos `rels`, classified together, at α.
fn reference_batch(rels: &[&str], alpha: f64) -> Vec<Vec<f32>> {
    let mut w = model(alpha);
    let prep = w.pair.preprocess();
    let pixels: Vec<Vec<f32>> = rels.iter().map(|rel| preprocess::preprocess(&std::fs::read(fixture(rel)).unwrap(), rel, &prep).unwrap()).collect();
    let labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
    block_on(w.classify(&pixels, &labels, &["a photo of a {}.".to_string()])).unwrap()
}

fn reference_probs(rel: &str, alpha: f64) -> Vec<f32> {
    reference_batch(&[rel], alpha).remove(0)
}

#[test]
fn the_three_columns_equal_the_classifier_at_0_alpha_and_1() {
    let (mut s, log) = session();
    block_on(s.add_photos(vec![photo(1, IMAGES[0])])).unwrap();
    let got = results(&log);
    for (column, alpha) in [(Column::ZeroShot, 0.0), (Column::Merged, 0.5), (Column::FineTuned, 1.0)] {
        let (_, _, at, probs) = got.iter().find(|r| r.0 == 1 && r.1 == column).unwrap_or_else(|| panic!("no {column:?} column"));
        assert_eq!(*at, a(alpha));
        assert_eq!(probs, &reference_probs(IMAGES[0], alpha), "{column:?}");
    }
}

#[test]
fn a_new_photo_does_not_move_the_engine() {
    let (mut s, log) = session();
    assert_eq!(s.engine_alpha(), Some(a(0.5)));
    block_on(s.add_photos(vec![photo(1, IMAGES[0]), photo(2, IMAGES[1])])).unwrap();
    assert_eq!(s.engine_alpha(), Some(s.alpha()), "after adding photos the engine is back at the session's α");
    assert!(!results(&log).is_empty());
}

#[test]
fn columns_at_0_and_1_are_computed_once_per_photo() {
    let (mut s, log) = session();
    block_on(s.add_photos(vec![photo(1, IMAGES[0])])).unwrap();
    results(&log);
    let merges = s.model().unwrap().merges();
    // α moves: one merge each, only the merged column is sent.
    for (k, alpha) in [0.3, 0.7, 0.25].into_iter().enumerate() {
        block_on(s.set_alpha(a(alpha))).unwrap();
        assert_eq!(s.model().unwrap().merges(), merges + k + 1, "α = {alpha}: one merge");
        let got = results(&log);
        assert!(got.iter().all(|r| r.1 == Column::Merged && r.2 == a(alpha)), "α = {alpha}: only the merged column: {got:?}");
        assert_eq!(got.len(), 1);
    }
    // A second photo: its own three columns; the first photo is not classified again.
    block_on(s.add_photos(vec![photo(2, IMAGES[1])])).unwrap();
    let got = results(&log);
    assert!(got.iter().all(|r| r.0 == 2), "only the new photo: {got:?}");
    assert_eq!(got.len(), 3);
    // Back to an α seen before the photo came: photo 1 comes from the cache of 0/1 … and α itself
    // is recomputed only where missing.
    let merges = s.model().unwrap().merges();
    block_on(s.set_alpha(a(1.0))).unwrap();
    assert_eq!(s.model().unwrap().merges(), merges + 1);
    let got = results(&log);
    assert_eq!(got.len(), 2, "both photos' merged column at α = 1 (from the fine-tuned cache)");
    assert_eq!(got[0].3, reference_probs(IMAGES[0], 1.0));
}

#[test]
fn a_sweep_equals_classify_at_each_alpha() {
    let (mut s, log) = session();
    block_on(s.add_photos(IMAGES.iter().enumerate().map(|(i, r)| photo(i as PhotoId, r)).collect())).unwrap();
    results(&log);
    let truth = [0usize, 1, 3, 4];
    // Two photos in the task set, one in the shift set, one without a label.
    let sets = [SweepSet::Task, SweepSet::Task, SweepSet::Shift, SweepSet::Unlabeled];
    let photos: Vec<SweepPhoto> = truth
        .iter()
        .zip(sets)
        .enumerate()
        .map(|(i, (&label, set))| SweepPhoto::new(i as PhotoId, (set != SweepSet::Unlabeled).then_some(label), set))
        .collect();
    let alphas = [0.0, 0.25, 0.5, 0.75, 1.0].map(a);
    let SweepOutcome::Done(done) = block_on(s.sweep(&alphas, &photos)).unwrap() else { panic!("cancelled") };
    let points = &done.points;
    assert_eq!(points.len(), alphas.len());
    let progress: Vec<u32> = log.borrow().iter().filter_map(|e| if let SessionEvent::SweepProgress { k, .. } = e { Some(*k) } else { None }).collect();
    assert_eq!(progress, vec![1, 2, 3, 4, 5]);
    for point in points {
        // The sweep encodes the four photos as one batch: so does the reference.
        let batch = reference_batch(&IMAGES, point.alpha.get());
        for ((score, rel), want) in point.scores.iter().zip(IMAGES).zip(batch) {
            let p_true = photos[score.image as usize].truth().map(|l| want[l]);
            assert_eq!(score.p_true, p_true, "{rel} at α = {}", point.alpha);
            assert_eq!(score.predicted, LABELS[score.top]);
            assert_eq!(score.top, wiseft::clip::head::argmax(&want));
        }
    }
    assert_eq!(s.engine_alpha(), Some(s.alpha()), "the sweep puts the engine back");
    // The rules come with it: the label-free set is the unlabeled photo; the CSV has every row.
    let rules = done.rules.as_ref().expect("rules on a task set with labels");
    assert_eq!(rules.label_free, Some(wiseft::choose::LabelFree::Unlabeled));
    assert_eq!(rules.get(wiseft::choose::Rule::Half).alpha, Some(0.5));
    let kinds = |k: &str| done.csv.lines().filter(|l| l.starts_with(&format!("{k},"))).count();
    assert_eq!((kinds("set"), kinds("photo"), kinds("alpha"), kinds("rule")), (10, 20, 5, 5), "{}", done.csv);
}

/// Photos in two named sets of the task set and the name `a` in the shift set too: the session's
/// curves count each named set at each α as the reference classifier's top labels do, and its CSV
/// has the named sets' rows.
#[test]
fn a_sweep_counts_each_named_set_at_each_alpha() {
    let (mut s, log) = session();
    block_on(s.add_photos(IMAGES.iter().enumerate().map(|(i, r)| photo(i as PhotoId, r)).collect())).unwrap();
    results(&log);
    let truth = [0usize, 1, 3, 4];
    let (t, sh) = (SweepSet::Task, SweepSet::Shift);
    let photos = vec![
        SweepPhoto::new(0, Some(truth[0]), t).in_group("a"),
        SweepPhoto::new(1, Some(truth[1]), t).in_group("b"),
        SweepPhoto::new(2, Some(truth[2]), t).in_group("b"),
        SweepPhoto::new(3, Some(truth[3]), sh).in_group("a"),
    ];
    let alphas = [0.0, 0.5, 1.0].map(a);
    let SweepOutcome::Done(done) = block_on(s.sweep(&alphas, &photos)).unwrap() else { panic!("cancelled") };
    // The shift set's `a` is its whole set: left out; the task set's `a` keeps its bare name.
    let names: Vec<(SweepSet, Option<&str>, &str)> = done.curves.iter().map(|c| (c.set, c.name.as_deref(), c.label.as_str())).collect();
    assert_eq!(names, [(t, None, "fine-tuning task"), (sh, None, "everything else"), (t, Some("a"), "a"), (t, Some("b"), "b")]);
    for (k, alpha) in alphas.iter().enumerate() {
        // By hand: which photos the reference classifier gets right at this α.
        let right: Vec<bool> = reference_batch(&IMAGES, alpha.get()).iter().zip(truth).map(|(p, l)| wiseft::clip::head::argmax(p) == l).collect();
        let count = |members: &[usize]| (members.iter().filter(|&&i| right[i]).count(), members.len());
        for (curve, members) in done.curves.iter().zip([&[0, 1, 2][..], &[3], &[0], &[1, 2]]) {
            let p = &curve.points[k];
            assert_eq!(p.alpha, *alpha);
            assert_eq!((p.correct, p.n), count(members), "{} at α = {alpha} (right: {right:?})", curve.label);
            assert_eq!(p.accuracy, p.correct as f64 / p.n as f64);
        }
    }
    let head = done.csv.lines().next().unwrap();
    assert!(head.ends_with(",note,named_set"), "{head}");
    let named_rows = done.csv.lines().filter(|l| l.starts_with("set,") && (l.ends_with(",a") || l.ends_with(",b"))).count();
    assert_eq!(named_rows, 2 * alphas.len(), "a set row per named set and α: {}", done.csv);
    let best_rows = done.csv.lines().filter(|l| l.starts_with("best,")).count();
    let want: usize = done.curves.iter().filter(|c| c.name.is_some()).map(|c| c.best.len()).sum();
    assert_eq!(best_rows, want, "a best row per named set and α of its top: {}", done.csv);
}

#[test]
fn cancel_stops_a_sweep_between_steps() {
    let cancel = Cancel::default();
    let trip = cancel.clone();
    let log: Log = Rc::default();
    let sink = log.clone();
    // The person presses cancel when the second step is reported.
    let mut s = Session::new(move |e| {
        if matches!(e, SessionEvent::SweepProgress { k: 2, .. }) {
            trip.set();
        }
        sink.borrow_mut().push(e);
    })
    .with_cancel(cancel);
    block_on(s.set_prompts(Prompts::new(LABELS, None, &[]))).unwrap();
    block_on(s.install(model(0.5))).unwrap();
    block_on(s.add_photos(vec![photo(1, IMAGES[0])])).unwrap();
    let alphas = Alpha::grid(20);
    match block_on(s.sweep(&alphas, &[SweepPhoto::new(1, Some(0), SweepSet::Task)])).unwrap() {
        SweepOutcome::Cancelled(points) => assert_eq!(points.len(), 2),
        other => panic!("not cancelled: {other:?}"),
    }
    assert_eq!(s.engine_alpha(), Some(s.alpha()));
    // The next sweep starts afresh.
    assert!(matches!(block_on(s.sweep(&alphas[..2], &[SweepPhoto::new(1, Some(0), SweepSet::Task)])).unwrap(), SweepOutcome::Cancelled(_) | SweepOutcome::Done(_)));
}

#[test]
fn a_failed_photo_leaves_the_others() {
    let (mut s, log) = session();
    block_on(s.add_photos(vec![photo(1, "images/not_an_image.png"), photo(2, IMAGES[0]), photo(3, "images/truncated.jpg")])).unwrap();
    let events = log.borrow().clone();
    let errors: Vec<PhotoId> = events.iter().filter_map(|e| if let SessionEvent::ImageError { image, .. } = e { Some(*image) } else { None }).collect();
    assert!(errors.contains(&1), "the file that is no image is reported: {errors:?}");
    let got = results(&log);
    assert!(got.iter().any(|r| r.0 == 2), "the good photo is classified");
    assert!(got.iter().all(|r| !errors.contains(&r.0)), "no scores for the failed ones");
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let log: Log = Rc::default();
    let sink = log.clone();
    let mut s = Session::new(move |e| sink.borrow_mut().push(e));
    let f = block_on(s.sweep(&[a(0.5)], &[])).unwrap_err();
    assert_eq!(f.during, Operation::Sweep);
    assert!(f.to_string().contains("load the models first"), "{f}");
    block_on(s.install(model(0.5))).unwrap();
    let f = block_on(s.sweep(&[a(0.5)], &[SweepPhoto::new(9, Some(0), SweepSet::Task)])).unwrap_err();
    assert!(f.to_string().contains("no labels"), "{f}");
    block_on(s.set_prompts(Prompts::new(LABELS, None, &[]))).unwrap();
    let f = block_on(s.sweep(&[a(0.5)], &[SweepPhoto::new(9, Some(0), SweepSet::Task)])).unwrap_err();
    assert!(f.to_string().contains("no photo to sweep"), "{f}");
    assert!(s.export_needs_reread().is_ok());
}

#[test]
fn export_is_the_plans_merge() {
    use wiseft::checkpoint::provenance::{OutputDtype, Provenance, SourceRecord};
    let (s, _) = session();
    // The names the page would give (the URLs it used) and the files' digests.
    let names = s.export_sources().unwrap();
    let [zs_name, ft_name] = &names[..] else { panic!("{names:?}") };
    assert!(zs_name.ends_with("a_zs/model.safetensors") && ft_name.ends_with("a_ft/model.safetensors"), "{zs_name} {ft_name}");
    let sha = |rel: &str| sha256_hex(&std::fs::read(fixture(rel)).unwrap());
    let sources = vec![
        SourceRecord::zero_shot("https://x/a_zs/model.safetensors", sha("models/a_zs/model.safetensors")),
        SourceRecord::fine_tuned(0, "https://x/a_ft/model.safetensors", sha("models/a_ft/model.safetensors")),
    ];
    let file = s.export(a(0.35), None, sources.clone(), OutputDtype::F32).unwrap();
    let zs = open("models/a_zs");
    let ft = open("models/a_ft");
    let plan = wiseft::merge::MergePlan::new(&zs, Some(&ft)).unwrap();
    let merged = plan.merge(&zs, Some(&ft), a(0.35)).unwrap();
    // The recipe written out by hand, as the format promises it.
    let provenance = Provenance::new(serde_json::json!({"version": 1, "method": "wise-ft", "alpha": 0.35}), sources, OutputDtype::F32);
    let want = wiseft::checkpoint::safetensors::write_as(merged.iter().map(|(n, t)| (n.as_str(), t)), OutputDtype::F32, &provenance.to_metadata()).unwrap();
    assert_eq!(file.bytes, want);
    let (_, metadata) = wiseft::checkpoint::safetensors::read(&file.bytes, "export").unwrap();
    assert_eq!(Provenance::from_metadata(&metadata), Some(provenance));
    assert!(file.config_json.contains("vision_config"));
}

// ---- A session over a merge recipe: several fine-tunes, a method, coefficients that move ----

/// The fine-tunes of the recipe fixtures (scripts/gen_recipe_fixtures.py), all of pair a's θ₀.
const FINE_TUNES: [&str; 3] = ["models/a_ft", "models/r_ft1", "models/r_ft2"];
/// A coefficient change is the same arithmetic as a fresh load at that setting, on the same
/// engine; only the order of float operations in the engine's batching could differ.
const RECIPE_TOL: f32 = 1e-6;

fn recipe(json: serde_json::Value) -> wiseft::merge::Recipe {
    wiseft::merge::Recipe::from_value(&json).unwrap()
}

/// The library path of `wiseft classify --recipe`: load the recipe, build the engine at its point.
fn recipe_model(r: &wiseft::merge::Recipe) -> WiseFt {
    let fts = FINE_TUNES.iter().map(|p| open(p)).collect();
    let loaded = wiseft::merge::load_recipe(r, open("models/a_zs"), fts).unwrap();
    block_on(WiseFt::at(loaded.pair, loaded.point, Device::Cpu)).unwrap()
}

/// What `wiseft classify --recipe` says of the photos `rels`, classified together.
fn recipe_reference(r: &wiseft::merge::Recipe, rels: &[&str]) -> Vec<Vec<f32>> {
    classify_photos(&mut recipe_model(r), rels)
}

/// What a loaded model says of the photos `rels`, classified together with the session's prompts.
fn classify_photos(w: &mut WiseFt, rels: &[&str]) -> Vec<Vec<f32>> {
    let prep = w.pair.preprocess();
    let pixels: Vec<Vec<f32>> = rels.iter().map(|rel| preprocess::preprocess(&std::fs::read(fixture(rel)).unwrap(), rel, &prep).unwrap()).collect();
    let labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
    block_on(w.classify(&pixels, &labels, &["a photo of a {}.".to_string()])).unwrap()
}

/// A session over the recipe `r` as the page loads it: TIES keeps each fine-tune's own task vector
/// when θ₀ and the merge inputs fit in `limit` bytes ([`OwnVectors::KeptWithin`]).
fn recipe_session_within(r: &wiseft::merge::Recipe, limit: u64) -> (Session, Log) {
    let log: Log = Rc::default();
    let sink = log.clone();
    let mut s = Session::new(move |e| sink.borrow_mut().push(e));
    block_on(s.set_prompts(Prompts::new(LABELS, None, &[]))).unwrap();
    let fts = FINE_TUNES.iter().map(|p| open(p)).collect();
    let loaded = wiseft::merge::load_recipe_with(r, open("models/a_zs"), fts, OwnVectors::KeptWithin(limit)).unwrap();
    let model = block_on(WiseFt::at(loaded.pair, loaded.point, Device::Cpu)).unwrap();
    block_on(s.install_recipe(model, r.clone())).unwrap();
    (s, log)
}

fn recipe_session(r: &wiseft::merge::Recipe) -> (Session, Log) {
    recipe_session_within(r, u64::MAX)
}

/// (photo, column, setting, probabilities) of every score since the log was last drained.
fn recipe_results(log: &Log) -> Vec<(PhotoId, Column, Option<String>, Vec<f32>)> {
    scores(log).map(|s| (s.image, s.model, s.setting, s.probs)).collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
    assert!(worst <= RECIPE_TOL, "{what}: max |Δp| = {worst:e} > {RECIPE_TOL:e}\n got {got:?}\nwant {want:?}");
}

/// The merged column of photos 1 and 2 (IMAGES[0], IMAGES[1]) against the library path.
fn assert_merged_is(got: &[(PhotoId, Column, Option<String>, Vec<f32>)], r: &wiseft::merge::Recipe) {
    let want = recipe_reference(r, &IMAGES[..2]);
    for (id, want) in [1, 2].into_iter().zip(want) {
        let merged: Vec<_> = got.iter().filter(|g| g.0 == id && g.1 == Column::Merged).collect();
        assert_eq!(merged.len(), 1, "photo {id}: one merged score for {}: {got:?}", wiseft::session::describe(r));
        assert_eq!(merged[0].2.as_deref(), Some(wiseft::session::describe(r).as_str()));
        assert_close(&merged[0].3, &want, &format!("photo {id}, {}", wiseft::session::describe(r)));
    }
}

/// What one fine-tune alone (`wiseft classify --zero-shot a_zs --fine-tuned F --alpha 1`) says of
/// the photos `rels`.
fn fine_tune_alone(f: &str, rels: &[&str]) -> Vec<Vec<f32>> {
    let r = recipe(serde_json::json!({"version": 1, "method": "wise-ft", "alpha": 1.0}));
    let loaded = wiseft::merge::load_recipe(&r, open("models/a_zs"), vec![open(f)]).unwrap();
    classify_photos(&mut block_on(WiseFt::at(loaded.pair, loaded.point, Device::Cpu)).unwrap(), rels)
}

/// A recipe shows each fine-tune on its own (θ₀ + τᵢ from the loaded inputs, no reload): equal to
/// that fine-tune alone, named by its checkpoint, and not recomputed when λ moves — task
/// arithmetic, whose inputs are the task vectors, and TIES, which keeps them beside its merged one;
/// the columns the session lists at load are the ones it sends, in that order.
#[test]
fn a_recipe_session_shows_each_fine_tune_on_its_own() {
    let ta = |l: f64| recipe(serde_json::json!({"version": 1, "method": "task-arithmetic", "lambda": l}));
    let ties = |l: f64| recipe(serde_json::json!({"version": 1, "method": "ties", "lambda": l, "top_k": 20}));
    for (first, moved) in [(ta(0.3), ta(0.9)), (ties(0.3), ties(0.9))] {
        let what = wiseft::session::describe(&first);
        let (mut s, log) = recipe_session(&first);
        let listed: Vec<_> = s.columns().iter().map(|c| serde_json::to_value(c.model).unwrap()).collect();
        assert_eq!(listed, ["zero-shot", "fine-tuned-1", "fine-tuned-2", "fine-tuned-3", "merged"], "{what}: the page's key, numbered from 1");
        assert!(s.columns()[1..4].iter().zip(FINE_TUNES).all(|(c, f)| c.checkpoint.as_deref().is_some_and(|n| n.contains(f.trim_start_matches("models/")))), "{what}: {:?}", s.columns());
        block_on(s.add_photos(vec![photo(1, IMAGES[0]), photo(2, IMAGES[1])])).unwrap();
        let got = recipe_results(&log);
        let sent: std::collections::BTreeSet<_> = got.iter().map(|g| serde_json::to_value(g.1).unwrap().as_str().unwrap().to_string()).collect();
        assert_eq!(sent, listed.iter().map(|v| v.as_str().unwrap().to_string()).collect::<std::collections::BTreeSet<_>>(), "{what}: the columns sent are the columns listed");
        assert_merged_is(&got, &first);
        for (i, f) in FINE_TUNES.iter().enumerate() {
            let want = fine_tune_alone(f, &IMAGES[..2]);
            for (id, want) in [1, 2].into_iter().zip(&want) {
                let col: Vec<_> = got.iter().filter(|g| g.0 == id && g.1 == Column::FineTune(i as u32)).collect();
                assert_eq!(col.len(), 1, "{what}, photo {id}: one score of fine-tune {i}: {got:?}");
                assert!(col[0].2.as_deref().is_some_and(|name| name.contains(f.trim_start_matches("models/"))), "named by its checkpoint: {:?}", col[0].2);
                assert_close(&col[0].3, want, &format!("{what}, photo {id}, {f} on its own"));
            }
        }
        let merges = s.model().unwrap().merges();
        block_on(s.set_recipe(moved.clone())).unwrap();
        assert_eq!(s.model().unwrap().merges(), merges + 1, "{what}: a λ change is one merge");
        let got = recipe_results(&log);
        assert!(got.iter().all(|g| g.1 == Column::Merged), "{what}: a λ change re-sends the merge only: {got:?}");
        assert_merged_is(&got, &moved);
        // The fine-tunes' scores are kept through the move: a new request computes none again.
        block_on(s.set_prompts(Prompts::new(LABELS, None, &[]))).unwrap();
        assert_eq!(s.model().unwrap().merges(), merges + 1, "{what}: the columns are sent from the kept scores");
        assert_eq!(recipe_results(&log).len(), 2 * 5, "{what}: two photos, five columns");
    }
    assert_eq!(serde_json::to_value(Column::FineTune(2)).unwrap(), "fine-tuned-3", "the page's key, numbered from 1");
}

/// Where the fine-tunes' own task vectors would not fit beside TIES's merged one, TIES loads
/// without them, says why, and lists (and sends) the zero-shot model and the merge only; the merge
/// is the same.
#[test]
fn ties_without_room_for_the_fine_tunes_own_vectors_shows_the_merge_only() {
    let ties = recipe(serde_json::json!({"version": 1, "method": "ties", "lambda": 0.3, "top_k": 20}));
    let fts = FINE_TUNES.iter().map(|p| open(p)).collect();
    let loaded = wiseft::merge::load_recipe_with(&ties, open("models/a_zs"), fts, OwnVectors::KeptWithin(1000)).unwrap();
    let why = loaded.dropped.expect("1000 bytes cannot hold them");
    assert!(why.contains("TIES over 3 fine-tunes") && why.contains("4 vectors") && why.contains("MB"), "{why}");
    let (mut s, log) = recipe_session_within(&ties, 1000);
    let listed: Vec<_> = s.columns().iter().map(|c| serde_json::to_value(c.model).unwrap()).collect();
    assert_eq!(listed, ["zero-shot", "merged"]);
    block_on(s.add_photos(vec![photo(1, IMAGES[0]), photo(2, IMAGES[1])])).unwrap();
    let got = recipe_results(&log);
    assert!(got.iter().all(|g| matches!(g.1, Column::ZeroShot | Column::Merged)), "{got:?}");
    assert_merged_is(&got, &ties);
}

#[test]
fn a_recipe_session_moves_its_coefficients_without_reloading() {
    let ta = |l: f64| recipe(serde_json::json!({"version": 1, "method": "task-arithmetic", "lambda": l}));
    let (mut s, log) = recipe_session(&ta(0.3));
    block_on(s.add_photos(vec![photo(1, IMAGES[0]), photo(2, IMAGES[1])])).unwrap();
    let got = recipe_results(&log);
    assert_merged_is(&got, &ta(0.3));
    // The zero-shot column is θ₀'s (a_zs alone); a recipe has no single fine-tuned column.
    let zs = reference_batch(&IMAGES[..2], 0.0);
    for (id, want) in [1, 2].into_iter().zip(&zs) {
        let col = got.iter().find(|g| g.0 == id && g.1 == Column::ZeroShot).expect("a zero-shot column");
        assert_close(&col.3, want, &format!("photo {id}, zero-shot"));
    }
    assert!(got.iter().all(|g| g.1 != Column::FineTuned), "{got:?}");

    // λ moves: one merge each, only the merged column is sent, equal to a fresh load at that λ.
    let merges = s.model().unwrap().merges();
    for (k, l) in [0.7, 1.5, -0.2].into_iter().enumerate() {
        block_on(s.set_recipe(ta(l))).unwrap();
        assert_eq!(s.model().unwrap().merges(), merges + k + 1, "λ = {l}: one merge");
        let got = recipe_results(&log);
        assert!(got.iter().all(|g| g.1 == Column::Merged), "λ = {l}: only the merged column: {got:?}");
        assert_merged_is(&got, &ta(l));
    }
    // Task arithmetic ↔ average share their inputs (the task vectors): no reload either.
    let soup = recipe(serde_json::json!({"version": 1, "method": "average", "weights": [1, 2, 1]}));
    block_on(s.set_recipe(soup.clone())).unwrap();
    assert_merged_is(&recipe_results(&log), &soup);
    // A per-family, per-depth schedule of λ.
    let sched = recipe(serde_json::json!({"version": 1, "method": "task-arithmetic", "lambda": {"default": [0.1, 0.6], "attention": 0.4, "mlp": [1.0, 0.0]}}));
    block_on(s.set_recipe(sched.clone())).unwrap();
    assert_merged_is(&recipe_results(&log), &sched);
    assert_eq!(s.recipe(), Some(&sched));
}

#[test]
fn a_ties_session_moves_lambda_and_refuses_what_needs_a_reload() {
    let ties = |l: f64, k: f64| recipe(serde_json::json!({"version": 1, "method": "ties", "lambda": l, "top_k": k}));
    let (mut s, log) = recipe_session(&ties(0.3, 20.0));
    block_on(s.add_photos(vec![photo(1, IMAGES[0]), photo(2, IMAGES[1])])).unwrap();
    assert_merged_is(&recipe_results(&log), &ties(0.3, 20.0));
    block_on(s.set_recipe(ties(0.9, 20.0))).unwrap();
    assert_merged_is(&recipe_results(&log), &ties(0.9, 20.0));

    // Another k, or another method, needs the task vectors trimmed again: refused, nothing lost.
    let point = s.model().unwrap().point().clone();
    for bad in [ties(0.9, 50.0), recipe(serde_json::json!({"version": 1, "method": "task-arithmetic"}))] {
        let f = block_on(s.set_recipe(bad.clone())).unwrap_err();
        assert_eq!(f.during, Operation::Recipe);
        assert!(f.to_string().contains("merged again"), "{f}");
        assert_eq!(s.recipe(), Some(&ties(0.9, 20.0)), "the session keeps its recipe");
        assert_eq!(s.model().unwrap().point(), &point, "the engine did not move");
    }
    assert!(recipe_results(&log).is_empty());
    // A wise-ft recipe merges one fine-tune, not three.
    let f = block_on(s.set_recipe(recipe(serde_json::json!({"version": 1, "method": "wise-ft", "alpha": 0.5})))).unwrap_err();
    assert!(f.to_string().contains("one fine-tuned checkpoint"), "{f}");
    // A sweep moves TIES's λ (k stays as loaded).
    let SweepOutcome::Done(done) = block_on(s.sweep(&[a(0.5)], &[SweepPhoto::new(1, Some(0), SweepSet::Task)])).unwrap() else { panic!() };
    assert_eq!(done.coefficient, "λ");
}

#[test]
fn a_two_model_session_refuses_a_recipe_until_loaded_with_one() {
    let (mut s, _) = session();
    let f = block_on(s.set_recipe(recipe(serde_json::json!({"version": 1, "method": "task-arithmetic"})))).unwrap_err();
    assert_eq!(f.during, Operation::Recipe);
    assert!(f.to_string().contains("two-model"), "{f}");
    assert_eq!(s.engine_alpha(), Some(a(0.5)));
}

/// A recipe session exports its merge at the recipe's current coefficients (not at α): the
/// library's merge of a fresh load at those coefficients, the recipe (without its paths) and every
/// source in the provenance, as `wiseft merge --recipe` writes it.
#[test]
fn a_recipe_session_exports_its_merge_with_every_source() {
    use wiseft::checkpoint::provenance::{OutputDtype, SourceRecord};
    let r = recipe(serde_json::json!({"version": 1, "method": "task-arithmetic", "lambda": 0.3}));
    let (mut s, _) = recipe_session(&r);
    let moved = recipe(serde_json::json!({"version": 1, "method": "task-arithmetic", "lambda": 0.6}));
    block_on(s.set_recipe(moved.clone())).unwrap();
    let names = s.export_sources().unwrap();
    assert_eq!(names.len(), 1 + FINE_TUNES.len(), "{names:?}");
    assert!(!s.export_needs_reread().unwrap(), "a recipe's checkpoints stay on the host");
    let mut sources = vec![SourceRecord::zero_shot(&names[0], "0".repeat(64))];
    sources.extend(names[1..].iter().enumerate().map(|(i, n)| SourceRecord::fine_tuned(i, n, "1".repeat(64))));
    let file = s.export(a(0.9), None, sources.clone(), OutputDtype::F16).unwrap();
    assert_eq!(file.setting.as_deref(), Some("task arithmetic, λ = 0.6"));

    let fts = FINE_TUNES.iter().map(|p| open(p)).collect();
    let loaded = wiseft::merge::load_recipe(&moved, open("models/a_zs"), fts).unwrap();
    let merged = loaded.pair.merge_at(&loaded.point).unwrap();
    let provenance = wiseft::session::export::provenance(&moved, sources, OutputDtype::F16);
    let want = wiseft::session::export::merged_bytes(&merged, &provenance).unwrap();
    assert!(file.bytes == want, "the export is the recipe's merge at its coefficients");
    let (_, metadata) = wiseft::checkpoint::safetensors::read(&file.bytes, "export").unwrap();
    let read = wiseft::checkpoint::provenance::Provenance::from_metadata(&metadata).unwrap();
    assert_eq!(read.sources.len(), 4);
}

/// A recipe session sweeps its main coefficient as a two-model one sweeps α: λ of task
/// arithmetic, each point the library's classifier at that λ, the rules worded for λ, the engine
/// back at the session's own λ; an average, which has no coefficient, says so.
#[test]
fn a_recipe_session_sweeps_lambda() {
    let r = recipe(serde_json::json!({"version": 1, "method": "task-arithmetic", "lambda": 0.3}));
    let (mut s, log) = recipe_session(&r);
    block_on(s.add_photos(IMAGES.iter().enumerate().map(|(i, rel)| photo(i as PhotoId, rel)).collect())).unwrap();
    let photos: Vec<SweepPhoto> = [0usize, 1, 3, 4]
        .iter()
        .zip([SweepSet::Task, SweepSet::Task, SweepSet::Shift, SweepSet::Shift])
        .enumerate()
        .map(|(i, (&label, set))| SweepPhoto::new(i as PhotoId, Some(label), set))
        .collect();
    let lambdas = [0.0, 0.5, 1.0].map(a);
    let SweepOutcome::Done(done) = block_on(s.sweep(&lambdas, &photos)).unwrap() else { panic!("cancelled") };
    assert_eq!(done.coefficient, "λ");
    for point in &done.points {
        let lambda = point.alpha.get();
        let want = recipe_reference(&recipe(serde_json::json!({"version": 1, "method": "task-arithmetic", "lambda": lambda})), &IMAGES);
        for score in &point.scores {
            let l = photos[score.image as usize].truth().unwrap();
            assert_close(&[score.p_true.unwrap()], &[want[score.image as usize][l]], &format!("photo {} at λ = {lambda}", score.image));
        }
    }
    let rules = done.rules.as_ref().unwrap();
    assert!(rules.rules.iter().any(|r| r.name == "λ = 0.5"), "{:?}", rules.rules.iter().map(|r| &r.name).collect::<Vec<_>>());
    assert!(!rules.verdict.contains('α'), "{}", rules.verdict);
    // Back at λ = 0.3: a new photo's merged column is the library's at 0.3.
    log.borrow_mut().clear();
    block_on(s.add_photos(vec![photo(9, IMAGES[0])])).unwrap();
    let merged: Vec<_> = recipe_results(&log).into_iter().filter(|(id, c, _, _)| *id == 9 && *c == Column::Merged).collect();
    assert_close(&merged[0].3, &recipe_reference(&r, &[IMAGES[0]])[0], "after the sweep, at λ = 0.3");

    let avg = recipe(serde_json::json!({"version": 1, "method": "average"}));
    block_on(s.set_recipe(avg)).unwrap();
    let f = block_on(s.sweep(&lambdas, &photos)).unwrap_err();
    assert!(f.to_string().contains("no coefficient to sweep"), "{f}");
}

#[test]
fn the_benchmark_times_the_change_alone_when_asked_and_every_step_otherwise() {
    let (mut s, _log) = session();
    let clock = std::time::Instant::now();
    let now = || clock.elapsed().as_secs_f64();
    let change = block_on(s.bench(2, 3, false, &now)).unwrap();
    assert!(change.merge_s > 0.0 && change.encodes.is_none(), "{change:?}");
    let json = serde_json::to_value(&change).unwrap();
    assert!(json.get("image_batch1_s").is_none() && json["merge_s"].as_f64().is_some(), "the page reads absent steps as not measured: {json}");
    let all = block_on(s.bench(1, 3, true, &now)).unwrap();
    let e = all.encodes.clone().expect("the encoders' steps");
    assert!(e.image_batch1_s > 0.0 && e.image_batch8_s > 0.0 && e.text_s > 0.0 && e.prompts == 3, "{e:?}");
    assert!(serde_json::to_value(&all).unwrap()["image_batch8_s"].as_f64().is_some(), "flattened as before");
}
