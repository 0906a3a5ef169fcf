"""The seed's loss functions on fixed inputs (tests/seed_losses_test.ts), from the seed's own code.

Run: /usr/bin/python3 scripts/make_loss_fixtures.py

Writes tests/fixtures/losses/<case>.safetensors: the inputs `x` [B, D], `x_hat` [B, D],
`pre_codes` [B, C], `codes` [B, C], `dictionary` [C, D], the seed loss's `value` and its autograd
gradients `grad.x_hat`, `grad.pre_codes`, `grad.codes`, `grad.dictionary` (zeros where the loss does
not use an input); metadata `loss` (the seed function), `kwargs` (JSON) and `note`. Every loss is
called from overcomplete.sae.losses (imported through ../shared/seed/import_overcomplete.py).
"""

import json
import os

import torch

from _fixture_io import REPO, save_safetensors, seed, seed_version, to_numpy

oc = seed()
OUT = os.path.join(REPO, "tests", "fixtures", "losses")
B, D, C = 10, 8, 16


def inputs(gen, theta=0.4, positive_below_theta=False):
    x = torch.randn(B, D, generator=gen)
    x_hat = x + 0.5 * torch.randn(B, D, generator=gen)
    if positive_below_theta:
        # every row has 10 > C/2 entries strictly between 0 and theta: distinct positive
        # relu(pre) - codes, so the seed's top-k of the auxiliary loss has no ties
        pre = torch.rand(B, C, generator=gen) * (theta - 0.05) + 0.02
        pre[:, 10:] = theta + torch.rand(B, C - 10, generator=gen)
        pre = pre[:, torch.randperm(C, generator=gen)]
    else:
        pre = torch.randn(B, C, generator=gen) + 0.3
    codes = torch.where(torch.relu(pre) >= theta, torch.relu(pre), torch.zeros(()))
    dictionary = 0.5 * torch.randn(C, D, generator=gen)
    return dict(x=x, x_hat=x_hat, pre_codes=pre, codes=codes, dictionary=dictionary)


def case(name, loss, kwargs, t, note=""):
    leaves = {k: v.clone().requires_grad_(k != "x") for k, v in t.items()}
    value = getattr(oc.losses, loss)(leaves["x"], leaves["x_hat"], leaves["pre_codes"],
                                     leaves["codes"], leaves["dictionary"], **kwargs)
    value.backward()
    tensors = [(k, to_numpy(v)) for k, v in t.items()] + [("value", to_numpy(value.reshape(())))]
    for k in ("x_hat", "pre_codes", "codes", "dictionary"):
        g = leaves[k].grad
        tensors.append((f"grad.{k}", to_numpy(g if g is not None else torch.zeros_like(t[k]))))
    meta = {"loss": loss, "kwargs": json.dumps(kwargs), "note": note,
            "generator": f"scripts/make_loss_fixtures.py (seed overcomplete {seed_version()}, "
                         f"torch {torch.__version__})"}
    save_safetensors(os.path.join(OUT, f"{name}.safetensors"), tensors, meta)
    nan = sum(int(torch.isnan(leaves[k].grad).sum()) for k in ("codes",) if leaves[k].grad is not None)
    print(f"{name:24s} {loss}({kwargs}) = {value.item():.6f}{f'  ({nan} NaN code gradients)' if nan else ''}")


def main():
    gen = torch.Generator().manual_seed(14)
    t = inputs(gen)
    case("mse_l1", "mse_l1", {"penalty": 0.01}, t, "penalty * sum |z| over the whole batch")
    case("mse_hoyer", "mse_hoyer", {"penalty": 0.7}, t)
    zero_row = {k: v.clone() for k, v in t.items()}
    zero_row["codes"][3] = 0
    case("mse_hoyer_zero_row", "mse_hoyer", {"penalty": 0.7}, zero_row,
         "codes row 3 is all zero: the seed's gradient of that row is NaN")
    case("mse_kappa_4", "mse_kappa_4", {"penalty": 0.7}, t)
    case("mse_elastic", "mse_elastic", {"alpha": 0.25}, t)
    case("top_k_auxiliary_loss", "top_k_auxiliary_loss", {"penalty": 0.3},
         inputs(gen, theta=0.6, positive_below_theta=True),
         "more than C/2 distinct positive relu(pre) - codes per row: the top-k has no ties")
    case("top_k_auxiliary_loss_ties", "top_k_auxiliary_loss", {"penalty": 0.3}, t,
         "fewer than C/2 positive relu(pre) - codes in some rows: the top-k fills up with tied "
         "zeros, whose gradient depends on which ones torch.topk returns")
    dead = {k: v.clone() for k, v in t.items()}
    dead["codes"][:, [1, 5, 9]] = 0
    case("reanimation_regularizer", "reanimation_regularizer", {"penalty": 0.2}, dead,
         "codes columns 1, 5, 9 never fire")


if __name__ == "__main__":
    main()
