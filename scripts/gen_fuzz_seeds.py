#!/usr/bin/env python3
"""Writes the fuzz seeds (tests/fixtures/fuzz/<target>/seed-*) and the PyTorch reference values
(tests/fixtures/hostile/torch_reference.json) with the reference libraries themselves: torch.save
for the checkpoints and pickles, safetensors for its format, Pillow for the images, transformers
for the configs. Every seed is a valid input a few hundred bytes to a few KB long; the fuzz smoke
test (tests/fuzz_smoke.rs) requires each to decode and then mutates it.

Run with the reference environment: /work/venv/ref/bin/python scripts/gen_fuzz_seeds.py
"""

import collections
import io
import json
import os
import struct
import zipfile

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save as st_save

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
FUZZ = os.path.join(ROOT, "fuzz")
rng = np.random.default_rng(15)


def write(target, name, data):
    os.makedirs(os.path.join(FUZZ, target), exist_ok=True)
    with open(os.path.join(FUZZ, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- safetensors: every dtype, metadata, an empty tensor, a scalar -----------------------------
tensors = {
    "vision_model.embeddings.class_embedding": rng.standard_normal(8).astype(np.float32),
    "vision_model.pre_layrnorm.weight": rng.standard_normal(8).astype(np.float16),
    "text_model.final_layer_norm.bias": rng.standard_normal((2, 3)).astype(np.float64),
    "logit_scale": np.array(2.6592, dtype=np.float32),
    "position_ids": np.arange(6, dtype=np.int64).reshape(1, 6),
    "mask": np.array([True, False, True]),
    "ints": np.array([-3, 7], dtype=np.int32),
    "small": np.array([-1, 2, 3], dtype=np.int8),
    "empty": np.zeros((0, 4), dtype=np.float32),
}
write("safetensors", "seed-dtypes.safetensors", st_save(tensors, metadata={"format": "pt", "note": "fuzz seed"}))
write("safetensors", "seed-one.safetensors", st_save({"w": rng.standard_normal((3, 4)).astype(np.float32)}))

# --- PyTorch zips, and their pickles on their own ----------------------------------------------
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
state = collections.OrderedDict()
state["vision_model.embeddings.class_embedding"] = torch.randn(8, generator=torch.Generator().manual_seed(1))
state["transposed"] = base.t()  # a strided view
state["sliced"] = base[1:3, 2:5]  # an offset view of the same storage
state["shared"] = base  # the storage the two views use
state["half"] = torch.linspace(-2, 2, 5).half()
state["bf16"] = torch.linspace(-1, 1, 4).bfloat16()
state["long"] = torch.arange(3, dtype=torch.int64)
state["bool"] = torch.tensor([True, False])
state["param"] = torch.nn.Parameter(torch.ones(2, 2) * 0.5)
state["scalar"] = torch.tensor(3.25)


def torch_bytes(obj, protocol=2):
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol)
    return buf.getvalue()


def data_pkl(archive):
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        name = next(n for n in z.namelist() if n.endswith("data.pkl"))
        return z.read(name)


plain = torch_bytes(state)
wrapped = torch_bytes({"state_dict": state, "epoch": 3, "lr": 1e-4, "name": "fuzz"})
write("pytorch", "seed-views.bin", plain)
write("pytorch", "seed-training.bin", wrapped)
write("pickle", "seed-views.pkl", data_pkl(plain))
write("pickle", "seed-training.pkl", data_pkl(wrapped))
write("pickle", "seed-protocol4.pkl", data_pkl(torch_bytes(state, protocol=4)))

reference = {
    name: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "values": t.detach().float().flatten().tolist()}
    for name, t in state.items()
}
os.makedirs(os.path.join(ROOT, "hostile"), exist_ok=True)
with open(os.path.join(ROOT, "hostile", "torch_reference.json"), "w") as f:
    json.dump({"torch": torch.__version__, "seeds": ["seed-views.bin", "seed-training.bin"], "tensors": reference}, f, indent=1)

# --- configs -------------------------------------------------------------------------------------
from transformers import CLIPConfig, CLIPImageProcessor  # noqa: E402

clip = CLIPConfig(
    vision_config=dict(hidden_size=64, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2, image_size=16, patch_size=8),
    text_config=dict(hidden_size=64, intermediate_size=32, num_attention_heads=4, num_hidden_layers=1, vocab_size=100, max_position_embeddings=8),
    projection_dim=16,
)
write("config", "seed-config.json", clip.to_json_string())
write("config", "seed-preprocessor.json", json.dumps(CLIPImageProcessor(size={"shortest_edge": 16}, crop_size=16).to_dict(), indent=1))
open_clip_cfg = {
    "model_cfg": {
        "embed_dim": 16,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 16, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 8, "vocab_size": 100, "width": 64, "heads": 4, "layers": 1},
    },
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
}
write("config", "seed-open-clip.json", json.dumps(open_clip_cfg, indent=1))

# --- config inference: the shapes of that tiny CLIP (what its safetensors header says) ----------
from transformers import CLIPModel  # noqa: E402

model = CLIPModel(clip)
shapes = {k: list(v.shape) for k, v in model.state_dict().items() if not k.endswith("position_ids")}
write("infer", "seed-clip.json", json.dumps(shapes, indent=0))
write("infer", "seed-vision.json", json.dumps({k: v for k, v in shapes.items() if k.startswith("vision_model.") or k == "visual_projection.weight"}, indent=0))

# --- images --------------------------------------------------------------------------------------
yy, xx = np.mgrid[0:12, 0:16]
photo = np.stack([xx * 16, yy * 20, (xx + yy) * 9], axis=-1).astype(np.uint8)
img = Image.fromarray(photo)


def saved(image, fmt, **kw):
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


exif = Image.Exif()
exif[0x0112] = 6  # orientation: rotate
write("jpeg", "seed-baseline-exif.jpg", saved(img, "JPEG", quality=80, exif=exif.tobytes(), comment=b"fuzz seed"))
write("jpeg", "seed-progressive.jpg", saved(img, "JPEG", quality=70, progressive=True, subsampling=2))
write("jpeg", "seed-restart-422.jpg", saved(img.resize((11, 5)), "JPEG", quality=90, subsampling=1, restart_marker_blocks=1))
write("jpeg", "seed-gray.jpg", saved(img.convert("L"), "JPEG", quality=75))
write("jpeg", "seed-cmyk.jpg", saved(img.convert("CMYK"), "JPEG", quality=75))

from PIL import PngImagePlugin  # noqa: E402

info = PngImagePlugin.PngInfo()
info.add_text("Comment", "an ancillary chunk the fuzz test rewrites")
write("image", "seed-text.png", saved(img, "PNG", pnginfo=info))
pal = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
write("image", "seed-palette-trns.png", saved(pal, "PNG", transparency=0))
write("image", "seed-gray16.png", saved(Image.fromarray((xx * 4000).astype(np.uint16)), "PNG"))
write("image", "seed-rgba.png", saved(img.convert("RGBA"), "PNG"))
write("image", "seed-transparent.gif", saved(pal, "GIF", transparency=2))
write("image", "seed-rgb.bmp", saved(img.resize((6, 5)), "BMP"))
write("image", "seed-palette.bmp", saved(pal.resize((6, 5)), "BMP"))
write("image", "seed-lossless.webp", saved(img, "WEBP", lossless=True))

# --- recipes (as the README shows them) ----------------------------------------------------------
write("recipe", "seed-ties.json", json.dumps({"version": 1, "method": "ties", "zero_shot": "openai/clip-vit-base-patch32",
                                              "fine_tuned": ["a", "b"], "lambda": 0.3, "top_k": 20}))
write("recipe", "seed-schedule.json", json.dumps({"version": 1, "method": "wise-ft",
                                                  "alpha": {"default": [0.1, 0.6], "attention": 0.4, "mlp": [0.2, 1.0], "norm": 0.3, "embedding": 0}}))
write("recipe", "seed-average.json", json.dumps({"version": 1, "method": "average", "fine_tuned": ["a", "b", "c"], "weights": [1, 2, 1], "zero_shot_weight": 0.5}))

for target in sorted(os.listdir(FUZZ)):
    files = sorted(os.listdir(os.path.join(FUZZ, target)))
    print(target, [(f, os.path.getsize(os.path.join(FUZZ, target, f))) for f in files])
