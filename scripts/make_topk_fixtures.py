"""Parity fixtures of the seed's TopKSAE and BatchTopKSAE (tests/topk_parity_test.ts).

Run: /usr/bin/python3 scripts/make_topk_fixtures.py

The seed's own classes (imported through ../shared/seed/import_overcomplete.py) write
tests/fixtures/topk/<case>.safetensors. Layout as tests/fixtures/README.md's model cases:
`input.x`, `state.*` (state_dict before), `out.pre_codes`, `out.codes`, `out.x_hat`, `loss` (the
seed's mse, or its top_k_auxiliary_loss), `grad.*`, `after.*`; BatchTopKSAE cases first run
`warmup` training-mode forwards on `warmup.x.<i>` (no optimizer step), recording
`warmup.running_threshold.<i>` after each, then the case's forward, and store
`running_threshold` after it. Metadata `config` (JSON: class, nb_concepts, top_k,
threshold_momentum, encoder, mode, loss) and `margin` (the smallest gap between a selected and
an unselected candidate, relative to the largest: seeds are retried until it exceeds 1e-4, so a
float32 reimplementation selects the same codes).
"""

import copy
import json
import os

import numpy as np
import torch
from torch import nn

from _fixture_io import REPO, save_safetensors, seed, seed_version, to_numpy

oc = seed()
OUT = os.path.join(REPO, "tests", "fixtures", "topk")

CASES = {
    "topk_mlp_bn_1": dict(cls="TopKSAE", encoder="mlp_bn_1", top_k=3, mode="train", loss="mse"),
    "topk_linear": dict(cls="TopKSAE", encoder="linear", top_k=4, mode="train", loss="mse"),
    "topk_mlp_ln_3_eval": dict(cls="TopKSAE", encoder="mlp_ln_3", top_k=5, mode="eval", loss="mse"),
    "topk_identity": dict(cls="TopKSAE", encoder="identity", top_k=3, mode="train", loss="mse",
                          dim=16),
    # linear encoder with its bias raised by 1.5: most pre-codes positive, so the auxiliary
    # loss's top half of relu(pre) - codes has no tied zeros
    "topk_auxk": dict(cls="TopKSAE", encoder="linear", top_k=3, mode="train",
                      loss="top_k_auxiliary_loss", bias_shift=1.5),
    "batchtopk_mlp_bn_1": dict(cls="BatchTopKSAE", encoder="mlp_bn_1", top_k=40, mode="train",
                               loss="mse", warmup=2, threshold_momentum=0.8),
    "batchtopk_linear_eval": dict(cls="BatchTopKSAE", encoder="linear", top_k=30, mode="eval",
                                  loss="mse", warmup=3),
}


def build(case, seed_value):
    torch.manual_seed(seed_value)
    dim, concepts = case.get("dim", 8), 16
    kw = dict(top_k=case["top_k"], encoder_module=case["encoder"])
    if case["cls"] == "BatchTopKSAE":
        kw["threshold_momentum"] = case.get("threshold_momentum", 0.9)
    model = getattr(oc, case["cls"])(dim, concepts, **kw)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.LayerNorm)):
                module.weight.copy_(1 + 0.3 * torch.randn_like(module.weight))
                module.bias.copy_(0.2 * torch.randn_like(module.bias))
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.copy_(0.3 * torch.randn_like(module.running_mean))
                module.running_var.copy_(0.5 + torch.rand_like(module.running_var))
                module.num_batches_tracked.fill_(7)
        if "bias_shift" in case:
            model.encoder.final_block[0].bias.add_(case["bias_shift"])
    return model, dim


def probe(model):
    """A copy of the encoder, to look at the candidates without updating BatchNorm's statistics."""
    return copy.deepcopy(model.encoder)


def margin_rows(cand, k):
    s = torch.sort(cand, dim=1, descending=True).values
    gap = (s[:, k - 1] - s[:, k]).min().item()
    return gap / cand.abs().max().item()


def margin_batch(cand, k):
    s = torch.sort(cand.reshape(-1), descending=True).values
    return (s[k - 1] - s[k]).item() / cand.abs().max().item()


def loss_of(case, x, x_hat, pre, codes, dictionary):
    if case["loss"] == "mse":
        return oc.losses._mse_with_penalty(x, x_hat, pre, codes, dictionary)
    return oc.losses.top_k_auxiliary_loss(x, x_hat, pre, codes, dictionary, penalty=0.3)


def make(name, case, index):
    for attempt in range(200):
        seed_value = 100 * index + attempt
        model, dim = build(case, seed_value)
        gen = torch.Generator().manual_seed(seed_value)
        warm = [torch.randn(12, dim, generator=gen) * 1.5 + 0.2 for _ in range(case.get("warmup", 0))]
        x = torch.randn(12, dim, generator=gen) * 1.5 + 0.2
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        margins, thresholds = [], []
        batch = case["cls"] == "BatchTopKSAE"
        for w in warm:
            with torch.no_grad():
                _, cand = probe(model)(w)
                model(w)
            margins.append(margin_batch(cand, case["top_k"]))
            thresholds.append(model.running_threshold.clone())
        if case["mode"] == "eval":
            model.eval()
            if not batch:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            _, cand = probe(model)(x)
        if batch and case["mode"] == "eval":
            thr = model.running_threshold
            margins.append((cand - thr).abs().min().item() / cand.abs().max().item())
        elif batch:
            margins.append(margin_batch(cand, case["top_k"]))
        else:
            margins.append(margin_rows(cand, case["top_k"]))
        pre, codes, x_hat = model(x)
        dictionary = model.get_dictionary()
        loss = loss_of(case, x, x_hat, pre, codes, dictionary)
        if case["loss"] != "mse":  # AuxK: no tied zeros in its top-half selection
            p = torch.relu(pre.detach()) - codes.detach()
            if int((p > 0).sum(1).min()) < p.shape[1] // 2:
                continue
        if min(margins) > 1e-4:
            break
    else:
        raise RuntimeError(f"{name}: no seed gives clean margins")
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    tensors = [("input.x", to_numpy(x))]
    tensors += [("state." + k, to_numpy(v)) for k, v in state.items()]
    tensors += [("out.pre_codes", to_numpy(pre)), ("out.codes", to_numpy(codes)),
                ("out.x_hat", to_numpy(x_hat)), ("loss", to_numpy(loss).reshape(()))]
    tensors += [("grad." + n, to_numpy(g)) for n, g in grads.items()]
    tensors += [("after." + k, to_numpy(v)) for k, v in model.state_dict().items()]
    for i, (w, t) in enumerate(zip(warm, thresholds)):
        tensors += [(f"warmup.x.{i}", to_numpy(w)), (f"warmup.running_threshold.{i}", to_numpy(t))]
    if batch:
        tensors.append(("running_threshold", to_numpy(model.running_threshold)))
    config = {"class": case["cls"], "nb_concepts": 16, "dim": dim, "top_k": case["top_k"],
              "threshold_momentum": case.get("threshold_momentum", 0.9) if batch else None,
              "encoder": case["encoder"], "mode": case["mode"], "loss": case["loss"],
              "warmup": len(warm)}
    meta = {"config": json.dumps(config), "seed": str(seed_value), "margin": f"{min(margins):.3g}",
            "generator": f"scripts/make_topk_fixtures.py (seed overcomplete {seed_version()}, "
                         f"torch {torch.__version__})"}
    save_safetensors(os.path.join(OUT, f"{name}.safetensors"), tensors, meta)
    print(f"{name:24s} seed {seed_value:4d} margin {min(margins):.2e} "
          f"active {int((codes != 0).sum())}/{codes.numel()}")


def main():
    for i, (name, case) in enumerate(CASES.items()):
        make(name, case, i)


if __name__ == "__main__":
    main()
