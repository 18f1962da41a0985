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

Formulas (θ₀ zero-shot, θᵢ fine-tunes, τᵢ = θᵢ − θ₀ in float32, a tensor a
fine-tune lacks counts as θ₀'s, i.e. τᵢ = 0 there):
  wise-ft          θ = (1 − α)·θ₀ + α·θ₁                 Wortsman et al. 2022
  task-arithmetic  θ = θ₀ + λ·Σᵢ τᵢ                       Ilharco et al. 2023
  average          θ = (w₀θ₀ + Σᵢ wᵢθᵢ) / (w₀ + Σᵢ wᵢ)     model soups
  ties             θ = θ₀ + λ·disjoint_mean(elect(trim_k(τᵢ)))   Yadav et al. 2023
                   (trim over all of a task vector's parameters at once, as in
                   the authors' code: topk_values_mask, resolve_sign with the
                   "majority" rule, disjoint_merge — copied below)
Schedules: a coefficient given as a list is interpolated linearly over depth
t ∈ [0, 1] (embeddings 0, encoder layer i of L at (i+1)/(L+1), the final norm,
projections and logit_scale 1); as an object, per family (attention = self_attn,
mlp, norm = layer norms, embedding), `default` for the rest.

Usage, from the repository root (torch, transformers, safetensors):

    python scripts/gen_recipe_fixtures.py
"""

from __future__ import annotations

import json
import re
import shutil
import sys

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from transformers import CLIPConfig  # noqa: E402

from fixtures.common import FIXTURES, MODELS_DIR, PAIRS, REFERENCE_DIR, TEMPLATES, prompts_for, write_json  # noqa: E402
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


# ---------------------------------------------------------------- schedules


FAMILIES = {"attention": ".self_attn.", "mlp": ".mlp."}
LAYER = re.compile(r"\.encoder\.layers\.(\d+)\.")


def tower(name: str) -> str:
    if name.startswith(("vision_model.", "visual_projection")):
        return "vision"
    if name.startswith(("text_model.", "text_projection")):
        return "text"
    return ""


def depth(name: str, layers: dict) -> float:
    total = layers.get(tower(name), 0) + 1
    m = LAYER.search(name)
    if m:
        return (int(m.group(1)) + 1) / total
    if ".embeddings." in name or "pre_layrnorm" in name:
        return 0.0
    return 1.0


def family(name: str):
    if ".self_attn." in name:
        return "attention"
    if ".mlp." in name:
        return "mlp"
    if "layer_norm" in name or "layernorm" in name or "layrnorm" in name:
        return "norm"
    if ".embeddings." in name:
        return "embedding"
    return None


def levels_at(levels, t: float) -> float:
    if isinstance(levels, (int, float)):
        return float(levels)
    if len(levels) == 1:
        return float(levels[0])
    return float(np.interp(t * (len(levels) - 1), np.arange(len(levels)), levels))


def coefficient(value, name: str, layers: dict) -> float:
    t = depth(name, layers)
    if isinstance(value, dict):
        f = family(name)
        return levels_at(value[f] if f in value else value["default"], t)
    return levels_at(value, t)


# ---------------------------------------------------------------- TIES (the authors' code)


def topk_values_mask(M, K=0.7):
    if K > 1:
        K /= 100
    if M.dim() == 1:
        M = M.unsqueeze(0)
    n, d = M.shape
    k = int(d * K)
    k = d - k  # Keep top k elements instead of bottom k elements
    if k <= 0:
        return M, torch.ones_like(M, dtype=torch.bool)
    kth_values, _ = M.abs().kthvalue(k, dim=1, keepdim=True)
    mask = M.abs() >= kth_values
    return M * mask, mask


def resolve_sign(T):
    sign_to_mult = torch.sign(T.sum(dim=0))
    majority_sign = torch.sign(sign_to_mult.sum())
    sign_to_mult[sign_to_mult == 0] = majority_sign
    return sign_to_mult


def disjoint_merge(T, sign_to_mult):
    rows_to_keep = torch.where(sign_to_mult.unsqueeze(0) > 0, T > 0, T < 0)
    selected = T * rows_to_keep
    counts = (selected != 0).sum(dim=0).float()
    return torch.sum(selected, dim=0) / torch.clamp(counts, min=1)


def ties_vector(taus: list, names: list, top_k: float) -> dict:
    """taus: per fine-tune {name: float32 τ} over the tensors it has; the result over `names`."""
    rows = []
    for tau in taus:
        own = [n for n in names if n in tau]
        flat = torch.from_numpy(np.concatenate([tau[n].ravel() for n in own]))
        trimmed, _ = topk_values_mask(flat, K=top_k)
        trimmed = trimmed.squeeze(0)
        full, at = {}, 0
        for n in own:
            size = tau[n].size
            full[n] = trimmed[at : at + size]
            at += size
        rows.append(torch.cat([full[n] if n in full else torch.zeros(int(np.prod(SHAPES[n]))) for n in names]))
    T = torch.stack(rows).double()
    merged = disjoint_merge(T, resolve_sign(T)).numpy()
    out, at = {}, 0
    for n in names:
        size = int(np.prod(SHAPES[n]))
        out[n] = merged[at : at + size].reshape(SHAPES[n])
        at += size
    return out


SHAPES: dict = {}


# ---------------------------------------------------------------- recipes


def merge(recipe: dict, zs: dict, fts: dict) -> dict:
    thetas = [fts[p] for p in recipe["fine_tuned"]]
    floats = sorted(zs)
    layers = {}
    for n in floats:
        m = LAYER.search(n)
        if m:
            layers[tower(n)] = max(layers.get(tower(n), 0), int(m.group(1)) + 1)
    taus = [{n: (th[n].astype(np.float32) - zs[n].astype(np.float32)) for n in floats if n in th} for th in thetas]
    method = recipe["method"]
    out = {}
    if method == "ties":
        union = [n for n in floats if any(n in t for t in taus)]
        d = ties_vector(taus, union, float(recipe.get("top_k", 20)))
    for n in floats:
        z = zs[n].astype(np.float64)
        if method == "wise-ft":
            if n not in thetas[0]:
                out[n] = zs[n]
                continue
            a = coefficient(recipe.get("alpha", 0.5), n, layers)
            out[n] = (1 - a) * z + a * thetas[0][n].astype(np.float64)
        elif method == "task-arithmetic":
            lam = coefficient(recipe.get("lambda", 0.3), n, layers)
            out[n] = z + lam * sum(t[n].astype(np.float64) for t in taus if n in t)
        elif method == "average":
            w = recipe.get("weights", [1.0] * len(thetas))
            w0 = recipe.get("zero_shot_weight", 0.0)
            # A tensor a fine-tune lacks counts as θ₀'s.
            total = w0 * z + sum(wi * (th[n].astype(np.float64) if n in th else z) for wi, th in zip(w, thetas))
            out[n] = total / (w0 + sum(w))
        elif method == "ties":
            lam = coefficient(recipe.get("lambda", 0.3), n, layers)
            out[n] = z + lam * d[n] if n in d else z
        out[n] = np.asarray(out[n], dtype=np.float32)
    return out


@torch.no_grad()
def main() -> None:
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    zs = load_checkpoint(FIXTURES / ZS)
    write_fine_tunes(zs)
    SHAPES.update({k: v.shape for k, v in zs.items()})
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
