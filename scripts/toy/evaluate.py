"""Zero-shot classification and the WiSE-FT sweep, as the Rust tool does it.

Class embeddings: per label, each template's text embedding L2-normalised,
averaged, L2-normalised again. Image embeddings L2-normalised; the prediction
is the argmax of the cosine (the logit scale does not change it).
The merge is tensor by tensor on the weights as stored (f16 widened to f32):
f32(1 - a) * zs + f32(a) * ft for every tensor the fine-tune has, the rest
(text tower, projections, logit_scale) from the zero-shot file.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPModel

from .model import normalise, prompts, tokenize


@torch.no_grad()
def class_embeddings(model: CLIPModel, labels: list[str], templates: list[str]) -> torch.Tensor:
    ids = tokenize(prompts(labels, templates))
    text = F.normalize(model.get_text_features(input_ids=ids).pooler_output.float(), dim=-1)
    text = text.reshape(len(labels), len(templates), -1).mean(dim=1)
    return F.normalize(text, dim=-1)


@torch.no_grad()
def image_embeddings(model: CLIPModel, u8: torch.Tensor, batch: int = 500) -> torch.Tensor:
    out = []
    for i in range(0, len(u8), batch):
        feats = model.get_image_features(pixel_values=normalise(u8[i : i + batch])).pooler_output
        out.append(F.normalize(feats.float(), dim=-1))
    return torch.cat(out)


@torch.no_grad()
def predict(model: CLIPModel, u8: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return (image_embeddings(model, u8) @ classes.T).argmax(dim=1)


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
            out[name] = torch.from_numpy(b * z.numpy() + a * f.numpy())
    return out


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return float((pred == labels).double().mean())
