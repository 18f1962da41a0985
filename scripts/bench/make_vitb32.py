#!/usr/bin/env python3
"""Benchmark-model generator: a random-weight CLIP ViT-B/32 (openai/clip-vit-base-patch32's
architecture), written as

  <out>/zs/model.safetensors, config.json, preprocessor_config.json   zero-shot CLIPModel (f32, HF names)
  <out>/ft/model.safetensors, config.json                             CLIPVisionModelWithProjection = zs vision + small noise
  <out>/ft2 … ft<N>/ (with --fine-tunes N)                             more such fine-tunes (other noise seeds), for recipes
  <out>/onnx/vision.onnx                                              pixel_values f32 [batch,3,224,224] -> image_embeds [batch,512]
  <out>/onnx/text.onnx                                                input_ids i64 [batch,77] -> text_embeds [batch,512]

for the browser benchmark (bench/browser/run.mjs). It is a benchmark generator, NOT a test: it takes
minutes and ~1.2 GB of disk, and must never run in CI. No model hub is contacted: the config is inline
and the weights come from a fixed seed.

Run with the reference venv:  /work/venv/ref/bin/python scripts/bench/make_vitb32.py [--out DIR]
Needs torch, transformers, safetensors, onnx (+ onnxscript for torch.onnx) and onnxruntime (check).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

SEED = 20240229
FT_NOISE_STD = 1e-3

# openai/clip-vit-base-patch32's config.json, written out (no hub access).
TEXT_CONFIG = dict(
    vocab_size=49408,
    hidden_size=512,
    intermediate_size=2048,
    num_hidden_layers=12,
    num_attention_heads=8,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
    initializer_range=0.02,
    initializer_factor=1.0,
    attention_dropout=0.0,
    dropout=0.0,
    projection_dim=512,
    # HF's config really says eos 2 (legacy): the text pooler then takes argmax(input_ids) (= 49407).
    bos_token_id=49406,
    eos_token_id=2,
    pad_token_id=1,
)
VISION_CONFIG = dict(
    image_size=224,
    patch_size=32,
    num_channels=3,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
    initializer_range=0.02,
    initializer_factor=1.0,
    attention_dropout=0.0,
    dropout=0.0,
    projection_dim=512,
)
PROJECTION_DIM = 512
LOGIT_SCALE_INIT = 2.6592

# CLIPImageProcessor as shipped with openai/clip-vit-base-patch32.
PREPROCESSOR_CONFIG = {
    "crop_size": {"height": 224, "width": 224},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 224},
}


def log(msg, t0=None):
    extra = f"  ({time.perf_counter() - t0:.1f} s)" if t0 is not None else ""
    print(f"[make_vitb32] {msg}{extra}", flush=True)


def size_mb(path):
    return os.path.getsize(path) / 1e6


class VisionWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.get_image_features(pixel_values=pixel_values)


class TextWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model.get_text_features(input_ids=input_ids)


def features(out):
    """get_*_features returns a tensor in transformers 4.x and a BaseModelOutputWithPooling in 5.x."""
    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


class FeatureWrapper(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return features(self.inner(x))


def export_onnx(module, example, path, in_name, out_name):
    kwargs = dict(
        input_names=[in_name],
        output_names=[out_name],
        dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}},
        opset_version=17,
        do_constant_folding=True,
    )
    try:
        torch.onnx.export(module, (example,), path, dynamo=False, **kwargs)
    except TypeError:  # a torch without the dynamo switch
        torch.onnx.export(module, (example,), path, **kwargs)
    # Keep one self-contained file (ORT-web cannot find external data by itself).
    import onnx

    m = onnx.load(path, load_external_data=True)
    onnx.checker.check_model(m)
    stray = [p for p in os.listdir(os.path.dirname(path)) if p.endswith(".data") or p.startswith("onnx__")]
    if stray or m.ByteSize() < 2**31 - 1 and any(
        t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer
    ):
        onnx.save_model(m, path, save_as_external_data=False)
        for p in stray:
            os.remove(os.path.join(os.path.dirname(path), p))


def synthetic_ids(batch, length=77, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch, length), dtype=np.int64)
    for b in range(batch):
        n = 5 + (b * 7) % 60
        ids[b, 0] = 49406
        ids[b, 1 : 1 + n] = rng.integers(300, 49000, size=n)
        ids[b, 1 + n] = 49407
        ids[b, 2 + n :] = 0  # OpenAI CLIP pads with 0 (pad_token "!" in HF's tokenizer)
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="target/bench-model", help="output dir (default target/bench-model)")
    ap.add_argument("--skip-onnx", action="store_true", help="only the safetensors checkpoints")
    ap.add_argument("--fine-tunes", type=int, default=1, help="vision fine-tunes to write: ft/, ft2/ … (default 1)")
    args = ap.parse_args()

    from safetensors.torch import save_file
    from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    T0 = time.perf_counter()

    zs_dir, ft_dir, onnx_dir = (os.path.join(args.out, d) for d in ("zs", "ft", "onnx"))
    for d in (zs_dir, ft_dir, onnx_dir):
        os.makedirs(d, exist_ok=True)

    t0 = time.perf_counter()
    config = CLIPConfig(
        text_config=TEXT_CONFIG,
        vision_config=VISION_CONFIG,
        projection_dim=PROJECTION_DIM,
        logit_scale_init_value=LOGIT_SCALE_INIT,
    )
    config.architectures = ["CLIPModel"]
    config._attn_implementation = "eager"
    model = CLIPModel(config).eval().float()
    n_params = sum(p.numel() for p in model.parameters())
    log(f"built random CLIPModel (ViT-B/32), {n_params / 1e6:.1f} M params", t0)

    # --- zero-shot checkpoint ---------------------------------------------------------------
    t0 = time.perf_counter()
    zs_state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(zs_state, os.path.join(zs_dir, "model.safetensors"), metadata={"format": "pt"})
    cfg = config.to_dict()
    cfg.pop("_attn_implementation", None)
    with open(os.path.join(zs_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    with open(os.path.join(zs_dir, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR_CONFIG, f, indent=2, sort_keys=True)
    os.chmod(os.path.join(zs_dir, "model.safetensors"), 0o644)  # save_file writes 0600
    log(f"zs/model.safetensors {size_mb(os.path.join(zs_dir, 'model.safetensors')):.1f} MB, {len(zs_state)} tensors", t0)

    # --- vision-only fine-tunes: zs vision + small noise (ft/, then ft2/ … for recipes) --------
    vcfg = CLIPVisionConfig(**VISION_CONFIG)
    vcfg.architectures = ["CLIPVisionModelWithProjection"]
    for i in range(1, max(1, args.fine_tunes) + 1):
        t0 = time.perf_counter()
        ft_dir = os.path.join(args.out, "ft" if i == 1 else f"ft{i}")
        os.makedirs(ft_dir, exist_ok=True)
        ft = CLIPVisionModelWithProjection(vcfg).eval().float()
        gen = torch.Generator().manual_seed(SEED + i)
        ft_state = {}
        for k in ft.state_dict().keys():
            base = zs_state[k]
            noise = torch.randn(base.shape, generator=gen, dtype=base.dtype) * FT_NOISE_STD
            if k.endswith("position_ids"):
                noise.zero_()
            ft_state[k] = (base + noise.to(base.dtype)).contiguous()
        ft.load_state_dict(ft_state, strict=True)
        save_file(ft_state, os.path.join(ft_dir, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(ft_dir, "config.json"), "w") as f:
            fcfg = vcfg.to_dict()
            fcfg.pop("_attn_implementation", None)
            json.dump(fcfg, f, indent=2, sort_keys=True)
        os.chmod(os.path.join(ft_dir, "model.safetensors"), 0o644)
        log(f"{os.path.basename(ft_dir)}/model.safetensors {size_mb(os.path.join(ft_dir, 'model.safetensors')):.1f} MB, {len(ft_state)} tensors", t0)
        del ft, ft_state

    if args.skip_onnx:
        log("skipping ONNX (--skip-onnx)", T0)
        return 0

    # --- ONNX exports -----------------------------------------------------------------------
    vision = FeatureWrapper(VisionWrapper(model)).eval()
    text = FeatureWrapper(TextWrapper(model)).eval()
    vpath, tpath = os.path.join(onnx_dir, "vision.onnx"), os.path.join(onnx_dir, "text.onnx")

    t0 = time.perf_counter()
    with torch.no_grad():
        export_onnx(vision, torch.randn(2, 3, 224, 224), vpath, "pixel_values", "image_embeds")
    log(f"onnx/vision.onnx {size_mb(vpath):.1f} MB", t0)
    t0 = time.perf_counter()
    with torch.no_grad():
        export_onnx(text, torch.from_numpy(synthetic_ids(2)), tpath, "input_ids", "text_embeds")
    log(f"onnx/text.onnx {size_mb(tpath):.1f} MB", t0)

    # --- check against torch with onnxruntime -------------------------------------------------
    import onnxruntime as ort

    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    rng = np.random.default_rng(SEED + 2)
    px = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        ref = vision(torch.from_numpy(px)).numpy()
    sess = ort.InferenceSession(vpath, so, providers=["CPUExecutionProvider"])
    got = sess.run(["image_embeds"], {"pixel_values": px})[0]
    verr = float(np.abs(got - ref).max())
    log(f"vision.onnx vs torch: max |diff| = {verr:.2e} (shape {got.shape}, |ref|max {np.abs(ref).max():.3f})", t0)

    t0 = time.perf_counter()
    ids = synthetic_ids(3, seed=5)
    with torch.no_grad():
        tref = text(torch.from_numpy(ids)).numpy()
    tsess = ort.InferenceSession(tpath, so, providers=["CPUExecutionProvider"])
    tgot = tsess.run(["text_embeds"], {"input_ids": ids})[0]
    terr = float(np.abs(tgot - tref).max())
    log(f"text.onnx vs torch:   max |diff| = {terr:.2e} (shape {tgot.shape})", t0)

    if not (verr <= 1e-4 and terr <= 1e-4):
        log("FAIL: ONNX output differs from torch by more than 1e-4")
        return 1
    log(f"done, total", T0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
