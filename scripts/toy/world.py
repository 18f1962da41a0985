"""The generated world: coloured shapes drawn in several styles, with captions.

A scene is one to three copies of one shape (the class label) in one colour
and one size, at fixed anchors (jittered and tilted a little) on a 64x64
canvas, rendered in one style:

  photo        filled shapes on a plain background with a soft gradient
  noisy        a photo under heavy per-pixel noise
  blurry       a photo through a Gaussian blur
  pixelated    a photo reduced to 10x10 blocks
  grayscale    a photo without colour
  sketch       hand-drawn (wobbly) outlines on paper
  striped      shapes filled with stripes
  cluttered    a photo with random lines and blobs scattered over it

Captions come from templates ("a sketch of two small red circles.",
"a noisy photo of a green star."), with attributes dropped at random.
Everything is a pure function of a numpy `Generator`, so a seed fixes the
pixels and the captions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CANVAS = 64  # rendered (and shipped) image size; the model sees it resized to 32

SHAPES = ["circle", "square", "triangle", "star", "cross", "heart", "ring", "moon"]
PLURALS = {s: s + "es" if s == "cross" else s + "s" for s in SHAPES}

COLOURS = {
    "red": (220, 30, 30),
    "orange": (245, 135, 20),
    "yellow": (240, 220, 30),
    "green": (40, 170, 50),
    "blue": (35, 70, 220),
    "purple": (140, 40, 180),
    "pink": (250, 120, 190),
    "brown": (120, 75, 35),
}

STYLES = ["photo", "noisy", "blurry", "pixelated", "grayscale", "sketch", "striped", "cluttered"]

# How a caption names each style (one phrase is drawn per caption).
STYLE_PHRASES = {
    "photo": ["a photo of", "a picture of", "an image of"],
    "noisy": ["a noisy photo of", "a grainy photo of"],
    "blurry": ["a blurry photo of", "an out of focus photo of"],
    "pixelated": ["a pixelated photo of", "a low resolution photo of"],
    "grayscale": ["a black and white photo of", "a grayscale photo of"],
    "sketch": ["a sketch of", "a drawing of", "a doodle of"],
    "striped": ["a striped pattern of", "a picture of striped"],
    "cluttered": ["a cluttered photo of", "a messy photo of"],
}

COUNT_WORDS = {2: "two", 3: "three"}


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    size: str  # "small" or "large"
    count: int
    style: str

    @property
    def label(self) -> int:
        return SHAPES.index(self.shape)


# ------------------------------------------------------------------ geometry


def _regular(n: int, radius: float, phase: float) -> np.ndarray:
    t = phase + 2 * math.pi * np.arange(n) / n
    return radius * np.stack([np.sin(t), -np.cos(t)], axis=1)


def _moon() -> np.ndarray:
    # Unit circle minus a circle of radius r centred at (d, 0).
    d, r = 0.5, 0.85
    x = (1 + d * d - r * r) / (2 * d)
    y = math.sqrt(1 - x * x)
    phi0 = math.atan2(y, x)
    psi0 = math.atan2(y, x - d)
    outer = np.linspace(phi0, 2 * math.pi - phi0, 28)
    inner = np.linspace(2 * math.pi - psi0, psi0, 20)
    pts = [(math.cos(a), math.sin(a)) for a in outer]
    pts += [(d + r * math.cos(a), r * math.sin(a)) for a in inner]
    return np.array(pts) * 1.1


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 40, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y + 2.5], axis=1) / 15.0
    return pts * 1.1


def _cross() -> np.ndarray:
    a, b = 0.34, 1.0
    return np.array(
        [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
    )


def _star() -> np.ndarray:
    t = -math.pi / 2 + math.pi * np.arange(10) / 5
    r = np.where(np.arange(10) % 2 == 0, 1.2, 0.5)
    return np.stack([r * np.cos(t), r * np.sin(t) + 0.1], axis=1)


RING_HOLE = 0.55  # inner radius of a ring, as a fraction of the outer one

UNIT_SHAPES = {
    "circle": _regular(40, 1.0, 0.0),
    "square": _regular(4, 1.2, math.pi / 4),
    "triangle": _regular(3, 1.25, 0.0) + np.array([0.0, 0.2]),
    "star": _star(),
    "cross": _cross(),
    "heart": _heart(),
    "ring": _regular(40, 1.1, 0.0),
    "moon": _moon(),
}


def _ring_hole(cx: float, cy: float, r: float) -> list[float]:
    h = RING_HOLE * r * 1.1
    return [cx - h, cy - h, cx + h, cy + h]


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    pts = UNIT_SHAPES[shape] @ rot.T * r + np.array([cx, cy])
    return [tuple(p) for p in pts]


# ------------------------------------------------------------------ scenes


def random_scene(rng: np.random.Generator, style: str, shape: str | None = None) -> Scene:
    return Scene(
        shape=shape if shape is not None else SHAPES[rng.integers(len(SHAPES))],
        colour=list(COLOURS)[rng.integers(len(COLOURS))],
        size="small" if rng.random() < 0.5 else "large",
        count=int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15])),
        style=style,
    )


# Where the copies sit (64x64 canvas): one in the middle, two side by side,
# three in a triangle. A from-scratch ViT this small learns shapes at fixed
# places quickly but barely learns them anywhere on the canvas (see
# docs/TOY_WORLD.md), so positions only jitter a little.
ANCHORS = {
    1: [(32.0, 32.0)],
    2: [(17.0, 32.0), (47.0, 32.0)],
    3: [(17.0, 19.0), (47.0, 19.0), (32.0, 46.0)],
}
RADII = {  # (count, size) -> radius range in pixels
    (1, "small"): (11.0, 14.0), (1, "large"): (18.0, 22.0),
    (2, "small"): (8.0, 10.0), (2, "large"): (11.5, 13.5),
    (3, "small"): (7.0, 8.5), (3, "large"): (9.5, 11.0),
}
JITTER = 3.0  # pixels, each way
MAX_TILT = 0.3  # radians, each way


def _layout(rng: np.random.Generator, scene: Scene) -> list[tuple[float, float, float, float]]:
    """(cx, cy, radius, angle) per copy."""
    lo, hi = RADII[(scene.count, scene.size)]
    out = []
    for ax, ay in ANCHORS[scene.count]:
        cx, cy = np.array([ax, ay]) + rng.uniform(-JITTER, JITTER, 2)
        out.append((float(cx), float(cy), float(rng.uniform(lo, hi)), float(rng.uniform(-MAX_TILT, MAX_TILT))))
    return out


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    v = np.clip(np.array(rgb) + rng.uniform(-amount, amount, 3), 0, 255)
    return tuple(int(x) for x in v)


def _background(rng: np.random.Generator, fg: tuple[int, int, int]) -> np.ndarray:
    """A plain background with a soft gradient, far enough from the object colour."""
    for _ in range(50):
        bg = rng.uniform(0, 255, 3)
        if np.abs(bg - np.array(fg)).sum() > 200:
            break
    ramp = np.linspace(-1, 1, CANVAS)
    direction = rng.uniform(-1, 1, 2)
    grad = direction[0] * ramp[None, :] + direction[1] * ramp[:, None]
    img = bg[None, None, :] + 25 * grad[:, :, None]
    return np.clip(img, 0, 255)


def _mask(scene: Scene, layout) -> Image.Image:
    mask = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(mask)
    for cx, cy, r, angle in layout:
        draw.polygon(_polygon(scene.shape, cx, cy, r, angle), fill=255)
        if scene.shape == "ring":
            draw.ellipse(_ring_hole(cx, cy, r), fill=0)
    return mask


def _photo(rng: np.random.Generator, scene: Scene, layout) -> np.ndarray:
    fg = _jitter(rng, COLOURS[scene.colour], 25)
    img = _background(rng, fg)
    m = np.asarray(_mask(scene, layout), dtype=np.float64)[:, :, None] / 255.0
    return img * (1 - m) + np.array(fg)[None, None, :] * m


def _sketch(rng: np.random.Generator, scene: Scene, layout) -> np.ndarray:
    paper = rng.uniform(225, 255) + rng.uniform(-8, 8, 3)
    img = Image.new("RGB", (CANVAS, CANVAS), tuple(int(v) for v in paper))
    draw = ImageDraw.Draw(img)
    ink = _jitter(rng, tuple(int(0.8 * c) for c in COLOURS[scene.colour]), 20)
    width = int(rng.integers(1, 3))
    for cx, cy, r, angle in layout:
        pts = np.array(_polygon(scene.shape, cx, cy, r, angle))
        pts = pts + rng.normal(0, 0.6, pts.shape)
        pts = [tuple(p) for p in pts]
        draw.line(pts + [pts[0]], fill=ink, width=width, joint="curve")
        if scene.shape == "ring":
            hole = np.array(_polygon("circle", cx, cy, r * RING_HOLE * 1.1, angle))
            hole = [tuple(p) for p in hole + rng.normal(0, 0.6, hole.shape)]
            draw.line(hole + [hole[0]], fill=ink, width=width, joint="curve")
    return np.asarray(img, dtype=np.float64)


def _striped(rng: np.random.Generator, scene: Scene, layout) -> np.ndarray:
    fg = np.array(_jitter(rng, COLOURS[scene.colour], 25), dtype=np.float64)
    light = 0.35 * fg + 0.65 * 255
    img = _background(rng, tuple(int(c) for c in fg))
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS]
    theta = rng.uniform(0, math.pi)
    period = rng.uniform(4.5, 7.0)
    phase = (xx * math.cos(theta) + yy * math.sin(theta)) / period
    stripes = (np.floor(phase) % 2)[:, :, None]
    pattern = stripes * fg + (1 - stripes) * light
    m = np.asarray(_mask(scene, layout), dtype=np.float64)[:, :, None] / 255.0
    return img * (1 - m) + pattern * m


def _clutter(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pic)
    for _ in range(int(rng.integers(6, 11))):
        colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
        x, y = rng.uniform(0, CANVAS, 2)
        if rng.random() < 0.5:
            dx, dy = rng.normal(0, 12, 2)
            draw.line([(x, y), (x + dx, y + dy)], fill=colour, width=int(rng.integers(1, 3)))
        else:
            r = rng.uniform(1.5, 4)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return np.asarray(pic, dtype=np.float64)


def render(rng: np.random.Generator, scene: Scene) -> Image.Image:
    """The scene as a 64x64 RGB picture."""
    layout = _layout(rng, scene)
    style = scene.style
    if style == "sketch":
        img = _sketch(rng, scene, layout)
    elif style == "striped":
        img = _striped(rng, scene, layout)
    else:
        img = _photo(rng, scene, layout)
        if style == "noisy":
            img = img + rng.normal(0, 70, img.shape)
        elif style == "blurry":
            pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
            img = np.asarray(pic.filter(ImageFilter.GaussianBlur(rng.uniform(2.0, 3.0))), dtype=np.float64)
        elif style == "pixelated":
            pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
            small = pic.resize((10, 10), Image.BILINEAR)
            img = np.asarray(small.resize((CANVAS, CANVAS), Image.NEAREST), dtype=np.float64)
        elif style == "grayscale":
            grey = img @ np.array([0.299, 0.587, 0.114])
            img = np.repeat(grey[:, :, None], 3, axis=2)
        elif style == "cluttered":
            img = _clutter(rng, img)
        elif style != "photo":
            raise ValueError(f"unknown style {style}")
    return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")


# ------------------------------------------------------------------ captions


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(rng: np.random.Generator, scene: Scene) -> str:
    """A templated caption; size and colour are sometimes left out."""
    words = []
    if rng.random() < 0.5:
        words.append(scene.size)
    if scene.style != "grayscale" and rng.random() < 0.75:
        words.append(scene.colour)
    phrases = STYLE_PHRASES[scene.style]
    prefix = phrases[rng.integers(len(phrases))]
    if prefix.endswith(" striped"):  # "a picture of striped" -> "a picture of a striped red star"
        prefix = prefix[: -len(" striped")]
        words.insert(0, "striped")
    words.append(scene.shape if scene.count == 1 else PLURALS[scene.shape])
    words.insert(0, _article(words[0]) if scene.count == 1 else COUNT_WORDS[scene.count])
    return f"{prefix} {' '.join(words)}."


def sample(rng: np.random.Generator, style: str, shape: str | None = None) -> tuple[Scene, Image.Image, str]:
    scene = random_scene(rng, style, shape)
    image = render(rng, scene)
    return scene, image, caption(rng, scene)
