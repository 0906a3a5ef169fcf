"""The PyTorch peer of bench/torch_compare.ts: a server that times one call per request.

bench/torch_compare.ts starts it (with OpenBLAS pthread and OPENBLAS_CORETYPE set up) and sends
one JSON request per line on stdin; every answer is one JSON line on stdout. Requests:

    {"op": "hello", "threads": 2}                       -> torch version, BLAS core, threads
    {"op": "gemm", "name": n, "m": M, "k": K, "n": N}   -> sets up x·Wᵀ, (M, K)·(N, K)ᵀ
    {"op": "sae", "name": n, "peer": "lean" | "seed", "dim": D, "concepts": C, "batch": B,
     "density": d, "mode": "eval" | "train", "seed": s}  -> builds a model, sets the density
    {"op": "time", "name": n}                           -> {"ms": one call}
    {"op": "drop", "name": n}

Two peers:
- "lean": a JumpSAE as a PyTorch expert writes it: Linear + BatchNorm1d + ReLU, JumpReLU as a
  torch.autograd.Function (silverman pseudo-gradient, as the seed's default), a dense decoder,
  torch.optim.Adam.
- "seed": the seed library's own JumpSAE (../shared/seed, imported, not re-implemented), trained
  with its own `train_sae` (one step per call, monitoring 0, no clipping) and its mse
  (`losses._mse_with_penalty` without penalty).

The density is set in the mode that is timed: the thresholds of every concept are put at the
(1 − d) quantile of that mode's pre-codes (after ReLU, as the JumpReLU sees them).
"""

import json
import math
import os
import sys
import time

import torch
import torch.nn as nn

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "seed"))
sys.path.insert(0, os.path.join(here, "..", "shared", "seed"))


def silverman(x, eps):
    a = x.abs() / (math.sqrt(2) * eps / 2)
    return torch.exp(-a) * torch.sin(a + math.pi / 4) / (eps / 2)


class JumpReLUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, theta, eps):
        mask = x >= theta
        ctx.save_for_backward(x, theta, mask)
        ctx.eps = eps
        return x * mask

    @staticmethod
    def backward(ctx, g):
        x, theta, mask = ctx.saved_tensors
        eps = ctx.eps
        d_theta = (-(theta / eps) * silverman(x - theta, eps) * g).sum(0)
        return g * mask, d_theta, None


class LeanJumpSAE(nn.Module):
    def __init__(self, dim, concepts, eps=1e-3):
        super().__init__()
        self.linear = nn.Linear(dim, concepts)
        self.bn = nn.BatchNorm1d(concepts)
        self.log_theta = nn.Parameter(torch.full((concepts,), -3.0))
        self.dictionary = nn.Parameter(nn.functional.normalize(torch.randn(concepts, dim), dim=1))
        self.eps = eps

    def pre_codes(self, x):
        return self.bn(self.linear(x))

    def forward(self, x):
        pre = self.pre_codes(x)
        codes = JumpReLUFn.apply(torch.relu(pre), self.log_theta.exp(), self.eps)
        return pre, codes, codes @ self.dictionary


def seed_module():
    import import_overcomplete as oc  # noqa: E402

    return oc


def set_density(model, x, density, log_theta):
    """Thresholds at the (1 − density) quantile of relu(pre-codes) in the model's current mode."""
    with torch.no_grad():
        if isinstance(model, LeanJumpSAE):
            pre = model.pre_codes(x)
        else:
            pre, _ = model.encoder(x)
        flat = torch.relu(pre).flatten()
        step = max(1, flat.numel() // 2_000_000)
        q = torch.quantile(flat[::step], 1 - density).clamp_min(1e-6)
        log_theta.fill_(float(torch.log(q)))
        _, codes, _ = model(x)
        return float((codes != 0).float().mean())


def build_sae(req):
    torch.manual_seed(req.get("seed", 0))
    D, C, B = req["dim"], req["concepts"], req["batch"]
    x = torch.randn(B, D)
    if req["peer"] == "lean":
        model = LeanJumpSAE(D, C)
        log_theta = model.log_theta
    else:
        oc = seed_module()
        model = oc.JumpSAE(D, C)
        log_theta = model.thresholds
    model.train(req["mode"] == "train")
    if req["mode"] == "train":
        actual = set_density(model, x, req["density"], log_theta)
        opt = torch.optim.Adam(model.parameters(), lr=1e-6)
        if req["peer"] == "lean":

            def call():
                opt.zero_grad()
                _, _, x_hat = model(x)
                loss = (x - x_hat).square().mean()
                loss.backward()
                opt.step()
        else:
            criterion = oc.losses._mse_with_penalty
            batches = [x]

            def call():
                oc.train_sae(model, batches, criterion, opt, nb_epochs=1, clip_grad=None, monitoring=0)
    else:
        if req["peer"] == "seed":
            # the seed fuses its dictionary on entering eval mode: train() then eval()
            model.train()
            model.eval()
        actual = set_density(model, x, req["density"], log_theta)

        def call():
            with torch.no_grad():
                model(x)

    return call, {"actual": actual}


def build_gemm(req):
    torch.manual_seed(0)
    a, w = torch.randn(req["m"], req["k"]), torch.randn(req["n"], req["k"])
    return (lambda: a @ w.T), {}


def main():
    cases = {}
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "hello":
                torch.set_num_threads(req["threads"])
                out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                       "coretype": os.environ.get("OPENBLAS_CORETYPE"),
                       "blas": os.environ.get("LD_LIBRARY_PATH")}
            elif op in ("gemm", "sae"):
                call, out = (build_gemm if op == "gemm" else build_sae)(req)
                call()  # warm-up
                cases[req["name"]] = call
            elif op == "time":
                call = cases[req["name"]]
                t = time.perf_counter()
                call()
                out = {"ms": (time.perf_counter() - t) * 1000}
            elif op == "drop":
                cases.pop(req["name"], None)
                out = {}
            else:
                out = {"error": f"unknown op {op}"}
        except Exception as e:  # the runner prints it next to the row
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
