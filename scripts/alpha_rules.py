#!/usr/bin/env python3
"""How to choose α: the rules of src/choose/ (issue 13) in numpy, with the same definitions, so
that the toy-world report (scripts/toy/) can compute the rules' table on its evaluation sets.

    from alpha_rules import rules_table
    table = rules_table(alphas, probs_task, labels_task, probs_shift, labels_shift, probs_unlabeled)

probs_*[k][i][c]: picture i's probability of class c at alphas[k] (softmax of logit_scale·cosine,
what the page shows). labels_shift and probs_unlabeled may be None (the label-free set is then
the shift set with its labels hidden). Ties between α values (scores within TIE): the smallest α.

    python3 scripts/alpha_rules.py --fixture tests/fixtures/choose/rules.json

writes the small fixture tests/choose.rs compares the Rust rules against (1e-9 on the picked α,
1e-6 on the values); `--check FILE` recomputes it and says whether the committed one still holds.
"""

import argparse
import json
import math

import numpy as np

TIE = 1e-9
RULES = ["half", "task-best", "min-entropy", "agreement-line", "oracle"]


def top1(probs):
    """[n][c] → [n]: the first of equal maxima (as the Rust side)."""
    return np.argmax(np.asarray(probs, dtype=np.float64), axis=-1)


def accuracy(probs, labels):
    return float(np.mean(top1(probs) == np.asarray(labels)))


def mean_entropy(probs):
    p = np.asarray(probs, dtype=np.float64)
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return float(np.mean(-terms.sum(axis=-1)))


def agreement(a, b):
    return float(np.mean(top1(a) == top1(b)))


def phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


_A = [-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00]
_B = [-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01, -1.328068155288572e01]
_C = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00]
_D = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00]


def probit(p):
    """Φ⁻¹: Acklam's approximation, then one Halley step (as src/choose/stats.rs)."""
    low = 0.02425

    def tail(q):
        return (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)

    if p < low:
        x = tail(math.sqrt(-2.0 * math.log(p)))
    elif p <= 1.0 - low:
        q = p - 0.5
        r = q * q
        x = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
    else:
        x = -tail(math.sqrt(-2.0 * math.log(1.0 - p)))
    e = phi(x) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


def clip(p, eps):
    return min(max(p, eps), 1.0 - eps)


def fit_line(x, y):
    """Least squares y ≈ a·x + b; no spread in x → slope 1 and the mean offset."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    mx, my = x.mean(), y.mean()
    sxx = float(((x - mx) ** 2).sum())
    if sxx <= 1e-12 * len(x):
        return 1.0, float(my - mx)
    a = float(((x - mx) * (y - my)).sum()) / sxx
    return a, float(my - a * mx)


def pick(alphas, scores, maximise=True):
    s = np.asarray(scores, dtype=np.float64) * (1.0 if maximise else -1.0)
    ties = [k for k in range(len(alphas)) if s[k] >= s.max() - TIE]
    return min(ties, key=lambda k: alphas[k])


def rules_table(alphas, probs_task, labels_task, probs_shift=None, labels_shift=None, probs_unlabeled=None):
    """The per-α columns and each rule's pick: a dict shaped as the Rust `Rules` (no verdict)."""
    alphas = [float(a) for a in alphas]
    if not alphas:
        raise ValueError("no α values")
    n_task = len(probs_task[0]) if len(probs_task) else 0
    if n_task == 0:
        raise ValueError("the task set is empty")
    if labels_task is None:
        raise ValueError("the task set has no labels")
    if np.asarray(probs_task).shape[-1] < 2:
        raise ValueError("one class only")
    steps = len(alphas)
    task_acc = [accuracy(probs_task[k], labels_task) for k in range(steps)]
    has_shift = probs_shift is not None and len(probs_shift[0]) > 0
    has_unl = probs_unlabeled is not None and len(probs_unlabeled[0]) > 0
    shift_acc = [accuracy(probs_shift[k], labels_shift) for k in range(steps)] if has_shift and labels_shift is not None else None
    free, label_free = (probs_unlabeled, "unlabeled") if has_unl else ((probs_shift, "shift-labels-hidden") if has_shift else (None, None))

    entropy = agree0 = est = line = None
    if free is not None:
        entropy = [mean_entropy(free[k]) for k in range(steps)]
        if 0.0 in alphas:
            z = alphas.index(0.0)
            agree0 = [agreement(free[k], free[z]) for k in range(steps)]
        if steps >= 2:
            et, eu = 0.5 / n_task, 0.5 / len(free[0])
            x, y = [], []
            for i in range(steps):
                for j in range(i + 1, steps):
                    x.append(probit(clip(agreement(probs_task[i], probs_task[j]), et)))
                    y.append(probit(clip(agreement(free[i], free[j]), eu)))
            a, b = fit_line(x, y)
            line = {"slope": a, "intercept": b, "pairs": len(x)}
            est = [phi(a * probit(clip(t, et)) + b) for t in task_acc]

    oracle = pick(alphas, shift_acc) if shift_acc is not None else None
    half = next((k for k, a in enumerate(alphas) if abs(a - 0.5) < TIE), None)
    picks = {
        "half": half,
        "task-best": pick(alphas, task_acc),
        "min-entropy": pick(alphas, entropy, maximise=False) if entropy is not None else None,
        "agreement-line": pick(alphas, est) if est is not None else None,
        "oracle": oracle,
    }
    rules = []
    for rule in RULES:
        k = picks[rule]
        row = {"rule": rule, "alpha": None, "task_accuracy": None, "shift_accuracy": None, "loss_vs_oracle": None}
        if k is not None:
            row.update(alpha=alphas[k], task_accuracy=task_acc[k])
            if shift_acc is not None:
                row.update(shift_accuracy=shift_acc[k], loss_vs_oracle=shift_acc[oracle] - shift_acc[k])
        rules.append(row)
    per_alpha = [
        {
            "alpha": alphas[k],
            "task_accuracy": task_acc[k],
            "shift_accuracy": shift_acc[k] if shift_acc is not None else None,
            "entropy": entropy[k] if entropy is not None else None,
            "agreement_zero_shot": agree0[k] if agree0 is not None else None,
            "estimated_shift_accuracy": est[k] if est is not None else None,
        }
        for k in range(steps)
    ]
    return {"alphas": per_alpha, "label_free": label_free, "line": line, "rules": rules}


NAMES = {
    "half": "α = 0.5",
    "task-best": "best on the task set",
    "min-entropy": "lowest entropy (label-free)",
    "agreement-line": "agreement-on-the-line (label-free)",
    "oracle": "oracle (shift labels)",
}


def rules_markdown(table):
    """The rules' table of `rules_table` as Markdown (for docs/TOY_WORLD.md): rule, α, task and
    shift accuracy in %, loss against the oracle in points."""
    pct = lambda v: "—" if v is None else f"{100 * v:.1f}"
    lines = ["| rule | α | task % | shift % | loss vs oracle (points) |", "|---|---|---|---|---|"]
    for r in table["rules"]:
        alpha = "—" if r["alpha"] is None else f"{r['alpha']:g}"
        lines.append(f"| {NAMES[r['rule']]} | {alpha} | {pct(r['task_accuracy'])} | {pct(r['shift_accuracy'])} | {pct(r['loss_vs_oracle'])} |")
    return "\n".join(lines)


def _sweep(rng, alphas, n, c, drift):
    """Probabilities along α from two random logit sets (zero-shot and fine-tuned), rounded to 6
    decimals to keep the fixture small; `drift` moves the fine-tuned logits toward the labels."""
    labels = rng.integers(0, c, size=n)
    z0 = rng.normal(0, 1.5, size=(n, c))
    z1 = rng.normal(0, 1.5, size=(n, c)) + drift * np.eye(c)[labels]
    probs = []
    for a in alphas:
        z = (1 - a) * z0 + a * z1
        p = np.exp(z - z.max(axis=1, keepdims=True))
        probs.append(np.round(p / p.sum(axis=1, keepdims=True), 6).tolist())
    return probs, labels.tolist()


def fixture(seed=13):
    rng = np.random.default_rng(seed)
    alphas = [k / 4 for k in range(5)]
    cases = []
    for name, shift_labelled, unlabeled in [("all sets", True, True), ("shift without labels", False, False), ("shift labelled, no unlabeled", True, False)]:
        pt, lt = _sweep(rng, alphas, 8, 3, 2.5)
        ps, ls = _sweep(rng, alphas, 6, 3, 0.8)
        pu = _sweep(rng, alphas, 5, 3, 0.8)[0] if unlabeled else None
        case = {
            "name": name,
            "alphas": alphas,
            "probs_task": pt,
            "labels_task": lt,
            "probs_shift": ps,
            "labels_shift": ls if shift_labelled else None,
            "probs_unlabeled": pu,
        }
        case["expected"] = rules_table(alphas, pt, lt, ps, case["labels_shift"], pu)
        cases.append(case)
    return {"about": "scripts/alpha_rules.py --fixture: inputs and the numpy rules table, for tests/choose.rs", "cases": cases}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", help="write the comparison fixture (JSON) here")
    ap.add_argument("--check", help="recompute the fixture and compare it with this file")
    args = ap.parse_args()
    if args.check:
        with open(args.check) as f:
            committed = json.load(f)
        fresh = json.loads(json.dumps(fixture()))
        if committed != fresh:
            raise SystemExit(f"{args.check}: differs from what scripts/alpha_rules.py computes now; regenerate it with --fixture")
        print(f"{args.check}: up to date")
    if args.fixture:
        with open(args.fixture, "w") as f:
            json.dump(fixture(), f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {args.fixture}")
