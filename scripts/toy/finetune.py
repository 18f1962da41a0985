"""Fine-tuning the WiSE-FT way: the vision tower only, on one style.

The classification head is the zero-shot one: the normalised text embeddings
of the class-name prompts, computed once with the frozen text tower and
kept frozen (as for the public `tanganke/clip-vit-base-patch32_<task>`
checkpoints). Only `vision_model.*` is trained, end to end, with
cross-entropy on exp(logit_scale) * cosine; the visual projection and the
logit scale stay the zero-shot ones, so a vision-only checkpoint plus the
zero-shot file is exactly the fine-tuned classifier.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from transformers import CLIPModel

from .data import Pictures
from .evaluate import class_embeddings
from .model import VISION_PREFIX, normalise
from .pretrain import cosine_lr, param_groups


def finetune(
    zs: CLIPModel,
    data: Pictures,
    labels: list[str],
    templates: list[str],
    *,
    epochs: int,
    batch: int,
    lr: float,
    weight_decay: float,
    warmup: int,
    seed: int,
    log=print,
) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = CLIPModel(zs.config)
    model.load_state_dict(zs.state_dict())
    head = class_embeddings(model.eval(), labels, templates)  # [C, D], frozen
    scale = model.logit_scale.detach().exp()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(VISION_PREFIX))
    model.vision_model.train()
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator().manual_seed(seed)
    per_epoch = len(data) // batch
    total = epochs * per_epoch
    step = 0
    start = time.time()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        correct = seen = 0
        for i in range(per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, warmup, lr)
            feats = model.get_image_features(pixel_values=normalise(data.u8[idx])).pooler_output
            logits = scale * F.normalize(feats, dim=-1) @ head.T
            loss = F.cross_entropy(logits, data.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            correct += int((logits.argmax(1) == data.labels[idx]).sum())
            seen += len(idx)
        log(f"  finetune epoch {epoch + 1}/{epochs}  loss {loss.item():.3f}  "
            f"train acc {correct / seen:.3f}  {time.time() - start:.0f}s")
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(VISION_PREFIX)}
