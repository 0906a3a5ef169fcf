"""
PyTorch reference trajectories for the optimizers, gradient clipping and the cosine scheduler
(`tests/optim_test.ts`). Run from the repository root with the system python (torch + numpy):

    python3 scripts/make_optim_fixtures.py

Writes `tests/fixtures/optim/trajectories.safetensors`. Each case starts from the same two
parameters `p0` [3, 4] and `p1` [5], applies STEPS steps with the gradients `grad.<step>.<name>`
(fixed random values, identical for every case) and records the parameters after every step
under `<case>.<step>.<name>`. The case's optimizer settings are in the JSON metadata `cases`.
The clipping case records the clipped gradients and the returned total norm; the scheduler
case records the learning rate after each `step()` of the seed library's CosineScheduler.
"""
import json
import struct

import numpy as np
import torch

from _fixture_io import seed

oc = seed()

STEPS = 6
OUT = "tests/fixtures/optim/trajectories.safetensors"


def save_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name, array in tensors:
        array = np.asarray(array, dtype=np.float32)
        raw = array.astype("<f4").tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


CASES = {
    "adam": ("adam", dict(lr=1e-2)),
    "adam_wd": ("adam", dict(lr=5e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    "adamw": ("adamw", dict(lr=1e-2, weight_decay=0.05)),
    "sgd": ("sgd", dict(lr=0.1)),
    "sgd_momentum": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov": ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True)),
}


def main():
    torch.manual_seed(0)
    init = {"p0": torch.randn(3, 4), "p1": torch.randn(5)}
    grads = [{k: torch.randn_like(v) * (0.1 + s) for k, v in init.items()} for s in range(STEPS)]
    tensors = [(f"init.{k}", v.numpy()) for k, v in init.items()]
    for s, g in enumerate(grads):
        tensors += [(f"grad.{s}.{k}", v.numpy()) for k, v in g.items()]

    for case, (kind, kw) in CASES.items():
        params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[kind]
        opt = cls(list(params.values()), **kw)
        for s in range(STEPS):
            opt.zero_grad()
            for k, p in params.items():
                p.grad = grads[s][k].clone()
            opt.step()
            tensors += [(f"{case}.{s}.{k}", p.detach().numpy().copy()) for k, p in params.items()]

    # clip_grad_norm_: one case that clips, one that does not
    for case, max_norm in (("clip", 0.5), ("noclip", 100.0)):
        params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        for k, p in params.items():
            p.grad = grads[0][k].clone() * 3
        total = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
        tensors.append((f"{case}.total", np.array([total.item()])))
        tensors += [(f"{case}.grad.{k}", p.grad.numpy().copy()) for k, p in params.items()]

    # the seed library's own CosineScheduler (overcomplete), through import_overcomplete.py;
    # total == warmup (a warm-up only) is accepted by the seed
    sched_cases = {"cosine": (1e-3, 1e-5, 20, 5, 1e-6), "cosine_nowarmup": (5e-3, 0.0, 12, 0, 0.0),
                   "cosine_warmup_only": (2e-3, 1e-5, 6, 6, 1e-4)}
    for case, (base, final, total, warmup, start) in sched_cases.items():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=42.0)
        scheduler = oc.CosineScheduler(opt, base, final, total, warmup, start)
        lrs = []
        for _ in range(total + 2):
            scheduler.step()
            lrs.append(float(opt.param_groups[0]["lr"]))
        tensors.append((f"{case}.lrs", np.array(lrs)))
    meta = {
        "steps": str(STEPS),
        "cases": json.dumps({k: {"kind": kind, **{a: list(b) if isinstance(b, tuple) else b for a, b in kw.items()}}
                             for k, (kind, kw) in CASES.items()}),
        "schedulers": json.dumps({k: list(v) for k, v in sched_cases.items()}),
        "torch": torch.__version__,
    }
    save_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
