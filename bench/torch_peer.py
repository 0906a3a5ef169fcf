"""The PyTorch + OpenBLAS peer of bench/run.ts: the same GEMM and JumpSAE rows, one JSON line each.

Run with (Debian python3-torch, OpenBLAS told its core type, else it picks slow kernels):
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_peer.py --threads 2
bench/run.ts runs it itself when /usr/bin/python3 imports torch. The JumpSAE is the seed library
re-implemented in scripts/make_fixtures.py; densities are set as in bench/run.ts, by putting the
thresholds at the matching quantile of the pre-codes.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("fixtures", os.path.join(here, "..", "scripts", "make_fixtures.py"))
fx = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fx)


def best_ms(fn, reps):
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t) * 1000)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--concepts", type=int, default=16384)
    p.add_argument("--batches", default="1024,256")
    p.add_argument("--densities", default="0.005,0.02,0.1")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    m, k, n = 1024, 768, 10000
    a, b = torch.randn(m, k), torch.randn(k, n)
    ms = best_ms(lambda: a @ b, args.reps)
    print(json.dumps({"row": "gemm", "threads": args.threads, "ms": ms, "gflops": 2 * m * n * k / ms / 1e6}), flush=True)

    D, C = 768, args.concepts
    for batch in [int(s) for s in args.batches.split(",")]:
        x = torch.randn(batch, D)
        for density in [float(s) for s in args.densities.split(",")]:
            sae = fx.JumpSAE(D, C)
            # eval: thresholds at the (1 − density) quantile of the eval pre-codes
            sae.eval()
            with torch.no_grad():
                pre, _ = sae.encoder(x)
                q = torch.quantile(pre.flatten()[:1_000_000], 1 - density).clamp_min(1e-6)
                sae.thresholds.fill_(float(torch.log(q)))
                _, codes, _ = sae(x)
                actual = float((codes != 0).float().mean())

            def fwd():
                with torch.no_grad():
                    sae(x)

            ms = best_ms(fwd, args.reps)
            print(json.dumps({"row": "forward", "batch": batch, "density": density, "actual": actual,
                              "ms": ms, "samples": batch / ms * 1000}), flush=True)
            # training: thresholds at the quantile of the training-mode pre-codes
            sae.train()
            with torch.no_grad():
                pre, _ = sae.encoder(x)
                q = torch.quantile(pre.flatten()[:1_000_000], 1 - density).clamp_min(1e-6)
                sae.thresholds.fill_(float(torch.log(q)))
            opt = torch.optim.Adam(sae.parameters(), lr=1e-4)

            def step():
                opt.zero_grad()
                pre_codes, codes, x_hat = sae(x)
                loss = fx.mse_l0_loss(x, x_hat, pre_codes, codes, sae, 1e-3)
                loss.backward()
                opt.step()

            ms = best_ms(step, args.reps)
            print(json.dumps({"row": "train", "batch": batch, "density": density, "ms": ms,
                              "samples": batch / ms * 1000}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
