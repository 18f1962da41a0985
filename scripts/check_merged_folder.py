"""tests/fixtures/reference/merged_folder.json: `wiseft merge --output DIR/`
checked with transformers as a model folder.

For each output dtype (f32, f16, bf16), the wiseft binary merges fixture pair a
at alpha 0.35 into a folder; then, with the reference libraries:

* `CLIPModel.from_pretrained(DIR)` (dtype "auto": the config's) must load it
  with every parameter in the written dtype, and `CLIPImageProcessorPil` must
  load its preprocessor_config.json;
* the f16 / bf16 tensors must equal torch's `.half()` / `.bfloat16()` of the
  f32 merge, bit for bit (round to nearest even);
* the zero-shot probabilities of transformers on those weights (computed in
  float32, with CLIPImageProcessorPil's pixels and open_clip's tokens) are
  compared with `wiseft classify --zero-shot DIR --json` on the same images and
  labels: the maximum difference is recorded and must stay below 1e-4.

The fixture records, per dtype, the SHA-256 of the file's tensor bytes (the
data section after the header), which tests/provenance.rs compares with what
the CLI writes, and the differences measured. Never run in CI:

    /work/venv/ref/bin/python scripts/check_merged_folder.py --wiseft target/debug/wiseft
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import CLIPModel  # noqa: E402

from fixtures.common import FIXTURES, MERGE_ALPHA, PAIRS, REFERENCE_DIR, REPO_ROOT, VALID_IMAGES, write_json  # noqa: E402
from fixtures.pixels import slow_clip_processor_from  # noqa: E402
from fixtures.reference import image_features, text_features, zero_shot_probs  # noqa: E402

TOLERANCE = 1e-4
TEMPLATE = "a photo of a {}."
TORCH_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def data_sha256(path: Path) -> str:
    """SHA-256 of the tensor bytes: everything after the 8-byte length and the header."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return hashlib.sha256(raw[8 + n :]).hexdigest()


def header(path: Path) -> dict:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n])


def wiseft_probs(binary: str, folder: Path, labels: list[str]) -> np.ndarray:
    out = subprocess.run(
        [binary, "classify", "--zero-shot", str(folder), "--labels", ",".join(labels), "--template", TEMPLATE,
         "--device", "cpu", "--json", *[str(FIXTURES / "images" / n) for n in VALID_IMAGES]],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    )
    results = json.loads(out.stdout)["results"]
    return np.array([r["probs"] for r in results], dtype=np.float64)


@torch.no_grad()
def transformers_probs(folder: Path, dtype: torch.dtype, labels: list[str]) -> np.ndarray:
    model = CLIPModel.from_pretrained(str(folder), dtype="auto").eval()
    dtypes = {p.dtype for p in model.parameters()}
    assert dtypes == {dtype}, f"{folder}: loaded as {dtypes}, written as {dtype}"
    # The weights exactly as stored, computed in float32 as wiseft computes.
    model = model.float()
    processor = slow_clip_processor_from(folder)
    from transformers.image_utils import load_image

    pixels = processor(images=[load_image(str(FIXTURES / "images" / n)) for n in VALID_IMAGES], return_tensors="pt")["pixel_values"].float()
    prompts = [TEMPLATE.replace("{}", label) for label in labels]
    text = dict(zip(prompts, text_features(model, prompts)))
    return zero_shot_probs(image_features(model, pixels), text, labels, [TEMPLATE], float(model.logit_scale))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wiseft", required=True, metavar="PATH", help="the wiseft binary")
    args = parser.parse_args()
    binary = str(Path(args.wiseft).resolve())
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    pair = PAIRS["a"]
    labels = pair["labels"]
    record = {"pair": "a", "alpha": MERGE_ALPHA, "labels": labels, "template": TEMPLATE, "by_dtype": {}}

    with tempfile.TemporaryDirectory(prefix="wiseft-folder-") as tmp:
        folders = {}
        for name in TORCH_DTYPES:
            folder = Path(tmp) / name
            subprocess.run(
                [binary, "merge", "--zero-shot", f"tests/fixtures/{pair['zero_shot']}", "--fine-tuned", f"tests/fixtures/{pair['fine_tuned']}",
                 "--alpha", str(MERGE_ALPHA), "--dtype", name, "--output", f"{folder}/"],
                cwd=REPO_ROOT, check=True, capture_output=True,
            )
            for file in ["model.safetensors", "config.json", "preprocessor_config.json", "README.md"]:
                assert (folder / file).is_file(), f"{name}: no {file}"
            folders[name] = folder

        f32 = load_file(str(folders["f32"] / "model.safetensors"))
        probs = {}
        for name, dtype in TORCH_DTYPES.items():
            folder = folders[name]
            weights = folder / "model.safetensors"
            tensors = load_file(str(weights))
            rounded = 0
            for key, t in f32.items():
                if not t.is_floating_point():
                    assert torch.equal(tensors[key], t), key
                    continue
                want = t.to(dtype)
                assert tensors[key].dtype == dtype, (key, tensors[key].dtype)
                bits = torch.int32 if dtype == torch.float32 else torch.int16
                assert torch.equal(tensors[key].view(bits), want.view(bits)), f"{name} {key}: not torch's rounding"
                rounded += t.numel()
            ours = wiseft_probs(binary, folder, labels)
            theirs = transformers_probs(folder, dtype, labels)
            diff = float(np.max(np.abs(ours - theirs)))
            print(f"{name}: {weights.stat().st_size} bytes, {rounded} floats equal to torch's rounding, max |p_wiseft - p_transformers| = {diff:.3g}")
            assert diff < TOLERANCE, (name, diff)
            meta = header(weights)["__metadata__"]
            record["by_dtype"][name] = {
                "data_sha256": data_sha256(weights),
                "file_bytes": weights.stat().st_size,
                "floats_checked_against_torch_rounding": rounded,
                "max_abs_diff_probs_wiseft_vs_transformers": diff,
                # How far the rounding moves transformers' own probabilities (f32 first).
                "max_abs_diff_probs_vs_f32_transformers": float(np.max(np.abs(theirs - probs.get("f32", theirs)))),
                "metadata": meta,
            }
            probs[name] = theirs
    record["transformers_version"] = transformers.__version__
    record["torch_version"] = torch.__version__
    path = REFERENCE_DIR / "merged_folder.json"
    write_json(path, record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
