"""Several task fine-tunes merged into one model, on the offline world (issue 14).

Three fine-tunes of the same zero-shot model, each on one style (striped, pixelated, sketch), merged
by the recipes of scripts/recipe_reference.py (the formulas the Rust merge is checked against):
the uniform average, task arithmetic and TIES. Measured on held-out pictures, with their own seeds:

- `validation`: 200 pictures of each of the three task styles; the λ of task arithmetic and of TIES
  is chosen on it (the highest mean accuracy over the three styles, the smallest λ on a tie), never
  on the pictures the table reports;
- `evaluation`: 400 pictures of every style, for the per-style table: the zero-shot model, each
  fine-tune alone, and each merge (task arithmetic and TIES at their chosen λ and at FusionBench's
  default λ = 0.3).

And, for the Rust CLI and the page to match, the same models' top label and margin on the preset's
shipped samples (samples_expected.toy-multitask.json; tests/toy.rs runs `wiseft classify --recipe`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPModel

from recipe_reference import merge

from . import world
from .data import draw, save_samples
from .evaluate import accuracy, class_embeddings, image_embeddings, pixel_values, pixel_values_of_files, png_roundtrip
from .model import load_f32

# The fine-tunes merged (folder under www/models/toy -> its style), in the preset's order.
FINE_TUNES = {"ft-striped": "striped", "ft-pixelated": "pixelated", "ft-sketch": "sketch"}
TASK_STYLES = list(FINE_TUNES.values())
OTHER_STYLES = [s for s in world.STYLES if s not in TASK_STYLES]
LAMBDAS = [round(0.05 * i, 2) for i in range(1, 31)]  # 0.05 .. 1.5 (λ = 0 is the zero-shot model)
TOP_K = 20  # TIES: keep the 20 % largest entries of each task vector (FusionBench's default)
DEFAULT_LAMBDA = 0.3  # FusionBench's default for task arithmetic and TIES
SETS = {"validation_per_style": 200, "evaluation_per_style": 400, "samples_task_per_label": 2, "samples_other_per_label": 1}
SEEDS = {"validation": 7, "evaluation": 8, "samples_task": 9, "samples_other": 10}


class Merges:
    """θ₀ and the fine-tunes as numpy float32 (f16 as shipped, widened), merged by any recipe."""

    def __init__(self, models: Path, labels: list[str], templates: list[str]):
        self.models = models
        self.config = CLIPConfig.from_pretrained(str(models / "zs"))
        self.zs = {k: v.numpy() for k, v in load_f32(models / "zs" / "model.safetensors").items()}
        self.fts = {f"www/models/toy/{f}": {k: v.numpy() for k, v in load_f32(models / f / "model.safetensors").items()} for f in FINE_TUNES}
        self.model = self._model(self.zs)
        # Vision-only fine-tunes: the text tower is θ₀'s in every merge, one set of class embeddings.
        self.classes = class_embeddings(self.model, labels, templates)

    def _model(self, state: dict) -> CLIPModel:
        model = CLIPModel(self.config).float().eval()
        model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True)
        return model

    def load(self, recipe: dict | None) -> None:
        """Make `recipe` the model `predict` uses (None: the zero-shot model)."""
        self.model = self._model(self.zs if recipe is None else merge(recipe, self.zs, self.fts))

    @torch.no_grad()
    def scores(self, pixels: torch.Tensor) -> torch.Tensor:
        return image_embeddings(self.model, pixels) @ self.classes.T


def recipe(method: str, **coefficients) -> dict:
    return {"version": 1, "method": method, "zero_shot": "www/models/toy/zs",
            "fine_tuned": [f"www/models/toy/{f}" for f in FINE_TUNES], **coefficients}


def models_compared(chosen: dict) -> list[tuple[str, dict | None]]:
    """(name, recipe) of every model the tables report; None is the zero-shot model."""
    out: list[tuple[str, dict | None]] = [("zero-shot", None)]
    for folder, style in FINE_TUNES.items():
        out.append((f"{style} fine-tune", {"version": 1, "method": "wise-ft", "zero_shot": "www/models/toy/zs",
                                           "fine_tuned": [f"www/models/toy/{folder}"], "alpha": 1.0}))
    out.append(("average", recipe("average")))
    for method, name, extra in [("task-arithmetic", "task arithmetic", {}), ("ties", f"TIES, k = {TOP_K} %", {"top_k": TOP_K})]:
        lam = chosen[method]
        if lam == DEFAULT_LAMBDA:
            out.append((f"{name}, λ = {lam} (chosen, = FusionBench's default)", recipe(method, **{"lambda": lam}, **extra)))
        else:
            out.append((f"{name}, λ = {lam} (chosen)", recipe(method, **{"lambda": lam}, **extra)))
            out.append((f"{name}, λ = {DEFAULT_LAMBDA} (FusionBench's default)", recipe(method, **{"lambda": DEFAULT_LAMBDA}, **extra)))
    return out


def held_out(seed: int, styles: list[str], per_style: int, zs_folder: Path):
    drawn = draw(seed, styles, per_style * len(styles), balanced=True)
    pixels = pixel_values(zs_folder, [png_roundtrip(im) for im in drawn.images])
    labels = torch.tensor([world.SHAPES.index(s.shape) for s in drawn.scenes])
    styles_of = np.array([s.style for s in drawn.scenes])
    return pixels, labels, styles_of


def per_style(pred: torch.Tensor, labels: torch.Tensor, styles_of: np.ndarray) -> dict[str, float]:
    return {s: accuracy(pred[torch.from_numpy(styles_of == s)], labels[torch.from_numpy(styles_of == s)]) for s in dict.fromkeys(styles_of)}


def evaluate(models: Path, labels: list[str], templates: list[str], log) -> dict:
    m = Merges(models, labels, templates)
    zs = models / "zs"
    log("multi-task: validation pictures ...")
    val = held_out(SEEDS["validation"], TASK_STYLES, SETS["validation_per_style"], zs)

    curves = {}
    for method, extra in [("task-arithmetic", {}), ("ties", {"top_k": TOP_K})]:
        curve = []
        for lam in LAMBDAS:
            m.load(recipe(method, **{"lambda": lam}, **extra))
            acc = per_style(m.scores(val[0]).argmax(dim=1), val[1], val[2])
            curve.append(float(np.mean([acc[s] for s in TASK_STYLES])))
        curves[method] = curve
        log(f"  {method}: best validation mean {max(curve):.3f} at λ = {LAMBDAS[int(np.argmax(curve))]}")
    # np.argmax takes the first maximum: the smallest λ on a tie.
    chosen = {method: LAMBDAS[int(np.argmax(curve))] for method, curve in curves.items()}

    log("multi-task: evaluation pictures ...")
    ev = held_out(SEEDS["evaluation"], world.STYLES, SETS["evaluation_per_style"], zs)
    table = []
    for name, r in models_compared(chosen):
        m.load(r)
        acc = per_style(m.scores(ev[0]).argmax(dim=1), ev[1], ev[2])
        row = {"name": name, "recipe": r, "style_accuracy": {s: acc[s] for s in world.STYLES},
               "task_mean": float(np.mean([acc[s] for s in TASK_STYLES])),
               "other_mean": float(np.mean([acc[s] for s in OTHER_STYLES]))}
        table.append(row)
        log(f"  {name}: task styles {row['task_mean']:.3f}, other styles {row['other_mean']:.3f}")
    return {
        "fine_tunes": FINE_TUNES, "task_styles": TASK_STYLES, "other_styles": OTHER_STYLES,
        "images": {"validation_per_style": SETS["validation_per_style"], "evaluation_per_style": SETS["evaluation_per_style"]},
        "lambda": LAMBDAS, "validation_task_mean": curves, "chosen_lambda": chosen, "top_k": TOP_K,
        "models": table,
    }


def write_samples(folder: Path) -> dict[str, list[Path]]:
    """The preset's sample PNGs: `task/<style>/` pictures of each of the three task styles (one named
    set per task, for lecture mode's per-task curves), `shift/` of the others."""
    n = len(world.SHAPES)
    sets = {
        "task": draw(SEEDS["samples_task"], TASK_STYLES, SETS["samples_task_per_label"] * n * len(TASK_STYLES), balanced=True),
        "shift": draw(SEEDS["samples_other"], OTHER_STYLES, SETS["samples_other_per_label"] * n * len(OTHER_STYLES), balanced=True),
    }
    return save_samples(sets, folder, by_style=("task",))


def evaluate_samples(models: Path, root: Path, files: dict[str, list[Path]], report: dict, labels: list[str], templates: list[str]) -> dict:
    """Top label and margin of every model of the report on the shipped samples (label = folder)."""
    m = Merges(models, labels, templates)
    compared = [(row["name"], row["recipe"]) for row in report["models"]]
    out = {"models": [name for name, _ in compared], "recipes": [r for _, r in compared], "labels": labels, "templates": templates}
    for name, paths in files.items():
        pixels = pixel_values_of_files(models / "zs", paths)
        truth = torch.tensor([labels.index(p.parent.name) for p in paths])
        acc, per_image = [], {str(p.relative_to(root)): {"top": [], "margin": []} for p in paths}
        for _, r in compared:
            m.load(r)
            top2 = m.scores(pixels).topk(2, dim=1)
            acc.append(accuracy(top2.indices[:, 0], truth))
            for p, idx, val in zip(paths, top2.indices, top2.values):
                entry = per_image[str(p.relative_to(root))]
                entry["top"].append(labels[int(idx[0])])
                entry["margin"].append(round(float(val[0] - val[1]), 6))
        folder = next(p for p in paths[0].parents if p.name == name).relative_to(root).as_posix()
        out[name] = {"folder": folder, "images": len(paths), "accuracy": acc, "per_image": per_image}
    return out
