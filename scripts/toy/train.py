#!/usr/bin/env python
"""Regenerate the offline default models: world, training, checkpoints, eval, samples, docs.

Writes (from the repository root; everything deterministic for a given
machine, thread count and package versions):

  www/models/toy/zs/          zero-shot CLIPModel, f16, + preprocessor_config.json
  www/models/toy/ft/          vision-only fine-tune on the task style, photo (CLIPVisionModel layout), f16
  www/models/toy/ft-<style>/  the same recipe on other styles: sketch (the "destructive fine-tune"
                              preset), striped, pixelated (for merging several task fine-tunes)
  www/models/toy/eval.json    task / shift / per-style accuracy of the WiSE-FT merge of every fine-tune
                              for alpha = 0, 0.05, ..., 1 (top level: the default pair)
  www/models/toy/samples_expected*.json  accuracy on each preset's shipped samples at alpha 0, 0.5, 1
                              (toy-multitask: per merge recipe, scripts/toy/multitask.py)
  www/samples/toy{,-sketch,-multitask}/{task,shift}/<label>/*.png   held-out sample pictures per preset
                              (toy-multitask's task/ has one named set per task style: task/<style>/<label>/)
  www/presets.json            the three offline presets' fine-tunes, sizes and sample lists
  docs/TOY_WORLD.md           the world, the recipe and the measured numbers

Usage (packages of scripts/requirements-fixtures.txt):

    python scripts/toy/train.py [--jobs 2] [--threads 1]

or scripts/train_toy.sh. Takes about 29 minutes on a 2-core machine (pre-training here, then the fine-tunes
and evaluations in two job processes of one torch thread each; timed in docs/TOY_WORLD.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from toy import world  # noqa: E402
from toy.data import draw, pictures, save_samples  # noqa: E402
from alpha_rules import rules_table  # noqa: E402
from toy.evaluate import Pair, accuracy, cosines, png_roundtrip, pixel_values, pixel_values_of_files, probabilities  # noqa: E402
from toy.finetune import finetune  # noqa: E402
from toy import multitask  # noqa: E402
from toy.model import check_fast_path, config, f16_rounded, load_f32, save_vision, save_zero_shot  # noqa: E402
from transformers import CLIPModel  # noqa: E402
from toy.pretrain import pretrain  # noqa: E402
from toy.report import write_doc, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# Output locations under the output root (the repository unless --out is given).
ROOT = REPO
MODELS = ROOT / "www" / "models" / "toy"
SAMPLES = ROOT / "www" / "samples"  # one folder per preset
DOC = ROOT / "docs" / "TOY_WORLD.md"

TEMPLATES = ["a photo of a {}."]  # the Rust CLI's default prompt
TASK_STYLE = "photo"  # the default pair's task, as ImageNet photos are the paper's
SHIFT_STYLES = [s for s in world.STYLES if s != TASK_STYLE]
# Every fine-tune: folder under www/models/toy -> its task style. All start from the same zero-shot
# model with the same recipe and seeds; "ft" is the default pair (page and CLI).
FINE_TUNES = {"ft": TASK_STYLE, "ft-sketch": "sketch", "ft-striped": "striped", "ft-pixelated": "pixelated"}
# The page's offline presets: id -> (fine-tune folder, samples folder, samples_expected file).
PRESETS = {
    "toy": ("ft", "toy", "samples_expected.json"),
    "toy-sketch": ("ft-sketch", "toy-sketch", "samples_expected.toy-sketch.json"),
}
ALPHAS = [round(0.05 * i, 2) for i in range(21)]
SAMPLE_ALPHAS = [0.0, 0.5, 1.0]

RECIPE = {
    "pretrain": {
        "images": 60000, "styles": "all, equally often", "steps": 3000, "batch": 256,
        "lr": 1e-3, "weight_decay": 0.1, "warmup": 100, "schedule": "cosine", "seed": 0,
    },
    "finetune": {
        "style": TASK_STYLE, "styles": FINE_TUNES, "images": 8000, "epochs": 20, "batch": 128,
        "lr": 1e-3, "weight_decay": 0.1, "warmup": 50, "schedule": "cosine", "seed": 1,
        "trained": "vision_model.* (head: frozen zero-shot text embeddings)",
        "overrides": {TASK_STYLE: {"epochs": 40}},  # style -> settings that differ from the ones above
    },
    "eval": {"task_images": 800, "shift_images_per_style": 400},
    "samples": {"task_per_label": 6, "shift_per_label": len(SHIFT_STYLES), "presets": list(PRESETS)},
}
SMOKE = {  # --smoke: the whole pipeline in a minute, numbers meaningless
    "pretrain": {"images": 2000, "steps": 20, "batch": 64},
    "finetune": {"images": 256, "epochs": 1, "batch": 64},
    "eval": {"task_images": 80, "shift_images_per_style": 16},
}
# One seed per data set, so no two sets share a random stream.
DATA_SEEDS = {"pretrain": 1, "finetune": 2, "eval_task": 3, "eval_shift": 4, "samples_task": 5, "samples_shift": 6}


def log(msg: str) -> None:
    print(msg, flush=True)


def make_zero_shot(keep_zero_shot: bool = False) -> None:
    """Pre-trains the zero-shot model into zs/ (f16), unless it is kept."""
    if keep_zero_shot:
        log("keeping the zero-shot model in zs/ ...")
        return
    cfg = config()
    log("world: pre-training pictures ...")
    pre = draw(DATA_SEEDS["pretrain"], world.STYLES, RECIPE["pretrain"]["images"])
    check_fast_path(pre.images[:200])
    pre = pictures(pre)
    p = RECIPE["pretrain"]
    log(f"pre-training ({p['steps']} steps of {p['batch']}) ...")
    model = pretrain(
        pre, cfg, steps=p["steps"], batch=p["batch"], lr=p["lr"], weight_decay=p["weight_decay"],
        warmup=p["warmup"], seed=p["seed"], log=log,
    )
    del pre
    # Ship f16; every fine-tune starts from the f16 weights exactly as shipped (read back from zs/).
    model.load_state_dict(f16_rounded(model.state_dict()))
    save_zero_shot(model, MODELS / "zs")


def finetune_one(folder: str, style: str) -> str:
    """One fine-tune of the shipped zero-shot model on `style` into `folder`/ (a job: it reads
    everything it needs from disk, so it gives the same bytes in any process)."""
    cfg = config()
    model = CLIPModel(cfg).float().eval()
    model.load_state_dict(load_f32(MODELS / "zs" / "model.safetensors"))
    f = fine_tune_settings(style)
    log(f"world: {f['images']} {style} pictures for fine-tuning ...")
    # The same data seed for every style: the same scenes, drawn in each style.
    task = pictures(draw(DATA_SEEDS["finetune"], [style], f["images"], balanced=True))
    log(f"fine-tuning on {style} ({f['epochs']} epochs) -> {folder}/ ...")
    vision = finetune(
        model, task, world.SHAPES, TEMPLATES, epochs=f["epochs"], batch=f["batch"], lr=f["lr"],
        weight_decay=f["weight_decay"], warmup=f["warmup"], seed=f["seed"], log=lambda m: log(f"  [{folder}]{m}"),
    )
    save_vision(vision, cfg, MODELS / folder)
    log(f"{folder}/ saved")
    return folder


def fine_tune_settings(style: str) -> dict:
    return {**RECIPE["finetune"], **RECIPE["finetune"]["overrides"].get(style, {})}


class Jobs:
    """A pool of `n` worker processes (spawned, each set up as this process by `configure`) and
    jobs that start when the jobs they depend on have finished. A job reads its inputs from disk
    and computes on one machine with a fixed thread count, so the bytes it writes do not depend on
    the process it ran in or on what ran beside it."""

    def __init__(self, n: int, setup: tuple):
        ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=configure, initargs=setup)
        self._waiters = ThreadPoolExecutor(max_workers=16)

    def submit(self, fn, *args) -> Future:
        return self._pool.submit(fn, *args)

    def after(self, deps, fn, *args) -> Future:
        """`fn(*args)` in the pool once every future of `deps` (one, a list, or None) is done.
        `deps` are `submit` futures: each waiting job holds one waiter thread, so jobs waiting on
        waiting jobs could use them all up."""
        deps = [d for d in (deps if isinstance(deps, list) else [deps]) if d is not None]

        def run():
            for d in deps:
                d.result()  # re-raises a failed dependency's error
            return self._pool.submit(fn, *args).result()

        return self._waiters.submit(run)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            # A job failed (or the run was interrupted): stop the others now, rather than let a
            # running fine-tune go on for minutes and then write its checkpoint beside the failure.
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=exc[0] is None, cancel_futures=exc[0] is not None)
        self._waiters.shutdown(wait=exc[0] is None, cancel_futures=exc[0] is not None)
        return False


def configure(root: str, smoke: bool, threads: int) -> None:
    """Output folders, recipe and torch settings, the same in the main process and every job's."""
    global ROOT, MODELS, SAMPLES, DOC
    ROOT = Path(root)
    MODELS, SAMPLES, DOC = ROOT / "www" / "models" / "toy", ROOT / "www" / "samples", ROOT / "docs" / "TOY_WORLD.md"
    if smoke:
        for part, values in SMOKE.items():
            RECIPE[part].update(values)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def evaluate_one(folder: str, style: str) -> dict:
    """The α sweep of one fine-tune (a job), after checking that its files load in transformers."""
    pair = Pair(MODELS / "zs", MODELS / folder, world.SHAPES, TEMPLATES)
    check_transformers_load(pair, MODELS / folder)
    return evaluate_sweep(pair, style)


def evaluate_multitask() -> dict:
    return multitask.evaluate(MODELS, world.SHAPES, TEMPLATES, log)


def eval_sets(task_style: str) -> dict:
    """The held-out evaluation sets of a fine-tune on `task_style`: its style (task) and every other (shift)."""
    e = RECIPE["eval"]
    shifts = [s for s in world.STYLES if s != task_style]
    return {
        "task": draw(DATA_SEEDS["eval_task"], [task_style], e["task_images"], balanced=True),
        "shift": draw(DATA_SEEDS["eval_shift"], shifts, e["shift_images_per_style"] * len(shifts), balanced=True),
    }


def evaluate_sweep(pair: Pair, task_style: str) -> dict:
    """Accuracies of the merge at every alpha on the task set, the shift set and each style."""
    log(f"world: evaluation pictures ({task_style} task) ...")
    sets = eval_sets(task_style)
    pixels = {k: pixel_values(MODELS / "zs", [png_roundtrip(im) for im in d.images]) for k, d in sets.items()}
    labels = {k: np.array([s.label for s in d.scenes]) for k, d in sets.items()}
    shift_styles = np.array([s.style for s in sets["shift"].scenes])
    shifts = [s for s in world.STYLES if s != task_style]
    cos = cosines(pair, ALPHAS, pixels)  # per set: [alphas, pictures, labels]
    correct = {k: cos[k].argmax(axis=2) == labels[k][None, :] for k in sets}

    out = {"style": task_style, "task_accuracy": [], "shift_accuracy": [], "style_accuracy": {s: [] for s in world.STYLES}}
    for i, alpha in enumerate(ALPHAS):
        out["task_accuracy"].append(float(correct["task"][i].mean()))
        # The shift sets are equally large, so this is also the mean over shift styles.
        out["shift_accuracy"].append(float(correct["shift"][i].mean()))
        out["style_accuracy"][task_style].append(out["task_accuracy"][-1])
        for s in shifts:
            out["style_accuracy"][s].append(float(correct["shift"][i][shift_styles == s].mean()))
        log(f"  alpha {alpha:.2f}  task {out['task_accuracy'][-1]:.3f}  shift {out['shift_accuracy'][-1]:.3f}")
    # How to choose alpha (issue 13): each rule of src/choose/ on these sets, the label-free ones on
    # the shift set with its labels hidden -- the numpy twin of `wiseft sweep`, on thousands of pictures.
    probs = {k: probabilities(pair, cos[k]) for k in sets}
    out["rules"] = rules_table(ALPHAS, probs["task"], labels["task"], probs["shift"], labels["shift"])
    return out


def write_samples(task_style: str, folder: Path) -> dict[str, list[Path]]:
    """PNG pictures per set and label, drawn from their own seeds (never trained on)."""
    s = RECIPE["samples"]
    n_labels = len(world.SHAPES)
    shifts = [st for st in world.STYLES if st != task_style]
    sets = {
        "task": draw(DATA_SEEDS["samples_task"], [task_style], s["task_per_label"] * n_labels, balanced=True),
        "shift": draw(DATA_SEEDS["samples_shift"], shifts, s["shift_per_label"] * n_labels, balanced=True),
    }
    return save_samples(sets, folder)


def evaluate_samples(pair: Pair, files: dict[str, list[Path]], ft_folder: str, samples_folder: str) -> dict:
    """Accuracy on the shipped sample files (label = folder name), for the Rust CLI and the page to match."""
    out = {
        "alpha": SAMPLE_ALPHAS,
        "labels": world.SHAPES,
        "templates": TEMPLATES,
        "zero_shot": "www/models/toy/zs",
        "fine_tuned": f"www/models/toy/{ft_folder}",
    }
    for name, paths in files.items():
        pixels = pixel_values_of_files(MODELS / "zs", paths)
        labels = torch.tensor([world.SHAPES.index(p.parent.name) for p in paths])
        acc, per_image = [], {str(p.relative_to(ROOT)): {"top": [], "margin": []} for p in paths}
        for alpha in SAMPLE_ALPHAS:
            scores = pair.scores(alpha, pixels)
            top2 = scores.topk(2, dim=1)
            acc.append(accuracy(top2.indices[:, 0], labels))
            for p, idx, val in zip(paths, top2.indices, top2.values):
                entry = per_image[str(p.relative_to(ROOT))]
                entry["top"].append(world.SHAPES[int(idx[0])])
                entry["margin"].append(round(float(val[0] - val[1]), 6))
        out[name] = {"folder": f"www/samples/{samples_folder}/{name}", "images": len(paths), "accuracy": acc, "per_image": per_image}
    return out


PRESET_TEXT = {
    "toy": {
        "name": "Generated world (offline) — shapes in 8 styles (8 classes)",
        "about": "A tiny CLIP pre-trained here on generated pictures of shapes in eight styles, and a vision-only "
                 "fine-tune on the photo style (the paper's analogue: the other styles are the shifts); served by "
                 "this site, no download. See docs/TOY_WORLD.md.",
        "ft_name": "toy photo fine-tune (www/models/toy/ft)",
    },
    "toy-sketch": {
        "name": "Generated world (offline) — a destructive fine-tune: sketches (8 classes)",
        "about": "The same tiny zero-shot CLIP, fine-tuned on the sketch style only: it learns outlines and forgets "
                 "filled shapes, so the other styles fall far below zero-shot and α matters; served by this site, "
                 "no download. See docs/TOY_WORLD.md.",
        "ft_name": "toy sketch fine-tune (www/models/toy/ft-sketch)",
    },
}


def write_presets(path: Path, expected: dict, mt: dict) -> None:
    """The offline presets of www/presets.json (the others untouched): sizes, sample lists, and the
    multi-task preset's fine-tunes and recipe (task arithmetic at the λ chosen on validation)."""
    presets = json.loads((REPO / "www" / "presets.json").read_text(encoding="utf-8"))
    size = lambda f: round((ROOT / f).stat().st_size / 1e6, 1)  # noqa: E731
    zs_url = "www/models/toy/zs/model.safetensors"
    zero_shot = {"name": "toy zero-shot CLIP (www/models/toy/zs)", "urls": [zs_url], "size_mb": size(zs_url)}
    checkpoint = lambda folder, style: {  # noqa: E731
        "name": f"toy {style} fine-tune (www/models/toy/{folder})",
        "urls": [f"www/models/toy/{folder}/model.safetensors"], "size_mb": size(f"www/models/toy/{folder}/model.safetensors"),
    }
    samples_of = lambda folder: sorted(str(p.relative_to(ROOT)) for p in (SAMPLES / folder).rglob("*.png"))  # noqa: E731
    entries = []
    for pid, (ft, folder, _) in PRESETS.items():
        text = PRESET_TEXT[pid]
        entries.append({
            "id": pid, "name": text["name"], "about": text["about"], "offline": True, "zero_shot": zero_shot,
            "fine_tuned": {**checkpoint(ft, FINE_TUNES[ft]), "name": text["ft_name"]},
            "labels": world.SHAPES, "templates": TEMPLATES, "samples": samples_of(folder),
        })
    first, *more = mt["fine_tunes"].items()
    entries.append({
        "id": "toy-multitask", "name": "Generated world (offline) — three fine-tunes merged: task arithmetic (8 classes)",
        "about": "The same tiny zero-shot CLIP with three vision-only fine-tunes of it — on "
                 + ", ".join(mt["task_styles"][:-1]) + f" and {mt['task_styles'][-1]} pictures — merged by task "
                 "arithmetic, θ = θ₀ + λ·Σᵢ (θᵢ − θ₀), at the λ chosen on held-out pictures; move λ, or choose "
                 "average or TIES; served by this site, no download. See docs/TOY_WORLD.md.",
        "offline": True, "zero_shot": zero_shot, "fine_tuned": checkpoint(*first),
        "more_fine_tuned": [checkpoint(f, s) for f, s in more],
        "recipe": {"method": "task-arithmetic", "lambda": mt["chosen_lambda"]["task-arithmetic"]},
        "labels": world.SHAPES, "templates": TEMPLATES, "samples": samples_of("toy-multitask"),
    })
    ids = {e["id"] for e in entries}
    presets["presets"] = entries + [p for p in presets["presets"] if p["id"] not in ids]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(presets, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def check_transformers_load(pair: Pair, ft_folder: Path) -> None:
    """The shipped folders load in transformers and give the features the sweep used."""
    from transformers import CLIPModel, CLIPVisionModel

    rng = np.random.default_rng(99)
    images = [world.sample(rng, s)[1] for s in world.STYLES for _ in range(4)]
    pixels = pixel_values(MODELS / "zs", images)
    zs = CLIPModel.from_pretrained(str(MODELS / "zs"), dtype=torch.float32).eval()
    vision = CLIPVisionModel.from_pretrained(str(ft_folder), dtype=torch.float32).eval()
    with torch.no_grad():
        ref0 = pair.model(0.0).get_image_features(pixel_values=pixels).pooler_output
        ref1 = pair.model(1.0).get_image_features(pixel_values=pixels).pooler_output
        got0 = zs.get_image_features(pixel_values=pixels).pooler_output
        got1 = zs.visual_projection(vision(pixel_values=pixels).pooler_output)
    assert torch.equal(ref0, got0), "CLIPModel.from_pretrained(zs) differs from the sweep's alpha=0 model"
    assert torch.equal(ref1, got1), "CLIPVisionModel.from_pretrained(ft) differs from the sweep's alpha=1 model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, see docs/TOY_WORLD.md)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="processes for the fine-tunes and evaluations (default 2; the output does not depend on it)")
    parser.add_argument("--eval-only", action="store_true", help="keep the checkpoints, redo eval/samples/docs")
    parser.add_argument("--keep-zero-shot", action="store_true",
                        help="keep zs/ (same pre-training recipe), redo the fine-tunes, eval, samples, docs")
    parser.add_argument("--out", type=Path, default=REPO, help="output root instead of the repository")
    parser.add_argument("--smoke", action="store_true", help="tiny recipe to test the pipeline (needs --out)")
    args = parser.parse_args()
    if args.smoke and args.out.resolve() == REPO:
        parser.error("--smoke would overwrite the shipped models: give --out DIR")

    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    configure(str(args.out.resolve()), args.smoke, args.threads)
    start = time.time()

    # The fine-tunes, their evaluations and the multi-task report are independent jobs (each
    # reads its inputs from disk), run in --jobs processes of --threads torch threads each; the
    # pre-training before them and the samples and documents after them run here.
    setup = (str(ROOT), args.smoke, args.threads)
    with Jobs(args.jobs, setup) as jobs:
        if not args.eval_only:
            make_zero_shot(keep_zero_shot=args.keep_zero_shot)
            # The longest first, so that the shorter ones fill the other processes meanwhile.
            order = sorted(FINE_TUNES.items(), key=lambda fs: -fine_tune_settings(fs[1])["epochs"])
            trained = {folder: jobs.submit(finetune_one, folder, style) for folder, style in order}
        else:
            trained = {}
        evals = {folder: jobs.after(trained.get(folder), evaluate_one, folder, style) for folder, style in FINE_TUNES.items()}
        mt_job = jobs.after([trained.get(f) for f in multitask.FINE_TUNES], evaluate_multitask)
        fine_tunes = {folder: job.result() for folder, job in evals.items()}
        mt = mt_job.result()
    log(f"models and evaluations done at {time.time() - start:.0f}s")
    default = fine_tunes["ft"]
    counts = RECIPE["eval"]
    result = {
        "alpha": ALPHAS,
        "task_accuracy": default["task_accuracy"],
        "shift_accuracy": default["shift_accuracy"],
        "labels": world.SHAPES,
        "templates": TEMPLATES,
        "task_style": TASK_STYLE,
        "shift_styles": SHIFT_STYLES,
        "style_accuracy": default["style_accuracy"],
        "images": {"task": counts["task_images"], "shift": counts["shift_images_per_style"] * len(SHIFT_STYLES),
                   "shift_per_style": counts["shift_images_per_style"]},
        # Every fine-tune of the zero-shot model (the default "ft" too), on its own task and shift sets.
        "fine_tunes": fine_tunes,
        # Three task fine-tunes merged into one (issue 14): average, task arithmetic, TIES, per style.
        "multitask": mt,
        "presets": {pid: {"fine_tuned": f"www/models/toy/{ft}", "samples": f"www/samples/{folder}",
                          "samples_expected": f"www/models/toy/{exp}"} for pid, (ft, folder, exp) in PRESETS.items()},
        "recipe": RECIPE,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "threads": args.threads},
    }
    write_json(MODELS / "eval.json", result)

    log("samples ...")
    expected = {}
    for pid, (ft, folder, exp) in PRESETS.items():
        pair = Pair(MODELS / "zs", MODELS / ft, world.SHAPES, TEMPLATES)
        files = write_samples(FINE_TUNES[ft], SAMPLES / folder)
        expected[pid] = evaluate_samples(pair, files, ft, folder)
        write_json(MODELS / exp, expected[pid])
    files = multitask.write_samples(SAMPLES / "toy-multitask")
    expected["toy-multitask"] = multitask.evaluate_samples(MODELS, ROOT, files, result["multitask"], world.SHAPES, TEMPLATES)
    write_json(MODELS / "samples_expected.toy-multitask.json", expected["toy-multitask"])
    write_presets(ROOT / "www" / "presets.json", expected, result["multitask"])
    write_doc(DOC, result, expected, config())
    log(f"done in {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
