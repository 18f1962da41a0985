"""Contrastive pre-training of the tiny CLIP on captioned pictures of every style.

Standard CLIP: symmetric InfoNCE over a batch with a learnable temperature
(clamped at 100), AdamW with warm-up and cosine decay, weight decay on the
matrices only. Captions that occur twice in a batch (e.g. "a sketch of a
star.") count as positives for each other, so the loss does not push apart
pictures that the text cannot tell apart.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from transformers import CLIPConfig, CLIPModel

from .data import Pictures, caption_ids
from .model import normalise


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_matrix = p.ndim >= 2 and "embedding" not in name
        (decay if is_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def cosine_lr(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def clip_loss(image_embeds, text_embeds, logit_scale, same_caption):
    img = F.normalize(image_embeds, dim=-1)
    txt = F.normalize(text_embeds, dim=-1)
    logits = logit_scale.exp().clamp(max=100.0) * img @ txt.T
    target = same_caption / same_caption.sum(dim=1, keepdim=True)
    loss_i = -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    loss_t = -(target * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return (loss_i + loss_t) / 2


def pretrain(
    data: Pictures,
    cfg: CLIPConfig,
    *,
    steps: int,
    batch: int,
    lr: float,
    weight_decay: float,
    warmup: int,
    seed: int,
    log=print,
) -> CLIPModel:
    torch.manual_seed(seed)
    model = CLIPModel(cfg).train()
    ids = caption_ids(data.captions)
    # Caption identity, to mark duplicate captions inside a batch as positives.
    caption_key = torch.tensor([hash_text(c) for c in data.captions], dtype=torch.int64)
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data), generator=gen)
    pos = 0
    start = time.time()
    for step in range(steps):
        if pos + batch > len(order):
            order = torch.randperm(len(data), generator=gen)
            pos = 0
        idx = order[pos : pos + batch]
        pos += batch
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, warmup, lr)
        pixels = normalise(data.u8[idx])
        out = model(input_ids=ids[idx], pixel_values=pixels)
        key = caption_key[idx]
        same = (key[:, None] == key[None, :]).float()
        loss = clip_loss(out.image_embeds, out.text_embeds, model.logit_scale, same)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100.0))
        if step % 200 == 0 or step == steps - 1:
            log(f"  pretrain step {step:5d}/{steps}  loss {loss.item():.3f}  "
                f"scale {model.logit_scale.exp().item():.1f}  {time.time() - start:.0f}s")
    return model.eval()


def hash_text(text: str) -> int:
    """A stable 63-bit id of a caption (Python's hash() is salted per run)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
