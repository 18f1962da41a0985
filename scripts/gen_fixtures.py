#!/usr/bin/env python
"""Regenerate every reference fixture under tests/fixtures/.

Makes, deterministically (fixed numpy seeds, no network):
  images/      synthetic test pictures (PNG/JPEG, several modes, EXIF, broken files)
  models/      tiny random CLIP checkpoints in Hugging Face layout:
               a_zs (f32 CLIPModel), a_ft (f32 vision-only fine-tune),
               b_zs (f16), b_ft (bf16, full fine-tune + classifier head),
               b_zs_bin (b_zs as a pickled pytorch_model.bin)
  reference/   pixels.safetensors  CLIP resize + centre crop (uint8) per image
               tokens.json         open_clip tokenizer ids for tricky texts
               pair_a.json, pair_b.json          WiSE-FT features and zero-shot
                                                 probabilities at alpha 0, 0.35, 1
               merged_a_0.35.json, merged_b_0.35.json   per-tensor merge digests
               merge_check.json    only with --wiseft: the Rust merge, checked
                                   with transformers (otherwise left as it is)

Usage, from the repository root, with the packages of
scripts/requirements-fixtures.txt installed (never needed in CI: the output is
committed):

    python scripts/gen_fixtures.py [--wiseft target/release/wiseft]
"""

from __future__ import annotations

import argparse
import sys

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from fixtures.common import FIXTURES  # noqa: E402
from fixtures.images import write_images  # noqa: E402
from fixtures.merge_check import run_merge_check  # noqa: E402
from fixtures.models import write_models  # noqa: E402
from fixtures.pixels import write_pixels  # noqa: E402
from fixtures.preprocess_refs import write_pixel_values  # noqa: E402
from fixtures.reference import write_references  # noqa: E402
from fixtures.tokens import write_tokens  # noqa: E402

SIZE_BUDGET = 9_500_000


def print_sizes() -> int:
    total = 0
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file()):
        size = path.stat().st_size
        total += size
        print(f"{size:>10,}  {path.relative_to(FIXTURES)}")
    print(f"{total:>10,}  total ({total / 1e6:.2f} MB)")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wiseft", metavar="PATH", help="wiseft binary: also write reference/merge_check.json")
    args = parser.parse_args()

    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()  # b_ft's classifier.* are expected extras
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    np.random.seed(0)

    print("images ...")
    write_images()
    print("pixels ...")
    write_pixels()
    write_pixel_values()
    print("tokens ...")
    write_tokens()
    print("models ...")
    write_models()
    print("reference features + self-checks ...")
    write_references()
    if args.wiseft:
        print("merge check ...")
        run_merge_check(args.wiseft)

    total = print_sizes()
    if total > SIZE_BUDGET:
        print(f"warning: fixtures exceed {SIZE_BUDGET:,} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
