"""Writes the small pretrained-SAE fixtures of tests/pretrained_*_test.ts.

Run `/usr/bin/python3 scripts/make_pretrained_fixtures.py` (numpy + PyTorch 1.13). The values are
deterministic (seeded); the .npz bytes carry zip timestamps.

Each case is a directory in tests/fixtures/pretrained/ holding the files in the ecosystem's
layout and an `expected.npz` (x, pre, acts, recon, all float32) computed by re-implementing the
published forward line for line:

- gemma_scope/: `params.npz` (np.savez, float32, keys W_enc [D, C], b_enc [C], W_dec [C, D],
  b_dec [D], threshold [C]) and `params.safetensors` (the same weights, lowercase keys w_enc,
  b_enc, w_dec, b_dec, threshold, F32). Forward of Gemma Scope's tutorial JumpReLUSAE:
  pre = x @ W_enc + b_enc; acts = (pre > threshold) * relu(pre); recon = acts @ W_dec + b_dec.
- saelens/: `cfg.json` (SAELens >= 6 layout, architecture jumprelu, apply_b_dec_to_input true,
  normalize_activations none, dtype float32) and `sae_weights.safetensors` (BF16 weights W_enc,
  b_enc, W_dec, b_dec, threshold). Forward of SAELens JumpReLUSAE: the weights are cast to the
  cfg dtype (float32), sae_in = x - b_dec; pre = sae_in @ W_enc + b_enc;
  acts = relu(pre) * (pre > threshold); recon = acts @ W_dec + b_dec.
- saelens_norm/: `cfg.json` in the pre-6 flat layout (activation_fn_str relu, sae_lens_training_version
  3.x), normalize_activations constant_norm_rescale, apply_b_dec_to_input false, F16 weights
  with `log_threshold` instead of `threshold`: x is rescaled per token to norm sqrt(d_in) before
  the encoder and the reconstruction divided by the same factor.

`--check-saelens DIR ACTS.npy CODES.npz` loads a SAELens directory (e.g. written by
`jumpsae convert --to saelens`) the way SAELens does (safetensors read, cast to float32), runs
SAELens's JumpReLU forward on ACTS.npy and compares its top-k codes with the `indices`/`values`
of CODES.npz written by `jumpsae encode`.

Inputs are re-drawn until no pre-activation lies within 1e-3 of its threshold, so that a float32
implementation that stores the log of the threshold makes the same gating decisions.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "pretrained")

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def save_safetensors(path, tensors, metadata=None):
    """Hugging Face layout: keys sorted, contiguous offsets, header padded with spaces to 8."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def weights(gen, d, c, dtype):
    w_enc = (torch.randn(d, c, generator=gen) / d**0.5).to(dtype)
    b_enc = (0.1 * torch.randn(c, generator=gen)).to(dtype)
    w_dec = (torch.randn(c, d, generator=gen) / c**0.5).to(dtype)
    b_dec = (0.2 * torch.randn(d, generator=gen)).to(dtype)
    threshold = (0.05 + 0.3 * torch.rand(c, generator=gen)).to(dtype)
    return w_enc, b_enc, w_dec, b_dec, threshold


def draw_input(gen, n, d, pre_fn, threshold):
    for _ in range(1000):
        x = 1.2 * torch.randn(n, d, generator=gen) + 0.1
        pre = pre_fn(x)
        if (pre - threshold).abs().min() > 1e-3:
            return x
    raise RuntimeError("no input found")


def save_expected(case, x, pre, acts, recon):
    np.savez(
        os.path.join(OUT, case, "expected.npz"),
        x=x.numpy().astype(np.float32),
        pre=pre.numpy().astype(np.float32),
        acts=acts.numpy().astype(np.float32),
        recon=recon.numpy().astype(np.float32),
    )


def gemma_scope():
    os.makedirs(os.path.join(OUT, "gemma_scope"), exist_ok=True)
    gen = torch.Generator().manual_seed(1)
    d, c, n = 8, 16, 6
    w_enc, b_enc, w_dec, b_dec, threshold = weights(gen, d, c, torch.float32)
    np.savez(
        os.path.join(OUT, "gemma_scope", "params.npz"),
        W_enc=w_enc.numpy(), b_enc=b_enc.numpy(), W_dec=w_dec.numpy(), b_dec=b_dec.numpy(),
        threshold=threshold.numpy(),
    )
    save_safetensors(
        os.path.join(OUT, "gemma_scope", "params.safetensors"),
        {"w_enc": w_enc, "b_enc": b_enc, "w_dec": w_dec, "b_dec": b_dec, "threshold": threshold},
        {"format": "pt"},
    )
    x = draw_input(gen, n, d, lambda x: x @ w_enc + b_enc, threshold)
    # Gemma Scope's JumpReLUSAE.encode / decode
    pre = x @ w_enc + b_enc
    mask = pre > threshold
    acts = mask * torch.nn.functional.relu(pre)
    recon = acts @ w_dec + b_dec
    save_expected("gemma_scope", x, pre, acts, recon)


def saelens_forward(x, w_enc, b_enc, w_dec, b_dec, threshold, apply_b_dec, norm):
    coeff = None
    sae_in = x
    if norm == "constant_norm_rescale":
        coeff = (x.shape[-1] ** 0.5) / x.norm(dim=-1, keepdim=True)
        sae_in = x * coeff
    sae_in = sae_in - b_dec * apply_b_dec
    pre = sae_in @ w_enc + b_enc
    acts = torch.nn.ReLU()(pre) * (pre > threshold).to(pre.dtype)
    out = acts @ w_dec + b_dec
    if coeff is not None:
        out = out / coeff
    return pre, acts, out


def saelens():
    case = "saelens"
    os.makedirs(os.path.join(OUT, case), exist_ok=True)
    gen = torch.Generator().manual_seed(2)
    d, c, n = 12, 24, 5
    stored = weights(gen, d, c, torch.bfloat16)
    names = ["W_enc", "b_enc", "W_dec", "b_dec", "threshold"]
    save_safetensors(os.path.join(OUT, case, "sae_weights.safetensors"), dict(zip(names, stored)))
    cfg = {
        "d_in": d, "d_sae": c, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
        "normalize_activations": "none", "reshape_activations": "none",
        "meta": {
            "model_name": "toy-model", "hook_name": "blocks.0.hook_resid_post", "model_class_name": None,
            "hook_layer": 0, "hook_head_index": None, "model_from_pretrained_kwargs": {}, "prepend_bos": True,
            "exclude_special_tokens": False, "neuronpedia_id": None, "context_size": 128, "seqpos_slice": [None],
            "dataset_path": "toy", "sae_lens_version": "6.5.0", "sae_lens_training_version": "6.5.0",
        },
        "architecture": "jumprelu",
    }
    with open(os.path.join(OUT, case, "cfg.json"), "w") as f:
        json.dump(cfg, f)
    # SAELens casts to cfg dtype on load (read_sae_components_from_disk)
    w_enc, b_enc, w_dec, b_dec, threshold = (t.to(torch.float32) for t in stored)
    x = draw_input(gen, n, d, lambda x: (x - b_dec) @ w_enc + b_enc, threshold)
    pre, acts, recon = saelens_forward(x, w_enc, b_enc, w_dec, b_dec, threshold, True, "none")
    save_expected(case, x, pre, acts, recon)


def saelens_norm():
    case = "saelens_norm"
    os.makedirs(os.path.join(OUT, case), exist_ok=True)
    gen = torch.Generator().manual_seed(3)
    d, c, n = 8, 12, 5
    w_enc, b_enc, w_dec, b_dec, threshold = weights(gen, d, c, torch.float16)
    log_threshold = torch.log(threshold.to(torch.float32)).to(torch.float16)
    save_safetensors(
        os.path.join(OUT, case, "sae_weights.safetensors"),
        {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w_dec, "b_dec": b_dec, "log_threshold": log_threshold},
        {"format": "pt"},
    )
    cfg = {
        "architecture": "jumprelu", "d_in": d, "d_sae": c, "dtype": "float32", "device": "cpu",
        "model_name": "toy-model", "hook_name": "blocks.1.hook_mlp_out", "hook_layer": 1, "hook_head_index": None,
        "activation_fn_str": "relu", "activation_fn_kwargs": {}, "apply_b_dec_to_input": False,
        "finetuning_scaling_factor": False, "sae_lens_training_version": "3.22.0", "prepend_bos": True,
        "dataset_path": "toy", "dataset_trust_remote_code": True, "context_size": 128,
        "normalize_activations": "constant_norm_rescale", "neuronpedia_id": None,
    }
    with open(os.path.join(OUT, case, "cfg.json"), "w") as f:
        json.dump(cfg, f)
    w_enc, b_enc, w_dec, b_dec = (t.to(torch.float32) for t in (w_enc, b_enc, w_dec, b_dec))
    threshold = torch.exp(log_threshold.to(torch.float32))

    def pre_fn(x):
        return saelens_forward(x, w_enc, b_enc, w_dec, b_dec, threshold, False, "constant_norm_rescale")[0]

    x = draw_input(gen, n, d, pre_fn, threshold)
    pre, acts, recon = saelens_forward(x, w_enc, b_enc, w_dec, b_dec, threshold, False, "constant_norm_rescale")
    save_expected(case, x, pre, acts, recon)


def load_safetensors(path):
    """A plain safetensors reader (F32, F16, BF16), as SAELens's safe_open gives the tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        data = raw[8 + n + begin:8 + n + end]
        if info["dtype"] == "BF16":
            t = torch.frombuffer(bytearray(data), dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(bytearray(data), dtype={"F32": torch.float32, "F16": torch.float16}[info["dtype"]])
        out[name] = t.reshape(info["shape"]).to(torch.float32)
    return out


def check_saelens(directory, acts_path, codes_path):
    with open(os.path.join(directory, "cfg.json")) as f:
        cfg = json.load(f)
    assert cfg["architecture"] == "jumprelu", cfg["architecture"]
    w = load_safetensors(os.path.join(directory, "sae_weights.safetensors"))
    x = torch.from_numpy(np.load(acts_path)).to(torch.float32)
    _, acts, _ = saelens_forward(
        x, w["W_enc"], w["b_enc"], w["W_dec"], w["b_dec"], w["threshold"],
        cfg["apply_b_dec_to_input"], cfg["normalize_activations"],
    )
    codes = np.load(codes_path)
    k = codes["indices"].shape[1]
    acts = acts.numpy()
    order = np.argsort(-acts, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(acts, order, 1)
    order = np.where(values > 0, order, -1)
    same = (order == codes["indices"]).mean()
    diff = np.abs(values - codes["values"]).max()
    print(f"SAELens forward vs jumpsae encode: {100 * same:.4f}% of top-{k} indices equal, max |value diff| {diff:.3g}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--check-saelens":
        torch.set_grad_enabled(False)
        check_saelens(*sys.argv[2:5])
        sys.exit(0)
    torch.set_grad_enabled(False)
    gemma_scope()
    saelens()
    saelens_norm()
    print("wrote", OUT, file=sys.stderr)
