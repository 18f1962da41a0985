#!/usr/bin/env python
"""Regenerate tests/fixtures/openclip/: tiny random OpenCLIP ViT checkpoints made with open_clip
itself, and what open_clip computes with them.

  quick_zs/   open_clip_model.safetensors (F16) + open_clip_config.json: quick_gelu, bicubic,
              shortest-edge resize + centre crop, OpenAI mean/std
  quick_ft/   open_clip_pytorch_model.bin (a pickled OpenCLIP state dict, F16) + config: the
              fine-tune of quick_zs (every tensor perturbed)
  quick_ft_hf/ model.safetensors + config.json: the vision tower of quick_ft in transformers'
              layout (CLIPVisionModelWithProjection), checked here with transformers
  gelu_zs/    open_clip_model.safetensors (F32) + config: exact GELU, squash resize, other
              mean/std, odd sizes
  odd_margin.png  a 64×70 picture whose crop margin is odd (torchvision and transformers differ)
  reference.json  probabilities computed by open_clip (`create_model_and_transforms('local-dir:…')`,
              so with its own loading and preprocessing) for a few images and labels: each zero-shot
              model alone, quick_zs + quick_ft and quick_zs + quick_ft_hf merged at α
  hub_names.json  the file names open_clip reads from a hub repository (open_clip.constants) and
              the hub repository of the ViT-B-32 laion2b_s34b_b79k weights (open_clip.pretrained)

Usage (the output is committed; needs torch, open_clip_torch, transformers, safetensors, pillow):

    python scripts/gen_openclip_fixtures.py
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import open_clip  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "openclip"
IMAGES = ["images/photo.png", "images/wide.png", "images/tall.jpg", "images/photo.jpg", "openclip/odd_margin.png"]
LABELS = ["cat", "dog", "red car", "tree", "the ocean"]
TEMPLATE = "a photo of a {}."
ALPHAS = [0.0, 0.35, 1.0]

QUICK_CFG = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "mlp_ratio": 2.0, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 8, "heads": 2, "layers": 2},
}
QUICK_PP = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic", "resize_mode": "shortest"}
GELU_CFG = {
    "embed_dim": 12,
    "vision_cfg": {"image_size": 30, "layers": 3, "width": 30, "head_width": 6, "mlp_ratio": 2.5, "patch_size": 6},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 6, "heads": 2, "layers": 2, "mlp_ratio": 3.0},
}
GELU_PP = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "squash"}


def init_std(name: str, shape) -> tuple[float, float]:
    """(mean, std) of each parameter: O(1) activations, so that labels differ between images."""
    if name == "logit_scale":
        return math.log(100.0), 0.0
    if name.endswith("class_embedding") or "token_embedding" in name:
        return 0.0, 1.0
    if "positional_embedding" in name:
        return 0.0, 0.3
    if "ln_" in name:
        return (1.0, 0.1) if name.endswith(".weight") else (0.0, 0.05)
    if name.endswith("bias"):
        return 0.0, 0.05
    if name in ("visual.proj", "text_projection"):  # used as x @ proj: fan-in is the first dim
        return 0.0, 1.0 / math.sqrt(shape[0])
    gain = 2.0 if ("out_proj" in name or "c_proj" in name) else 1.0
    return 0.0, gain / math.sqrt(int(np.prod(shape[1:])))


def random_state(model, rng, dtype) -> dict[str, torch.Tensor]:
    out = {}
    for name, t in model.state_dict().items():
        mean, std = init_std(name, tuple(t.shape))
        v = mean + std * rng.standard_normal(tuple(t.shape))
        out[name] = torch.from_numpy(np.asarray(v, dtype=np.float32)).to(dtype).contiguous()
    return out


def perturbed(state, rng, scale=0.5):
    out = {}
    for name, t in state.items():
        mean, std = init_std(name, tuple(t.shape))
        std = std if std > 0 else 0.3  # logit_scale moves too
        v = t.float().numpy() + scale * std * rng.standard_normal(tuple(t.shape))
        out[name] = torch.from_numpy(np.asarray(v, dtype=np.float32)).to(t.dtype).contiguous()
    return out


def write_config(folder: Path, model_cfg, pp):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": pp}, indent=2) + "\n")


def to_hf_vision(state, cfg) -> dict[str, torch.Tensor]:
    """The vision tower of an OpenCLIP state dict in transformers' CLIPVisionModelWithProjection layout."""
    w = cfg["vision_cfg"]["width"]
    out = {
        "vision_model.embeddings.class_embedding": state["visual.class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": state["visual.conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": state["visual.positional_embedding"],
        "vision_model.pre_layrnorm.weight": state["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": state["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": state["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": state["visual.ln_post.bias"],
        "visual_projection.weight": state["visual.proj"].t().contiguous(),
    }
    for i in range(cfg["vision_cfg"]["layers"]):
        s, d = f"visual.transformer.resblocks.{i}", f"vision_model.encoder.layers.{i}"
        for j, p in enumerate(["q_proj", "k_proj", "v_proj"]):
            out[f"{d}.self_attn.{p}.weight"] = state[f"{s}.attn.in_proj_weight"][j * w:(j + 1) * w].contiguous()
            out[f"{d}.self_attn.{p}.bias"] = state[f"{s}.attn.in_proj_bias"][j * w:(j + 1) * w].contiguous()
        for a, b in [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                     ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]:
            out[f"{d}.{b}.weight"] = state[f"{s}.{a}.weight"]
            out[f"{d}.{b}.bias"] = state[f"{s}.{a}.bias"]
    return {k: v.contiguous() for k, v in out.items()}


def check_hf_vision(folder: Path, oc_model, transform):
    from transformers import CLIPVisionModelWithProjection
    hf = CLIPVisionModelWithProjection.from_pretrained(str(folder), dtype=torch.float32).eval()
    img = transform(Image.open(ROOT / "tests/fixtures" / IMAGES[0])).unsqueeze(0)
    with torch.no_grad():
        a = hf(pixel_values=img).image_embeds
        b = oc_model.encode_image(img)
    diff = (a - b).abs().max().item()
    assert diff < 1e-4, f"transformers and open_clip disagree on {folder.name}: {diff}"
    print(f"  {folder.name}: transformers == open_clip image embeddings (max diff {diff:.2e})")


def probabilities(model, transform, tokenizer) -> list[list[float]]:
    with torch.no_grad():
        imgs = torch.stack([transform(Image.open(ROOT / "tests/fixtures" / f)) for f in IMAGES])
        img = model.encode_image(imgs)
        txt = model.encode_text(tokenizer([TEMPLATE.format(l) for l in LABELS]))
        img = img / img.norm(dim=-1, keepdim=True)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        logits = model.logit_scale.exp() * img @ txt.T
        return logits.softmax(dim=-1).tolist()


def load(folder: Path):
    model, _, transform = open_clip.create_model_and_transforms("local-dir:" + str(folder))
    return model.eval(), transform


def merged_model(zs_folder: Path, zs_state, ft_state, alpha):
    """quick_zs loaded by open_clip, its weights replaced by (1-α)·zs + α·ft (ft's tensors only)."""
    model, transform = load(zs_folder)
    a, b = np.float32(alpha), np.float32(1.0 - alpha)
    merged = {}
    for k, z in zs_state.items():
        z = z.float()
        merged[k] = b * z + a * ft_state[k].float() if k in ft_state else z
    model.load_state_dict(merged)
    return model, transform


def write_odd_margin_image():
    """70×64: resized to 35×32, a crop margin of 3, where torchvision's centre crop (round half to
    even: top 2) and transformers' (floor: 1) differ."""
    r = np.random.RandomState(7)
    y, x = np.mgrid[0:70, 0:64]
    img = np.stack([x * 4, y * 3, (x + y) * 2], axis=-1) + r.randint(0, 60, (70, 64, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(OUT / "odd_margin.png")


def main():
    torch.set_num_threads(2)
    rng = np.random.RandomState(16)
    OUT.mkdir(parents=True, exist_ok=True)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    write_odd_margin_image()

    quick = open_clip.model.CLIP(**QUICK_CFG)
    zs = random_state(quick, rng, torch.float16)
    write_config(OUT / "quick_zs", QUICK_CFG, QUICK_PP)
    save_file(zs, str(OUT / "quick_zs" / "open_clip_model.safetensors"))
    ft = perturbed(zs, rng)
    write_config(OUT / "quick_ft", QUICK_CFG, QUICK_PP)
    torch.save(ft, str(OUT / "quick_ft" / "open_clip_pytorch_model.bin"))

    gelu = open_clip.model.CLIP(**GELU_CFG)
    gz = random_state(gelu, rng, torch.float32)
    write_config(OUT / "gelu_zs", GELU_CFG, GELU_PP)
    save_file(gz, str(OUT / "gelu_zs" / "open_clip_model.safetensors"))

    # The vision tower of the fine-tune in transformers' layout.
    from transformers import CLIPVisionConfig
    v = QUICK_CFG["vision_cfg"]
    hf_dir = OUT / "quick_ft_hf"
    hf_dir.mkdir(parents=True, exist_ok=True)
    hf_cfg = CLIPVisionConfig(hidden_size=v["width"], intermediate_size=int(v["width"] * v["mlp_ratio"]),
                              num_attention_heads=v["width"] // v["head_width"], num_hidden_layers=v["layers"],
                              image_size=v["image_size"], patch_size=v["patch_size"], hidden_act="quick_gelu",
                              projection_dim=QUICK_CFG["embed_dim"], layer_norm_eps=1e-5)
    hf_cfg.architectures = ["CLIPVisionModelWithProjection"]
    hf_cfg.save_pretrained(str(hf_dir))
    save_file(to_hf_vision(ft, QUICK_CFG), str(hf_dir / "model.safetensors"), metadata={"format": "pt"})
    ft_model, ft_transform = load(OUT / "quick_ft")
    check_hf_vision(hf_dir, ft_model, ft_transform)

    ref = {"images": IMAGES, "labels": LABELS, "template": TEMPLATE, "cases": []}
    for name in ["quick_zs", "gelu_zs", "quick_ft"]:
        model, transform = load(OUT / name)
        ref["cases"].append({"zero_shot": f"openclip/{name}", "fine_tuned": None, "alpha": 0.0,
                             "probs": probabilities(model, transform, tokenizer)})
    ft_visual = {k: t for k, t in ft.items() if k.startswith("visual.")}
    for ft_name, ft_state in [("quick_ft", ft), ("quick_ft_hf", ft_visual)]:
        for alpha in ALPHAS:
            model, transform = merged_model(OUT / "quick_zs", zs, ft_state, alpha)
            ref["cases"].append({"zero_shot": "openclip/quick_zs", "fine_tuned": f"openclip/{ft_name}", "alpha": alpha,
                                 "probs": probabilities(model, transform, tokenizer)})
    (OUT / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")

    from open_clip import constants, pretrained
    hub = pretrained.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")["hf_hub"].rstrip("/")
    names = {"weights_safetensors": constants.HF_SAFE_WEIGHTS_NAME, "weights_pickle": constants.HF_WEIGHTS_NAME,
             "config": constants.HF_CONFIG_NAME, "vit_b_32_laion2b_s34b_b79k": hub,
             "open_clip_version": open_clip.__version__}
    (OUT / "hub_names.json").write_text(json.dumps(names, indent=1) + "\n")

    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{p.stat().st_size:>10,}  {p.relative_to(OUT)}")


if __name__ == "__main__":
    main()
