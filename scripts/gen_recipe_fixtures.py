#!/usr/bin/env python
"""Reference fixtures for merge recipes, written from the papers' formulas.

Makes, deterministically (fixed numpy seeds, no network), from the tiny
zero-shot model tests/fixtures/models/a_zs:

  models/r_ft1/   vision fine-tune with projection and logit_scale
                  (CLIPVisionModelWithProjection + logit_scale), float32
  models/r_ft2/   vision-only fine-tune (CLIPVisionModel) that leaves
                  encoder layer 1 exactly as it was, float32
  reference/recipes.json          each case: its recipe, the zero-shot
                                  probabilities of the merged model
                                  (transformers, float32), and which tensors
                                  differ from the zero-shot model
  reference/recipes.safetensors   "<case>/<tensor>": the merged tensors that
                                  differ from the zero-shot model

The three fine-tunes merged are models/a_ft (gen_fixtures.py), r_ft1, r_ft2.

The formulas (wise-ft, task arithmetic, average, TIES, schedules over depth and tensor families)
are those of scripts/recipe_reference.py, whose docstring lists them.

Usage, from the repository root (torch, transformers, safetensors):

    python scripts/gen_recipe_fixtures.py
"""

from __future__ import annotations

import json
import shutil
import sys

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from transformers import CLIPConfig  # noqa: E402

from fixtures.common import FIXTURES, MODELS_DIR, PAIRS, REFERENCE_DIR, TEMPLATES, prompts_for, write_json  # noqa: E402
from recipe_reference import merge  # noqa: E402
from fixtures.reference import clip_from_state, image_features, load_checkpoint, pixel_values, text_features, zero_shot_probs  # noqa: E402

ZS = "models/a_zs"
FINE_TUNES = ["models/a_ft", "models/r_ft1", "models/r_ft2"]
LABELS = PAIRS["a"]["labels"]

CASES = {
    "wise_ft_schedule": {"version": 1, "method": "wise-ft", "fine_tuned": ["models/r_ft1"], "alpha": [0.2, 0.9]},
    "task_arithmetic": {"version": 1, "method": "task-arithmetic", "fine_tuned": FINE_TUNES, "lambda": 0.3},
    "task_arithmetic_extrapolate": {"version": 1, "method": "task-arithmetic", "fine_tuned": FINE_TUNES[:2], "lambda": 1.5},
    "task_arithmetic_families": {
        "version": 1,
        "method": "task-arithmetic",
        "fine_tuned": FINE_TUNES,
        "lambda": {"default": [0.1, 0.6], "attention": 0.4, "norm": [1.0, 0.0, 0.5]},
    },
    "average": {"version": 1, "method": "average", "fine_tuned": FINE_TUNES},
    "average_weighted_with_zero_shot": {"version": 1, "method": "average", "fine_tuned": FINE_TUNES, "weights": [1, 2, 1], "zero_shot_weight": 1},
    "ties": {"version": 1, "method": "ties", "fine_tuned": FINE_TUNES, "lambda": 0.3, "top_k": 20},
    "ties_k50_schedule": {"version": 1, "method": "ties", "fine_tuned": FINE_TUNES, "lambda": {"default": 1.0, "mlp": [0.2, 1.2]}, "top_k": 50},
}


# ---------------------------------------------------------------- fine-tunes


def perturb(state: dict, seed: int, scale: float, keep=lambda name: False) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name in sorted(state):
        v = state[name].astype(np.float32)
        if keep(name):
            out[name] = v.copy()
            continue
        step = scale * (float(np.std(v)) + 1e-2) * rng.standard_normal(v.shape)
        out[name] = (v + step).astype(np.float32)
    return out


def write_fine_tunes(zs: dict) -> None:
    vision_cfg = (MODELS_DIR / "a_ft" / "config.json").read_text()
    r1 = {k: v for k, v in zs.items() if k.startswith("vision_model.") or k in ("visual_projection.weight", "logit_scale")}
    r2 = {k: v for k, v in zs.items() if k.startswith("vision_model.")}
    for folder, state in [
        ("r_ft1", perturb(r1, 101, 0.08)),
        ("r_ft2", perturb(r2, 202, 0.12, keep=lambda n: ".encoder.layers.1." in n)),
    ]:
        path = MODELS_DIR / folder
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        save_file({k: np.array(v, dtype=np.float32, order="C") for k, v in state.items()}, str(path / "model.safetensors"))
        (path / "config.json").write_text(vision_cfg)


@torch.no_grad()
def main() -> None:
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    zs = load_checkpoint(FIXTURES / ZS)
    write_fine_tunes(zs)
    fts = {p: load_checkpoint(FIXTURES / p) for p in FINE_TUNES}
    config = CLIPConfig.from_pretrained(str(FIXTURES / ZS))
    pixels = pixel_values(FIXTURES / ZS)
    templates = TEMPLATES["ensemble"]
    prompts = prompts_for(LABELS)

    cases, tensors = {}, {}
    for key, recipe in CASES.items():
        merged = merge(recipe, zs, fts)
        changed = [n for n in sorted(merged) if not np.array_equal(merged[n], zs[n].astype(np.float32))]
        for n in changed:
            tensors[f"{key}/{n}"] = np.array(merged[n], dtype=np.float32, order="C")
        model = clip_from_state(config, merged)
        image_embeds = image_features(model, pixels)
        text_embeds = dict(zip(prompts, text_features(model, prompts)))
        probs = zero_shot_probs(image_embeds, text_embeds, LABELS, templates, float(merged["logit_scale"]))
        cases[key] = {"recipe": recipe, "changed": changed, "probs": probs.tolist()}
        print(f"{key}: {len(changed)} tensors changed, top-1 {probs.argmax(axis=1).tolist()}")

    save_file(tensors, str(REFERENCE_DIR / "recipes.safetensors"))
    write_json(
        REFERENCE_DIR / "recipes.json",
        {"zero_shot": ZS, "labels": LABELS, "templates": templates, "images": [f"images/{i}" for i in __import__("fixtures.common", fromlist=["VALID_IMAGES"]).VALID_IMAGES], "cases": cases},
    )


if __name__ == "__main__":
    main()
