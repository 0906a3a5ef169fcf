"""The seed's public `jump_relu` and `heaviside` functions, forward and autograd backward, for
every kernel (tests/seed_jump_relu_test.ts).

Run: /usr/bin/python3 scripts/make_jump_relu_fixtures.py

Writes tests/fixtures/jump_relu/jump_relu.safetensors: `x` [10, 6] (values within a few
bandwiths of the thresholds, none within 1e-3·bandwith of one or of a support edge),
`threshold` [6], `grad_output` [10, 6], and per kernel `<kernel>.<fn>.out`, `.grad_x`,
`.grad_threshold` (fn: jump_relu, heaviside); metadata `bandwidth`.
"""

import json
import os

import torch

from _fixture_io import REPO, save_safetensors, seed, seed_version, to_numpy

oc = seed()
OUT = os.path.join(REPO, "tests", "fixtures", "jump_relu", "jump_relu.safetensors")
BANDWIDTH = 0.2


def main():
    gen = torch.Generator().manual_seed(14)
    threshold = 0.3 + torch.rand(6, generator=gen)
    while True:
        x = threshold + (torch.rand(10, 6, generator=gen) - 0.5) * 4 * BANDWIDTH
        d = (x - threshold).abs()
        edges = [0.0, BANDWIDTH / 2, BANDWIDTH]
        if min(float((d - e).abs().min()) for e in edges) > 1e-3 * BANDWIDTH:
            break
    g = torch.randn(10, 6, generator=gen)
    tensors = [("x", to_numpy(x)), ("threshold", to_numpy(threshold)), ("grad_output", to_numpy(g))]
    for name, kernel_fn in oc.JumpSAE._KERNELS.items():
        for fn in ("jump_relu", "heaviside"):
            xs = x.clone().requires_grad_(True)
            th = threshold.clone().requires_grad_(True)
            out = getattr(oc, fn)(xs, th, kernel_fn, torch.tensor(BANDWIDTH))
            out.backward(g)
            tensors += [(f"{name}.{fn}.out", to_numpy(out)), (f"{name}.{fn}.grad_x", to_numpy(xs.grad)),
                        (f"{name}.{fn}.grad_threshold", to_numpy(th.grad))]
    meta = {"bandwidth": json.dumps(BANDWIDTH),
            "generator": f"scripts/make_jump_relu_fixtures.py (seed overcomplete {seed_version()}, "
                         f"torch {torch.__version__})"}
    save_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
