"""Data sets drawn from the world.

Every set has its own seed, so the pre-training, fine-tuning, evaluation and
sample sets never share a random stream (held out by construction).
Training sets keep each picture as the processor's 32x32 bicubic resize
(uint8, see model.resized_u8), which is exactly what the 64x64 picture
becomes in `CLIPImageProcessor`; evaluation sets keep the 64x64 pictures and
go through the processor itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import world
from .model import resized_u8, tokenize

CAPTION_TOKENS = 20  # every caption is shorter; see model.tokenize


@dataclass
class Drawn:
    scenes: list[world.Scene]
    images: list[Image.Image]  # 64x64 RGB
    captions: list[str]


@dataclass
class Pictures:
    u8: torch.Tensor  # [n, 32, 32, 3] uint8, resized as the processor does
    labels: torch.Tensor  # [n] int64, index into world.SHAPES
    styles: torch.Tensor  # [n] int64, index into world.STYLES
    captions: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def draw(seed: int, styles: list[str], n: int, weights: list[float] | None = None, balanced: bool = False) -> Drawn:
    """n scenes; styles drawn with `weights` (uniform by default) or, if
    `balanced`, cycled together with the shapes so every (shape, style) pair
    is equally frequent."""
    rng = np.random.default_rng(seed)
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
    scenes, images, captions = [], [], []
    for i in range(n):
        if balanced:
            shape = world.SHAPES[i % len(world.SHAPES)]
            style = styles[(i // len(world.SHAPES)) % len(styles)]
        else:
            shape = None
            style = styles[rng.choice(len(styles), p=p)]
        scene, image, text = world.sample(rng, style, shape)
        scenes.append(scene)
        images.append(image)
        captions.append(text)
    return Drawn(scenes, images, captions)


def pictures(drawn: Drawn) -> Pictures:
    return Pictures(
        u8=torch.from_numpy(resized_u8(drawn.images)),
        labels=torch.tensor([s.label for s in drawn.scenes], dtype=torch.int64),
        styles=torch.tensor([world.STYLES.index(s.style) for s in drawn.scenes], dtype=torch.int64),
        captions=drawn.captions,
    )


def caption_ids(captions: list[str]) -> torch.Tensor:
    """Token ids per caption, [n, CAPTION_TOKENS]; unique captions are tokenized once."""
    unique = sorted(set(captions))
    index = {c: i for i, c in enumerate(unique)}
    ids = tokenize(unique, CAPTION_TOKENS)
    return ids[torch.tensor([index[c] for c in captions])]


def save_samples(sets: dict[str, Drawn], folder: Path, by_style: tuple[str, ...] = ()) -> dict[str, list[Path]]:
    """Writes each set's pictures as `folder/<set>/<shape>/<style>-<i>.png`, or for the sets named in
    `by_style` as `folder/<set>/<style>/<shape>/<style>-<i>.png` (one named labelled set per style:
    the page's lecture mode draws one accuracy curve for each); the folder is emptied first; a label =
    the picture's folder name, as the page and the CLI read them. Returns the paths per set, sorted."""
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    files: dict[str, list[Path]] = {}
    for name, drawn in sets.items():
        counter: dict[tuple[str, str], int] = {}
        files[name] = []
        for scene, image in zip(drawn.scenes, drawn.images):
            key = (scene.shape, scene.style)
            i = counter.get(key, 0)
            counter[key] = i + 1
            base = folder / name / scene.style if name in by_style else folder / name
            path = base / scene.shape / f"{scene.style}-{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, format="PNG", optimize=True)
            files[name].append(path)
        files[name].sort()
    return files
