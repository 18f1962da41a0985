"""Zero-shot classification and the WiSE-FT sweep, computed as the Rust tool does.

Pictures go PNG bytes -> `transformers.image_utils.load_image` ->
`CLIPImageProcessorPil` (the zero-shot folder's preprocessor_config.json).
Class embeddings: per label, each template's text embedding L2-normalised,
averaged, L2-normalised again; image embeddings L2-normalised; the prediction
is the argmax of the cosine (the logit scale does not change it).
The merge is tensor by tensor on the weights as stored (f16 widened to f32):
f32(1 - a) * zs + f32(a) * ft for every tensor the fine-tune has, everything
else (text tower, projections, logit_scale) from the zero-shot file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel
from transformers.image_utils import load_image

from .model import load_f32, prompts, tokenize


@torch.no_grad()
def class_embeddings(model: CLIPModel, labels: list[str], templates: list[str]) -> torch.Tensor:
    ids = tokenize(prompts(labels, templates))
    text = F.normalize(model.get_text_features(input_ids=ids).pooler_output.float(), dim=-1)
    text = text.reshape(len(labels), len(templates), -1).mean(dim=1)
    return F.normalize(text, dim=-1)


@torch.no_grad()
def image_embeddings(model: CLIPModel, pixel_values: torch.Tensor, batch: int = 500) -> torch.Tensor:
    out = []
    for i in range(0, len(pixel_values), batch):
        feats = model.get_image_features(pixel_values=pixel_values[i : i + batch]).pooler_output
        out.append(F.normalize(feats.float(), dim=-1))
    return torch.cat(out)


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return float((pred == labels).double().mean())


# ------------------------------------------------------------------ pictures


def png_roundtrip(image: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return load_image(Image.open(io.BytesIO(buf.getvalue())))


def pixel_values(folder: Path, images: list[Image.Image]) -> torch.Tensor:
    """What the processor of `folder` makes of already loaded pictures."""
    processor = CLIPImageProcessorPil.from_pretrained(str(folder))
    out = [processor(images=images[i : i + 500], return_tensors="pt")["pixel_values"] for i in range(0, len(images), 500)]
    return torch.cat(out).float()


def pixel_values_of_files(folder: Path, files: list[Path]) -> torch.Tensor:
    return pixel_values(folder, [load_image(str(f)) for f in files])


# ------------------------------------------------------------------ WiSE-FT


def merge(zs: dict[str, torch.Tensor], ft: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    a = np.float32(alpha)
    b = np.float32(1.0 - alpha)
    out = {}
    for name, z in zs.items():
        f = ft.get(name)
        if f is None or alpha == 0.0:
            out[name] = z
        elif alpha == 1.0:
            out[name] = f
        else:
            if f.shape != z.shape:
                raise ValueError(f"{name}: {tuple(f.shape)} vs {tuple(z.shape)}")
            out[name] = torch.from_numpy(b * z.numpy() + a * f.numpy())
    return out


class Pair:
    """The shipped zero-shot / fine-tuned files, merged at any alpha."""

    def __init__(self, zs_folder: Path, ft_folder: Path, labels: list[str], templates: list[str]):
        self.config = CLIPConfig.from_pretrained(str(zs_folder))
        self.zs = load_f32(zs_folder / "model.safetensors")
        self.ft = load_f32(ft_folder / "model.safetensors")
        assert set(self.ft) <= set(self.zs)
        # The text tower is never merged: one set of class embeddings for every alpha.
        self.classes = class_embeddings(self.model(0.0), labels, templates)
        # The zero-shot temperature (as the page's probability bars use it).
        self.logit_scale = float(self.zs["logit_scale"].exp().clamp(max=100.0))

    def model(self, alpha: float) -> CLIPModel:
        model = CLIPModel(self.config).float().eval()
        model.load_state_dict(merge(self.zs, self.ft, alpha), strict=True)
        return model

    @torch.no_grad()
    def scores(self, alpha: float, pixels: torch.Tensor) -> torch.Tensor:
        """[n, labels] cosines between images and class embeddings."""
        return image_embeddings(self.model(alpha), pixels) @ self.classes.T


def cosines(pair: Pair, alphas: list[float], sets: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Per set, the cosine of every picture to every class at every alpha.

    `sets` maps a name to pixel_values [n, 3, H, W]; the result maps it to a float32 array
    [len(alphas), n, labels] (its arg-max over labels is the prediction the accuracies count).
    One merged model per alpha serves every set.
    """
    out = {name: np.zeros((len(alphas), len(px), len(pair.classes)), dtype=np.float32) for name, px in sets.items()}
    for i, alpha in enumerate(alphas):
        model = pair.model(alpha)
        for name, px in sets.items():
            with torch.no_grad():
                out[name][i] = (image_embeddings(model, px) @ pair.classes.T).numpy()
    return out


def probabilities(pair: Pair, cos: np.ndarray) -> np.ndarray:
    """Class probabilities from `cosines` output: softmax(exp(logit_scale) * cosine) over the
    labels, float64, same shape (per alpha, per picture, per class) -- what an alpha-selection
    rule (prediction entropy, agreement between models) is computed from."""
    z = pair.logit_scale * cos.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
