"""JSON output and docs/TOY_WORLD.md.

Every number in the document's results section is read from eval.json and
samples_expected.json as train.py wrote them; the rest is fixed prose.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from alpha_rules import NAMES, rules_markdown  # scripts/ is on the path (train.py)

from . import world

_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][^\[\]{}\"]*?)\s*\]")
_STRING = r'"(?:[^"\\]|\\.)*"'
_STRING_LIST = re.compile(r"\[(\s*" + _STRING + r"(?:\s*,\s*" + _STRING + r")*\s*)\]")


def write_json(path: Path, obj) -> None:
    """Indented JSON with lists of numbers or strings kept on one line; floats rounded to 6 places."""

    def rounded(x):
        if isinstance(x, float):
            return round(x, 6)
        if isinstance(x, dict):
            return {k: rounded(v) for k, v in x.items()}
        if isinstance(x, list):
            return [rounded(v) for v in x]
        return x

    text = json.dumps(rounded(obj), indent=1, ensure_ascii=False, allow_nan=False)
    one_line = lambda m: "[" + re.sub(r",\s+", ", ", m.group(1).strip()) + "]"  # noqa: E731
    text = _NUMBER_LIST.sub(one_line, text)
    text = _STRING_LIST.sub(one_line, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _at(result: dict, key: str, alpha: float) -> float:
    return result[key][result["alpha"].index(alpha)]


def _curve_table(fine_tune: dict, alphas: list[float], at=(0.0, 0.25, 0.5, 0.75, 1.0)) -> str:
    task = fine_tune["style"]
    shifts = [s for s in world.STYLES if s != task]
    rows = ["| α | task (" + task + ") | shift (mean) | " + " | ".join(shifts) + " |",
            "|---|---|---|" + "---|" * len(shifts)]
    for alpha in at:
        i = alphas.index(alpha)
        cells = [_pct(fine_tune["style_accuracy"][s][i]) for s in shifts]
        rows.append(f"| {alpha:g} | {_pct(fine_tune['task_accuracy'][i])} | {_pct(fine_tune['shift_accuracy'][i])} | "
                    + " | ".join(cells) + " |")
    return "\n".join(rows)


def _summary(fine_tune: dict, alphas: list[float]) -> list[str]:
    at = lambda key, a: fine_tune[key][alphas.index(a)]  # noqa: E731
    zs_t, ft_t, mid_t = (at("task_accuracy", a) for a in (0.0, 1.0, 0.5))
    zs_s, ft_s, mid_s = (at("shift_accuracy", a) for a in (0.0, 1.0, 0.5))
    best = max(range(len(alphas)), key=lambda i: fine_tune["shift_accuracy"][i])
    best_t = max(range(len(alphas)), key=lambda i: fine_tune["task_accuracy"][i])
    return [
        f"- Fine-tuning raises task accuracy from {_pct(zs_t)} % to {_pct(ft_t)} % "
        f"({100 * (ft_t - zs_t):+.1f} points) and takes shift accuracy from {_pct(zs_s)} % to {_pct(ft_s)} % "
        f"({100 * (ft_s - zs_s):+.1f}).",
        f"- The weight-space ensemble at α = 0.5 keeps {_pct(mid_t)} % on the task "
        f"({100 * (mid_t - ft_t):+.1f} points from the fine-tuned model) and {_pct(mid_s)} % on the shifts "
        f"({100 * (mid_s - ft_s):+.1f} points over the fine-tuned model, {100 * (mid_s - zs_s):+.1f} from zero-shot).",
        f"- Shift accuracy peaks at α = {alphas[best]:g} ({_pct(fine_tune['shift_accuracy'][best])} %); "
        f"task accuracy at α = {alphas[best_t]:g} ({_pct(fine_tune['task_accuracy'][best_t])} %).",
    ]


def _gains(fine_tune: dict, alphas: list[float]) -> str:
    """Which shifts the α = 0.5 merge and the fine-tune gain on, relative to zero-shot."""
    task = fine_tune["style"]
    i0, i5, i1 = (alphas.index(a) for a in (0.0, 0.5, 1.0))
    acc = fine_tune["style_accuracy"]
    shifts = [s for s in world.STYLES if s != task]
    gain = [s for s in shifts if acc[s][i5] > acc[s][i0]]
    loss = [s for s in shifts if acc[s][i5] <= acc[s][i0]]
    ft_loss = [s for s in shifts if acc[s][i1] < acc[s][i0]]
    fmt = lambda xs: ", ".join(f"`{s}` ({100 * (acc[s][i5] - acc[s][i0]):+.1f})" for s in xs) or "none"  # noqa: E731
    return (f"- Against zero-shot, the α = 0.5 merge gains on {fmt(gain)} and does not on {fmt(loss)}; "
            f"the fine-tuned model itself is below zero-shot on "
            + (", ".join(f"`{s}` ({100 * (acc[s][i1] - acc[s][i0]):+.1f})" for s in ft_loss) or "none") + ".")


def _samples_table(samples: dict) -> list[str]:
    lines = ["| α | " + " | ".join(f"{k} ({samples[k]['images']} pictures)" for k in ("task", "shift")) + " |",
             "|---|---|---|"]
    for i, alpha in enumerate(samples["alpha"]):
        lines.append(f"| {alpha:g} | {_pct(samples['task']['accuracy'][i])} | {_pct(samples['shift']['accuracy'][i])} |")
    return lines


def _results(result: dict, samples: dict) -> str:
    alphas = result["alpha"]
    default = result["fine_tunes"]["ft"]
    task = result["task_style"]
    lines = [
        "### The default pair (`zs/` + `ft/`, photo fine-tune; preset `toy`)",
        "",
        _curve_table(default, alphas),
        "",
        *_summary(default, alphas),
        _gains(default, alphas),
        "",
        f"Evaluated on {result['images']['task']} held-out {task} pictures and "
        f"{result['images']['shift_per_style']} per shift style ({result['images']['shift']} in all), "
        f"prompt{'s' if len(result['templates']) > 1 else ''} "
        + ", ".join(f"`{t}`" for t in result["templates"]) + "; the full curves (α = 0, 0.05, …, 1) and "
        "per-style accuracies of every fine-tune are in `www/models/toy/eval.json` (`fine_tunes`).",
        "",
        "The shipped samples (`www/samples/toy`, label = folder name), as in "
        "`www/models/toy/samples_expected.json`:",
        "",
        *_samples_table(samples["toy"]),
        "",
        "### A destructive fine-tune (`zs/` + `ft-sketch/`; preset `toy-sketch`)",
        "",
        "The same zero-shot model fine-tuned on `sketch` pictures only, with the shared recipe (20 epochs, the",
        "default pair of issue 6, unchanged); the shifts are then all the other styles, photos included.",
        "",
        _curve_table(result["fine_tunes"]["ft-sketch"], alphas),
        "",
        *_summary(result["fine_tunes"]["ft-sketch"], alphas),
        _gains(result["fine_tunes"]["ft-sketch"], alphas),
        "",
        "Its samples (`www/samples/toy-sketch`, `www/models/toy/samples_expected.toy-sketch.json`):",
        "",
        *_samples_table(samples["toy-sketch"]),
        "",
        "### Choosing α on the evaluation sets",
        "",
        *_rules(result),
        "",
        "### Every fine-tune on every style",
        "",
        "Accuracy (%) of each fine-tune of the one zero-shot model (α = 1) on each style's held-out set, "
        "with the zero-shot model (α = 0) and each merge at α = 0.5 in brackets; the fine-tune's own style in bold. "
        "`ft-striped` and `ft-pixelated` are there for merging several task fine-tunes.",
        "",
        _every_style(result),
        "",
        "### Several task fine-tunes merged into one (preset `toy-multitask`)",
        "",
        *_multitask(result["multitask"], samples["toy-multitask"]),
    ]
    return "\n".join(lines)


# FusionBench's published numbers for CLIP ViT-B/32 on its 8 tasks, quoted (not measured here).
PAPER_MULTITASK = (
    "For comparison, **published** (FusionBench, Tang et al. 2024; not measured here): CLIP ViT-B/32 on eight "
    "image tasks (SUN397, Cars, RESISC45, EuroSAT, SVHN, GTSRB, MNIST, DTD), average accuracy 48.2 % zero-shot, "
    "90.3 % with one fine-tune per task, 66.5 % for the simple average of the eight, 68.0 % for task arithmetic "
    "(λ = 0.3) and 72.2 % for TIES-merging."
)


def _multitask(mt: dict, samples: dict) -> list[str]:
    """The multi-task merge table (scripts/toy/multitask.py): every model on every style."""
    styles = mt["task_styles"] + mt["other_styles"]
    rows = ["| model | " + " | ".join(f"**{s}**" if s in mt["task_styles"] else s for s in styles)
            + " | mean of the task styles | mean of the others |", "|---|" + "---|" * (len(styles) + 2)]
    for m in mt["models"]:
        rows.append(f"| {m['name']} | " + " | ".join(_pct(m["style_accuracy"][s]) for s in styles)
                    + f" | {_pct(m['task_mean'])} | {_pct(m['other_mean'])} |")
    best = {k: max(v) for k, v in mt["validation_task_mean"].items()}
    lam = mt["lambda"]
    return [
        "Three fine-tunes of the one zero-shot model — " + ", ".join(f"`{f}/` on {s}" for f, s in mt["fine_tunes"].items())
        + " — merged by the recipes of `scripts/recipe_reference.py` (the formulas the Rust merge is checked "
        "against): the uniform average of the three, task arithmetic θ₀ + λ·Σᵢ(θᵢ − θ₀), and TIES "
        f"(top {mt['top_k']} % of each task vector, elected signs, disjoint mean, times λ). λ was chosen on a "
        f"separate validation draw ({mt['images']['validation_per_style']} pictures of each task style; λ = "
        f"{lam[0]:g}, {lam[1]:g}, …, {lam[-1]:g}; the best mean accuracy over the three task styles, the smaller λ "
        f"on a tie): task arithmetic λ = {mt['chosen_lambda']['task-arithmetic']:g} ({_pct(best['task-arithmetic'])} % "
        f"there), TIES λ = {mt['chosen_lambda']['ties']:g} ({_pct(best['ties'])} %). The table is measured on "
        f"another {mt['images']['evaluation_per_style']} held-out pictures of every style; task styles in bold; "
        "accuracy in %. All of it is in `www/models/toy/eval.json` (`multitask`), the validation curves included.",
        "",
        *rows,
        "",
        PAPER_MULTITASK,
        "",
        "The preset's samples (`www/samples/toy-multitask`: `task/<style>/` one named set per task style — lecture mode draws one accuracy curve for each —, `shift/` the others; "
        "`www/models/toy/samples_expected.toy-multitask.json`, which `tests/toy.rs` checks `wiseft classify "
        "--recipe` against):",
        "",
        "| model | task samples | other samples |",
        "|---|---|---|",
        *[f"| {name} | {_pct(samples['task']['accuracy'][i])} | {_pct(samples['shift']['accuracy'][i])} |"
          for i, name in enumerate(samples["models"])],
    ]


# The paper's own numbers, quoted (not measured here): WiSE-FT (Wortsman, Ilharco et al., CVPR 2022),
# Table 1 and Appendix B, CLIP ViT-L/14@336 fine-tuned end to end on ImageNet, five shifts.
PAPER_RULES = [
    "Beside it, **published** (Wortsman, Ilharco et al., *Robust fine-tuning of zero-shot models*, CVPR 2022; "
    "not measured here): for CLIP ViT-L/14@336 fine-tuned on ImageNet, zero-shot 76.2 % on ImageNet / 73.3 % "
    "averaged over five shifts, fine-tuned 86.2 / 68.6, α = 0.5 86.8 / 76.9 (Table 1). ImageNet accuracy "
    "peaks at α ≈ 0.6–0.7 while the shifts' average peaks at α ≈ 0.35, so choosing α on in-distribution "
    "data alone gives away 1.4–2.5 points under shift, and the best α beats α = 0.5 by only 0–0.4 points "
    "on average over the paper's models (Appendix B).",
]


def _rules(result: dict) -> list[str]:
    """The rules' table (scripts/alpha_rules.py, the numpy twin of src/choose/) of each fine-tune
    whose evaluation carries one, with the paper's published numbers beside it."""
    lines = [
        "What each rule of `wiseft sweep` and lecture mode (issue 13) picks on the held-out evaluation sets "
        "above, and what it costs under shift against the oracle (the α with the best shift accuracy, which "
        "needs the shift labels). The label-free rules see the shift set with its labels hidden: the mean "
        "entropy of the merged model's predictions, and agreement-on-the-line (the shift accuracy estimated "
        "from the agreement between merges on the task and on the shift set). Computed by "
        "`scripts/alpha_rules.py` from the same probabilities the accuracies count; ties go to the smaller α.",
        "",
    ]
    for folder, title in (("ft", "the default pair (photo task)"), ("ft-sketch", "the destructive fine-tune (sketch task)")):
        table = result["fine_tunes"].get(folder, {}).get("rules")
        if table is None:
            continue
        lines += [f"**{title}**, `zs/` + `{folder}/`:", "", rules_markdown(table), ""]
        best = min((r for r in table["rules"] if r["rule"] != "oracle" and r["loss_vs_oracle"] is not None),
                   key=lambda r: (r["loss_vs_oracle"], r["alpha"]))
        lines += [f"Here the rule that would have served best is *{NAMES[best['rule']]}* "
                  f"(α = {best['alpha']:g}, {100 * best['loss_vs_oracle']:.1f} points below the oracle under shift).", ""]
    return lines + PAPER_RULES


def _every_style(result: dict) -> str:
    alphas = result["alpha"]
    i0, i5, i1 = (alphas.index(a) for a in (0.0, 0.5, 1.0))
    rows = ["| fine-tune (task style) | " + " | ".join(world.STYLES) + " | mean of the others |",
            "|---|" + "---|" * (len(world.STYLES) + 1)]
    first = next(iter(result["fine_tunes"].values()))
    rows.append("| zero-shot (α = 0) | " + " | ".join(_pct(first["style_accuracy"][s][i0]) for s in world.STYLES) + " | |")
    for folder, ft in result["fine_tunes"].items():
        cells = []
        for s in world.STYLES:
            cell = f"{_pct(ft['style_accuracy'][s][i1])} ({_pct(ft['style_accuracy'][s][i5])})"
            cells.append(f"**{cell}**" if s == ft["style"] else cell)
        rows.append(f"| `{folder}` ({ft['style']}) | " + " | ".join(cells)
                    + f" | {_pct(ft['shift_accuracy'][i1])} ({_pct(ft['shift_accuracy'][i5])}) |")
    return "\n".join(rows)


def _recipe(result: dict, cfg) -> str:
    p, f = result["recipe"]["pretrain"], result["recipe"]["finetune"]
    v, t = cfg.vision_config, cfg.text_config
    return f"""\
**Model** (`CLIPModel`, openai key names, `quick_gelu`): vision ViT {v.image_size} px, patch {v.patch_size}
({(v.image_size // v.patch_size) ** 2} patches + class token), width {v.hidden_size}, {v.num_hidden_layers} layers,
{v.num_attention_heads} heads, MLP {v.intermediate_size}; text width {t.hidden_size}, {t.num_hidden_layers} layers,
{t.num_attention_heads} heads, MLP {t.intermediate_size}, the full 49408-token CLIP BPE vocabulary (open_clip's
tokenizer, 77 positions); projection {cfg.projection_dim}. The token embedding (49408 × {t.hidden_size}) is most
of the zero-shot file. Preprocessing: `CLIPImageProcessor` with shortest edge {v.image_size}, centre crop
{v.image_size}, bicubic, CLIP mean/std; the pictures are drawn at {world.CANVAS} × {world.CANVAS}.

**Pre-training** (zero-shot model): {p['images']} captioned pictures, all styles equally often, {p['steps']}
steps of {p['batch']} (about {p['steps'] * p['batch'] // p['images']} epochs), symmetric InfoNCE with a learnable
temperature (clamped at 100; pictures with the very same caption in a batch count as positives of each other),
AdamW lr {p['lr']:g} (β = 0.9, 0.98), weight decay {p['weight_decay']} on matrices only, {p['warmup']} warm-up steps,
cosine decay. The weights are rounded to f16 and shipped; everything after starts from the f16 weights.

**Fine-tuning** (the WiSE-FT recipe): the head is the zero-shot classifier — the normalised text embeddings
of `a photo of a {{label}}.` for the {len(result['labels'])} labels, times the zero-shot `exp(logit_scale)` —
and stays frozen, as does the whole text tower, the visual projection and the logit scale. Only
`vision_model.*` is trained, end to end, with cross-entropy on {f['images']} {f['style']} pictures (balanced over
labels), {f['epochs']} epochs of {f['batch']}, AdamW lr {f['lr']:g}, weight decay {f['weight_decay']}, {f['warmup']}
warm-up steps, cosine decay. The result is saved in `CLIPVisionModel` layout (only `vision_model.*` keys, f16),
like the public `tanganke/clip-vit-base-patch32_<task>` checkpoints. The other fine-tunes
({", ".join(f"`{k}/` on {v}" for k, v in f['styles'].items() if k != "ft")}) use the very same recipe, data seed
(the same scenes, drawn in their style) and training seed, from the same zero-shot weights.

**Evaluation**: the merge exactly as `wiseft` does it, on the weights as stored (f16 widened to f32):
`f32(1 − α) · zs + f32(α) · ft` on every vision tensor, text tower, projections and logit scale from the
zero-shot file; pictures through PNG → `load_image` → `CLIPImageProcessorPil`; zero-shot classification by the
cosine to the class embeddings."""


def write_doc(path: Path, result: dict, samples: dict, cfg) -> None:
    template = (Path(__file__).parent / "TOY_WORLD.template.md").read_text(encoding="utf-8")
    styles = "\n".join(f"| `{s}` | " + " / ".join(f"“{p} …”" for p in world.STYLE_PHRASES[s]) + " |" for s in world.STYLES)
    text = (
        template.replace("{{LABELS}}", ", ".join(f"`{s}`" for s in world.SHAPES))
        .replace("{{COLOURS}}", ", ".join(world.COLOURS))
        .replace("{{STYLES}}", styles)
        .replace("{{TASK}}", result["task_style"])
        .replace("{{RECIPE}}", _recipe(result, cfg))
        .replace("{{RESULTS}}", _results(result, samples))
    )
    assert "{{" not in text, "unfilled placeholder in TOY_WORLD.template.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
