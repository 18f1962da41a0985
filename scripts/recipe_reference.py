"""Merge recipes, written from the papers' formulas: the reference the Rust merge is checked against.

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

Used by scripts/gen_recipe_fixtures.py (the test fixtures) and scripts/toy/multitask.py (the offline
world's multi-task report).
"""

from __future__ import annotations

import re

import numpy as np
import torch


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


def ties_vector(taus: list, names: list, top_k: float, shapes: dict) -> dict:
    """taus: per fine-tune {name: float32 τ} over the tensors it has; the result over `names`
    (`shapes`: name -> shape, for the tensors a fine-tune lacks, whose τ is zero)."""
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
        rows.append(torch.cat([full[n] if n in full else torch.zeros(int(np.prod(shapes[n]))) for n in names]))
    T = torch.stack(rows).double()
    merged = disjoint_merge(T, resolve_sign(T)).numpy()
    out, at = {}, 0
    for n in names:
        size = int(np.prod(shapes[n]))
        out[n] = merged[at : at + size].reshape(shapes[n])
        at += size
    return out



# ---------------------------------------------------------------- recipes


def merge(recipe: dict, zs: dict, fts: dict) -> dict:
    """The merged state of `recipe` (its `fine_tuned` names keys of `fts`), float32 numpy per tensor of `zs`
    (numpy arrays, any float dtype); sums in float64, rounded once."""
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
        d = ties_vector(taus, union, float(recipe.get("top_k", 20)), {n: zs[n].shape for n in floats})
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
