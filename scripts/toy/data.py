"""Data sets drawn from the world, as tensors ready for training.

Every set has its own seed, so the pre-training, fine-tuning, evaluation and
sample sets never share a random stream (held out by construction).
Pictures are kept as the processor's 32x32 bicubic resize (uint8), which is
exactly what a shipped 64x64 PNG becomes in `CLIPImageProcessor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import world
from .model import resized_u8, tokenize

CAPTION_TOKENS = 20  # longest caption is < 20 tokens; see model.tokenize


@dataclass
class Pictures:
    u8: torch.Tensor  # [n, 32, 32, 3] uint8
    labels: torch.Tensor  # [n] int64, index into world.SHAPES
    styles: torch.Tensor  # [n] int64, index into world.STYLES
    captions: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def draw(seed: int, styles: list[str], weights: list[float], n: int, balanced: bool = False) -> Pictures:
    """n scenes; styles drawn with the given weights, shapes uniform (or cycled if balanced)."""
    rng = np.random.default_rng(seed)
    p = np.asarray(weights, dtype=np.float64)
    p = p / p.sum()
    images, labels, style_ids, captions = [], [], [], []
    for i in range(n):
        style = styles[rng.choice(len(styles), p=p)]
        shape = world.SHAPES[i % len(world.SHAPES)] if balanced else None
        scene, image, text = world.sample(rng, style, shape)
        images.append(image)
        labels.append(scene.label)
        style_ids.append(world.STYLES.index(style))
        captions.append(text)
    return Pictures(
        u8=torch.from_numpy(resized_u8(images)),
        labels=torch.tensor(labels, dtype=torch.int64),
        styles=torch.tensor(style_ids, dtype=torch.int64),
        captions=captions,
    )


def caption_ids(captions: list[str]) -> torch.Tensor:
    """Token ids per caption, [n, CAPTION_TOKENS]; unique captions are tokenized once."""
    unique = sorted(set(captions))
    index = {c: i for i, c in enumerate(unique)}
    ids = tokenize(unique, CAPTION_TOKENS)
    return ids[torch.tensor([index[c] for c in captions])]
