"""The tiny CLIP: configuration, tokenizer, preprocessing and checkpoint files.

The model is a plain Hugging Face `CLIPModel` (key names as openai's), small
enough that the f16 zero-shot file stays under 5 MB: almost all of it is the
49408 x 32 token embedding of the real CLIP BPE vocabulary.

Preprocessing is the PIL `CLIPImageProcessor` (shortest edge 32, centre crop
32, bicubic, CLIP mean/std): `pixel_values` has a fast path for batches of
64x64 pictures that is checked against the processor itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import CLIPConfig, CLIPModel, CLIPVisionModel

IMAGE_SIZE = 32
PATCH_SIZE = 8
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SPECIAL_TOKENS = dict(bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
VISION_PREFIX = "vision_model."


def config() -> CLIPConfig:
    return CLIPConfig(
        text_config=dict(
            hidden_size=32, num_attention_heads=4, num_hidden_layers=3, intermediate_size=128,
            max_position_embeddings=77, vocab_size=49408, hidden_act="quick_gelu",
            projection_dim=64, **SPECIAL_TOKENS,
        ),
        vision_config=dict(
            image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_size=96, num_attention_heads=4,
            num_hidden_layers=4, intermediate_size=384, hidden_act="quick_gelu", projection_dim=64,
        ),
        projection_dim=64,
    )


# ------------------------------------------------------------------ text


def tokenize(texts: list[str], length: int | None = None) -> torch.Tensor:
    """open_clip's CLIP BPE ids, [n, 77] (or cut to `length` columns).

    Cutting is exact for CLIP: attention is causal and the text feature is
    read at the first end token, so the zero padding after it never matters.
    """
    ids = open_clip.tokenize(texts, context_length=77)
    if length is not None:
        assert (ids[:, length:] == 0).all(), "a caption is longer than the cut"
        ids = ids[:, :length]
    return ids


def prompts(labels: list[str], templates: list[str]) -> list[str]:
    return [t.replace("{}", label) for label in labels for t in templates]


# ------------------------------------------------------------------ pixels


def processor():
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        resample=3,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )


def resized_u8(images: list[Image.Image]) -> np.ndarray:
    """[n, 32, 32, 3] uint8: the processor's bicubic resize of square pictures."""
    return np.stack([np.asarray(im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)) for im in images])


def normalise(u8: torch.Tensor) -> torch.Tensor:
    """[n, H, W, 3] uint8 -> [n, 3, H, W] float32 pixel_values."""
    x = u8.permute(0, 3, 1, 2).float() * np.float32(1 / 255)
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(CLIP_STD, dtype=torch.float32)[None, :, None, None]
    return (x - mean) / std


def check_fast_path(images: list[Image.Image]) -> None:
    """The fast path gives the processor's pixel_values (to float rounding)."""
    ref = processor()(images=images, return_tensors="pt")["pixel_values"].float()
    fast = normalise(torch.from_numpy(resized_u8(images)))
    err = (ref - fast).abs().max().item()
    assert err < 1e-5, f"fast preprocessing differs from CLIPImageProcessorPil by {err}"


# ------------------------------------------------------------------ files


def f16_rounded(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to(torch.float16).to(torch.float32) for k, v in state.items()}


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def save_zero_shot(model: CLIPModel, folder: Path) -> None:
    """CLIPModel in f16 + config.json + preprocessor_config.json."""
    fresh_dir(folder)
    half = CLIPModel(model.config)
    half.load_state_dict(model.state_dict())
    half = half.half().eval()
    half.save_pretrained(str(folder))
    state = {k: v.contiguous() for k, v in half.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "model.safetensors").chmod(0o644)
    processor().save_pretrained(str(folder))


def save_vision(vision_state: dict[str, torch.Tensor], cfg: CLIPConfig, folder: Path) -> None:
    """A vision-only fine-tune in CLIPVisionModel layout ("vision_model.*" keys), f16.

    transformers 5 saves CLIPVisionModel without the "vision_model." prefix;
    the public fine-tunes (transformers 4) carry it, so config.json comes from
    save_pretrained and the weights are written with the prefix by hand.
    """
    import copy

    fresh_dir(folder)
    # A copy: .half() records float16 in the config it was built from, and `cfg` is the one the
    # next fine-tune builds its (float32) model from.
    vision = CLIPVisionModel(copy.deepcopy(cfg.vision_config)).half().eval()
    vision.save_pretrained(str(folder))
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in vision_state.items()}
    assert all(k.startswith(VISION_PREFIX) for k in state)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "model.safetensors").chmod(0o644)
    config_path = folder / "config.json"
    conf = json.loads(config_path.read_text())
    conf["dtype"] = "float16"
    config_path.write_text(json.dumps(conf, indent=2, sort_keys=True) + "\n")


def load_f32(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file widened to float32, as the Rust tool reads it."""
    return {k: v.float() for k, v in load_file(str(path)).items()}
