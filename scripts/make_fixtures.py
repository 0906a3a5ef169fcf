"""Writes the reference fixtures of the parity tests into tests/fixtures/, from the seed's own code.

Run with: /usr/bin/python3 scripts/make_fixtures.py [case names...]
     or: /usr/bin/python3 scripts/make_fixtures.py --check   (replays every file from its state.*)

The seed library (overcomplete) is imported through ../shared/seed/import_overcomplete.py
(`scripts/_fixture_io.py`): its JumpSAE, encoders, DictionaryLayer, kernels, `jump_relu`,
`heaviside` and losses produce every number; nothing of it is re-implemented here. What the seed
lacks is composed from its parts and named so (see `LOSSES` and the `ext_` cases).
See tests/fixtures/README.md for the layout of the files.
"""

import copy
import json
import os
import sys

import numpy as np
import torch
from torch import nn

from _fixture_io import load_safetensors, save_safetensors, seed, seed_version, to_numpy

oc = seed()
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
KERNELS = oc.JumpSAE._KERNELS


def seed_model(dim, case, dtype=torch.float32):
    """The seed's JumpSAE of a case (always a 1-D `input_shape`: the seed's MLP encoders take no
    other; 2-D/3-D cases are our extension, fed the flattened tokens)."""
    model = oc.JumpSAE(dim, case["nb_concepts"], kernel=case["kernel"], bandwidth=case["bandwith"],
                       encoder_module=case["encoder"],
                       dictionary_params={"normalization": case["normalization"],
                                          "use_multiplier": case["use_multiplier"]})
    return model.to(dtype)


def mse_l0(x, x_hat, pre_codes, codes, model, penalty):
    """Not in the seed: mse + penalty · mean over tokens of Σ_c heaviside(relu(pre), θ), built from
    the seed's `heaviside` (its pseudo-gradient) and its mse (`_mse_with_penalty` without penalty)."""
    mse = oc.losses._mse_with_penalty(x, x_hat, pre_codes, codes, None)
    l0 = oc.heaviside(torch.relu(pre_codes), torch.exp(model.thresholds), model.kernel_fn,
                      model.bandwidth)
    return mse + penalty * l0.sum(1).mean()


LOSSES = {  # (x, x_hat, pre_codes, codes, model, penalty) -> loss
    "mse": lambda x, x_hat, pre, codes, model, p: oc.losses._mse_with_penalty(x, x_hat, pre, codes, None),
    "mse_l1": lambda x, x_hat, pre, codes, model, p: oc.losses.mse_l1(x, x_hat, pre, codes, None, penalty=p),
    "mse_l0": mse_l0,
}
GENERATOR = f"scripts/make_fixtures.py (seed overcomplete {seed_version()}, torch {torch.__version__})"
LOSS_ORIGIN = {"mse": "seed losses._mse_with_penalty (no penalty)", "mse_l1": "seed losses.mse_l1",
               "mse_l0": "ours: seed mse + penalty * mean_rows sum_c seed heaviside(relu(pre), exp(thresholds))"}

# ---------------------------------------------------------------------------------------------
# Cases.
# ---------------------------------------------------------------------------------------------

WINDOW = {  # half-width of the support, in units of the bandwith b (None: infinite support)
    "rectangle": 0.5, "triangular": 0.5, "epanechnikov": 0.5, "quartic": 0.5, "cosine": 1.0,
    "gaussian": None, "silverman": None, "cauchy": None,
}


def base_case(name, **kw):
    case = dict(name=name, input_shape=8, batch=12, nb_concepts=16, kernel="silverman",
                bandwith=0.2, encoder="mlp_bn_1", normalization="l2", use_multiplier=False,
                mode="train", loss="mse_l0", penalty=0.1, place_thresholds=True)
    case.update(kw)
    return case


CASES = (
    [base_case(f"kernel_{k}", kernel=k) for k in KERNELS]
    + [
        base_case("encoder_linear", encoder="linear", loss="mse"),
        base_case("encoder_linear_eval", encoder="linear", mode="eval", loss="mse_l1", penalty=0.05),
        base_case("encoder_mlp_ln_1", encoder="mlp_ln_1", kernel="gaussian"),
        base_case("encoder_mlp_bn_3", encoder="mlp_bn_3", kernel="triangular", input_shape=10,
                  nb_concepts=12),
        base_case("encoder_mlp_ln_3", encoder="mlp_ln_3", kernel="cauchy", input_shape=6,
                  nb_concepts=20),
        base_case("encoder_identity", encoder="identity", input_shape=10, nb_concepts=10,
                  kernel="quartic"),
        base_case("default_eval", mode="eval"),
        base_case("default_eval_mse", mode="eval", loss="mse", kernel="rectangle"),
        base_case("norm_max_l2", normalization="max_l2", kernel="epanechnikov"),
        base_case("norm_l1", normalization="l1", kernel="cosine", bandwith=0.3),
        base_case("norm_max_l1", normalization="max_l1"),
        base_case("norm_identity", normalization="identity", kernel="gaussian"),
        base_case("multiplier", use_multiplier=True, loss="mse_l1", penalty=0.05),
        base_case("multiplier_eval", use_multiplier=True, mode="eval", kernel="triangular"),
        base_case("loss_mse", loss="mse"),
        base_case("loss_mse_l1", loss="mse_l1", penalty=0.05, kernel="rectangle"),
        # Our extension (the seed's MLP encoders take 1-D inputs only): the seed's 1-D model fed the
        # flattened tokens; the tests run the 2-D/3-D model on the unflattened input.
        base_case("ext_shape_seq", input_shape=[5, 8], batch=3, kernel="gaussian"),
        base_case("ext_shape_image", input_shape=[6, 3, 2], batch=2, nb_concepts=12, kernel="epanechnikov",
                  loss="mse_l1", penalty=0.05),
        base_case("large_bandwith", kernel="cosine", bandwith=0.5, nb_concepts=24, batch=16),
        # The seed's defaults (silverman, bandwith 1e-3, thresholds -3), nothing placed.
        base_case("seed_defaults", bandwith=1e-3, loss="mse", place_thresholds=False),
    ]
)


def flatten_tokens(x, input_shape):
    """[B, T, D] -> [B*T, D]; [B, C, H, W] -> [B*H*W, C] (channel last); [B, D] unchanged."""
    if isinstance(input_shape, int):
        return x
    if len(input_shape) == 2:
        return x.reshape(-1, input_shape[1])
    return x.permute(0, 2, 3, 1).reshape(-1, input_shape[0])


def build(case, seed):
    torch.manual_seed(seed)
    shape = case["input_shape"]
    dim = shape if isinstance(shape, int) else (shape[1] if len(shape) == 2 else shape[0])
    model = seed_model(dim, case)
    with torch.no_grad():
        # Make the norms' affine parameters non-trivial, and the running statistics too.
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.LayerNorm)):
                module.weight.copy_(1 + 0.3 * torch.randn_like(module.weight))
                module.bias.copy_(0.2 * torch.randn_like(module.bias))
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.copy_(0.3 * torch.randn_like(module.running_mean))
                module.running_var.copy_(0.5 + torch.rand_like(module.running_var))
                module.num_batches_tracked.fill_(7)
        if case["use_multiplier"]:
            model.dictionary.multiplier.fill_(0.3)
    batch = case["batch"]
    x = torch.randn(batch, *([shape] if isinstance(shape, int) else shape)) * 1.5 + 0.2
    return model, x, dim


def place_thresholds(model, case, x_flat, rng):
    """Sets theta_c near one relu(pre) entry per concept, within the kernel window."""
    probe = copy.deepcopy(model)
    if case["mode"] == "eval":
        probe.eval()
    with torch.no_grad():
        pre, _ = probe.encoder(x_flat)
    r = torch.relu(pre)
    half = case["bandwith"] / 2
    theta = torch.empty(r.shape[1])
    for c in range(r.shape[1]):
        positive = torch.sort(r[:, c][r[:, c] > 0]).values
        if len(positive) == 0:
            theta[c] = 0.5
            continue
        q = rng.uniform(0.25, 0.75)
        anchor = positive[min(int(q * len(positive)), len(positive) - 1)]
        delta = rng.choice([-1, 1]) * rng.uniform(0.2, 0.7) * half
        theta[c] = max(float(anchor) + delta, 0.3 * half)
    with torch.no_grad():
        model.thresholds.copy_(torch.log(theta))


def margins(r, theta, case):
    """Smallest distance of relu(pre) to theta, and to the edges of a compact kernel's support."""
    d = (r - theta).abs()
    gate = float(d.min())
    w = WINDOW[case["kernel"]]
    edge = float((d - w * case["bandwith"]).abs().min()) if w is not None else float("inf")
    window = int((d <= (w if w is not None else 0.5) * case["bandwith"]).sum())
    return gate, edge, window


def run_case(case, dtype=torch.float32, seed=0, rng=None):
    model, x, dim = build(case, seed)
    x_flat = flatten_tokens(x, case["input_shape"])
    if case["place_thresholds"]:
        place_thresholds(model, case, x_flat, rng)
    if case["mode"] == "eval":
        model.eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return model, x, x_flat, state


def forward_backward(model, case, x_flat):
    pre, codes, x_hat = model(x_flat)
    loss = LOSSES[case["loss"]](x_flat, x_hat, pre, codes, model, case["penalty"])
    loss.backward()
    return pre, codes, x_hat, loss


def float64_twin(case, state, x_flat):
    """The same seed model in float64, loaded from `state`, to measure the float32 rounding noise.
    (The seed's silverman kernel ends with `.float()`: its values stay float32-rounded there.)"""
    twin = seed_model(x_flat.shape[1], case, torch.float64)
    twin.bandwidth = torch.tensor(case["bandwith"], dtype=torch.float32).double()
    twin.load_state_dict({k: (v.double() if v.is_floating_point() else v) for k, v in state.items()})
    if case["mode"] == "eval":
        twin.eval()
    out = forward_backward(twin, case, x_flat.double())
    return twin, out


def rel_err(a, b):
    a = a.detach().double()
    b = b.detach().double()
    return (a - b).abs().max().item() / (b.abs().max().item() + 1e-4)


def make_case(case):
    rng = np.random.default_rng(1234)
    for attempt in range(50):
        seed = 1000 * CASES.index(case) + attempt
        model, x, x_flat, state = run_case(case, seed=seed, rng=rng)
        theta = torch.exp(model.thresholds.detach())
        pre, codes, x_hat, loss = forward_backward(model, case, x_flat)
        r = torch.relu(pre.detach())
        gate, edge, window = margins(r, theta, case)
        ok = gate > 1e-3 * case["bandwith"] and edge > 1e-3 * case["bandwith"]
        if case["place_thresholds"]:
            ok = ok and window >= 3
        if ok:
            break
    else:
        raise RuntimeError(f"{case['name']}: no seed gives clean margins")

    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    after = model.state_dict()
    twin, (pre64, codes64, x_hat64, loss64) = float64_twin(case, state, x_flat)
    errs = {"pre_codes": rel_err(pre, pre64), "codes": rel_err(codes, codes64),
            "x_hat": rel_err(x_hat, x_hat64), "loss": rel_err(loss, loss64)}
    for n, p in twin.named_parameters():
        errs["grad." + n] = rel_err(grads[n], p.grad)
    # The Linear bias just before a training-mode BatchNorm has a gradient that is zero up to
    # rounding (~1e-9): leave such tensors out of the summary (they are in the metadata).
    scales = {"pre_codes": pre64, "codes": codes64, "x_hat": x_hat64, "loss": loss64}
    scales.update({"grad." + n: p.grad for n, p in twin.named_parameters()})
    meaningful = [k for k in errs if scales[k].abs().max().item() > 1e-5]
    worst = max(meaningful, key=errs.get)
    if os.environ.get("VERBOSE"):
        print(errs, grads["thresholds"])

    active = int((codes.detach() > 0).sum())
    tg = grads["thresholds"].abs()
    shape = case["input_shape"]
    config = {
        "input_shape": shape, "nb_concepts": case["nb_concepts"], "kernel": case["kernel"],
        "bandwith": case["bandwith"], "encoder": case["encoder"],
        "normalization": case["normalization"], "use_multiplier": case["use_multiplier"],
        "mode": case["mode"], "loss": {"name": case["loss"], "penalty": case["penalty"]},
    }
    origin = {"model": "seed JumpSAE(" + ("1-D, fed the flattened tokens: our extension" if not
                                            isinstance(shape, int) else "as configured") + ")",
              "loss": LOSS_ORIGIN[case["loss"]]}
    tensors = [("input.x", to_numpy(x))]
    tensors += [("state." + k, to_numpy(v)) for k, v in state.items()]
    tensors += [("out.pre_codes", to_numpy(pre)), ("out.codes", to_numpy(codes)),
                ("out.x_hat", to_numpy(x_hat)), ("loss", to_numpy(loss).reshape(()))]
    tensors += [("grad." + n, to_numpy(g)) for n, g in grads.items()]
    tensors += [("after." + k, to_numpy(v)) for k, v in after.items()]
    metadata = {
        "config": json.dumps(config),
        "seed": str(seed),
        "active_codes": f"{active}/{codes.numel()}",
        "in_window": str(window),
        "gate_margin": f"{gate:.3g}",
        "edge_margin": f"{edge:.3g}",
        "float64_max_rel_err": json.dumps({k: float(f"{v:.3g}") for k, v in errs.items()}),
        "origin": json.dumps(origin),
        "generator": GENERATOR,
    }
    path = os.path.join(OUT_DIR, case["name"] + ".safetensors")
    save_safetensors(path, tensors, metadata)
    print(f"{case['name']:22s} active {active:4d}/{codes.numel():<4d} in-window {window:3d} "
          f"nonzero-dtheta {int((tg > 0).sum()):2d}/{tg.numel():<2d} gate {gate:.2e} edge {edge:.2e} "
          f"f64 worst {worst} {errs[worst]:.1e}  {os.path.getsize(path)} B")


# ---------------------------------------------------------------------------------------------
# Kernel grid.
# ---------------------------------------------------------------------------------------------

KERNEL_BANDWITHS = {"0.001": 1e-3, "0.5": 0.5}


def kernel_grid():
    points = [0.0]
    for b in KERNEL_BANDWITHS.values():
        b = np.float32(b)
        h = np.float32(b / 2)
        for p in (h, b):
            points += [p, np.nextafter(p, np.float32(0)), np.nextafter(p, np.float32(np.inf))]
        points += list(np.float32(b) * np.linspace(0, 3, 31, dtype=np.float32)[1:])
        points += [b * 0.123, b * 0.377, b * 0.61, b * 0.89, b * 7.0, b * 20.0]
    points = np.unique(np.array(points, dtype=np.float32))
    return np.concatenate([-points[::-1][:-1], points]).astype(np.float32)


def make_kernels():
    x = kernel_grid()
    tensors = [("x", x)]
    for name, fn in KERNELS.items():
        for key, b in KERNEL_BANDWITHS.items():
            b32 = torch.tensor(b, dtype=torch.float32)
            v32 = fn(torch.from_numpy(x), b32)
            # the seed's kernels cast their masks with `.float()`; a 1-element (not 0-d) float64
            # bandwidth makes torch promote the result to float64 (silverman's value part stays
            # float32-rounded: its `.float()` wraps the whole product)
            v64 = fn(torch.from_numpy(x).double(), b32.double().reshape(1))
            tensors.append((f"{name}.bw{key}", v32.numpy().astype(np.float32)))
            tensors.append((f"{name}.bw{key}.f64", v64.numpy().astype(np.float64)))
    metadata = {
        "bandwiths": json.dumps(KERNEL_BANDWITHS),
        "generator": GENERATOR,
    }
    path = os.path.join(OUT_DIR, "kernels.safetensors")
    save_safetensors(path, tensors, metadata)
    print(f"kernels: {len(x)} grid points, {os.path.getsize(path)} B")


# ---------------------------------------------------------------------------------------------
# Read-back check: load state.* into a fresh model, replay, compare with the stored tensors.
# ---------------------------------------------------------------------------------------------

def check_case(name):
    tensors, metadata = load_safetensors(os.path.join(OUT_DIR, name + ".safetensors"))
    config = json.loads(metadata["config"])
    shape = config["input_shape"]
    dim = shape if isinstance(shape, int) else (shape[1] if len(shape) == 2 else shape[0])
    case = dict(input_shape=shape, kernel=config["kernel"], bandwith=config["bandwith"],
                loss=config["loss"]["name"], penalty=config["loss"]["penalty"])
    model = seed_model(dim, config)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("state.")})
    if config["mode"] == "eval":
        model.eval()
    pre, codes, x_hat, loss = forward_backward(model, case, flatten_tokens(tensors["input.x"], shape))
    got = {"out.pre_codes": pre, "out.codes": codes, "out.x_hat": x_hat, "loss": loss}
    got.update({"grad." + n: p.grad for n, p in model.named_parameters()})
    got.update({"after." + k: v for k, v in model.state_dict().items()})
    assert set(got) | {"input.x"} | {k for k in tensors if k.startswith("state.")} == set(tensors), name
    worst = max(rel_err(v.double(), tensors[k].double()) for k, v in got.items())
    print(f"{name:22s} replayed from the file: max rel err {worst:.1e}")
    assert worst < 1e-5, name


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.set_default_dtype(torch.float32)
    if sys.argv[1:2] == ["--check"]:
        for case in CASES:
            check_case(case["name"])
        return
    make_kernels()
    only = set(sys.argv[1:])
    for case in CASES:
        if not only or case["name"] in only:
            make_case(case)


if __name__ == "__main__":
    main()
