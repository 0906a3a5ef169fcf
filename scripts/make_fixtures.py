"""Writes the PyTorch reference fixtures of the parity tests into tests/fixtures/.

Run with: /usr/bin/python3 scripts/make_fixtures.py [case names...]
     or: /usr/bin/python3 scripts/make_fixtures.py --check   (replays every file from its state.*)

The seed library (overcomplete's JumpSAE) cannot be installed here, so its modules are
re-implemented below in plain PyTorch, line for line. The `safetensors` package is not
installed either: the format is written by hand (see `save_safetensors`).
See tests/fixtures/README.md for the layout of the files.
"""

import copy
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

# ---------------------------------------------------------------------------------------------
# The seed library, re-implemented (overcomplete/sae/kernels.py, jump_sae.py, dictionary.py,
# modules.py, losses.py).
#
# The seed's kernels end with `.float()`; here it is `.to(x.dtype)`, the same for float32 inputs,
# so that the float64 twin (used to measure float32 rounding noise) stays float64.
# ---------------------------------------------------------------------------------------------


def rectangle_kernel(x, bandwith):
    half = bandwith / 2
    return ((x >= -half) & (x <= half)).to(x.dtype) / bandwith


def gaussian_kernel(x, bandwith):
    coeff = 1.0 / (bandwith * (2.0 * torch.pi) ** 0.5)
    xs = x / (bandwith / 2.0)
    return torch.exp(-0.5 * xs**2) * coeff


def triangular_kernel(x, bandwith):
    half = bandwith / 2
    a = x.abs()
    return ((1 - (a / half)) * (a <= half).to(x.dtype)) / half


def cosine_kernel(x, bandwith):
    coeff = torch.pi / bandwith
    a = x.abs()
    return ((1 + torch.cos(x * coeff)) / 2) * (a <= bandwith).to(x.dtype)


def epanechnikov_kernel(x, bandwith):
    half = bandwith / 2
    xs = x / half
    return (3 / 4) * (1 - xs**2) * (xs.abs() <= 1).to(x.dtype) / half


def quartic_kernel(x, bandwith):
    half = bandwith / 2
    xs = x / half
    return (15 / 16) * (1 - xs**2) ** 2 * (xs.abs() <= 1).to(x.dtype) / half


def silverman_kernel(x, bandwith):
    half = bandwith / 2
    xs = x.abs() / half
    return (torch.exp(-xs / (2**0.5)) * torch.sin(xs / (2**0.5) + torch.pi / 4)).to(x.dtype) / half


def cauchy_kernel(x, bandwith):
    half = bandwith / 2
    xs = x / half
    return (1 / (1 + xs**2)) / (torch.pi * half)


KERNELS = {
    "rectangle": rectangle_kernel,
    "gaussian": gaussian_kernel,
    "triangular": triangular_kernel,
    "cosine": cosine_kernel,
    "epanechnikov": epanechnikov_kernel,
    "quartic": quartic_kernel,
    "silverman": silverman_kernel,
    "cauchy": cauchy_kernel,
}


def _like(t, x):
    return t.to(x.dtype)


def kernel_call(kernel_fn, x, bandwith):
    return _like(kernel_fn(x, bandwith), x)


class JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, kernel_fn, bandwith):
        ctx.save_for_backward(x, threshold)
        ctx.kernel_fn = kernel_fn
        ctx.bandwith = bandwith
        out = x.clone()
        out[x < threshold] = 0
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x, threshold = ctx.saved_tensors
        bandwith = ctx.bandwith
        grad_input = grad_output.clone()
        grad_input[x < threshold] = 0
        grad_threshold = (
            -(threshold / bandwith) * kernel_call(ctx.kernel_fn, x - threshold, bandwith) * grad_output
        ).sum(0)
        return grad_input, grad_threshold, None, None


class HeavisidePseudoGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, kernel_fn, bandwith):
        ctx.save_for_backward(x, threshold)
        ctx.kernel_fn = kernel_fn
        ctx.bandwith = bandwith
        return (x > threshold).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, threshold = ctx.saved_tensors
        bandwith = ctx.bandwith
        grad_threshold = (
            -(1.0 / bandwith) * kernel_call(ctx.kernel_fn, x - threshold, bandwith) * grad_output
        ).sum(0)
        grad_input = torch.zeros_like(x)
        return grad_input, grad_threshold, None, None


def jump_relu(x, threshold, kernel_fn, bandwith):
    return JumpReLU.apply(x, threshold, kernel_fn, bandwith)


def heaviside(x, threshold, kernel_fn, bandwith):
    return HeavisidePseudoGradient.apply(x, threshold, kernel_fn, bandwith)


class MLPEncoder(nn.Module):
    def __init__(self, input_size, n_components, nb_blocks=1, norm_layer=nn.BatchNorm1d):
        super().__init__()
        hidden_dim = input_size
        self.mlp_blocks = nn.ModuleList()
        last_dim = input_size
        for _ in range(nb_blocks - 1):
            self.mlp_blocks.append(
                nn.Sequential(nn.Linear(last_dim, hidden_dim), norm_layer(hidden_dim), nn.ReLU())
            )
            last_dim = hidden_dim
        self.final_block = nn.Sequential(nn.Linear(last_dim, n_components), norm_layer(n_components))

    def forward(self, x):
        for block in self.mlp_blocks:
            x = block(x)
        pre_codes = self.final_block(x)
        return pre_codes, torch.relu(pre_codes)


class IdentityEncoder(nn.Module):
    def forward(self, x):
        return x, x


def make_encoder(name, input_size, nb_concepts):
    if name == "identity":
        return IdentityEncoder()
    if name == "linear":
        return MLPEncoder(input_size, nb_concepts, nb_blocks=0, norm_layer=nn.Identity)
    blocks = {"mlp_bn_1": 1, "mlp_ln_1": 1, "mlp_bn_3": 3, "mlp_ln_3": 3}[name]
    norm = nn.BatchNorm1d if "_bn_" in name else nn.LayerNorm
    return MLPEncoder(input_size, nb_concepts, nb_blocks=blocks, norm_layer=norm)


def l2_normalization(x):
    return x / (torch.norm(x, p=2, dim=1, keepdim=True) + 1e-8)


def max_l2_normalization(x):
    return x / torch.amax(torch.norm(x, p=2, dim=1, keepdim=True), dim=0, keepdim=True)


def l1_normalization(x):
    return x / (torch.norm(x, p=1, dim=1, keepdim=True) + 1e-8)


def max_l1_normalization(x):
    return x / torch.amax(torch.norm(x, p=1, dim=1, keepdim=True), dim=0, keepdim=True)


def identity_normalization(x):
    return x


NORMALIZATIONS = {
    "l2": l2_normalization,
    "max_l2": max_l2_normalization,
    "l1": l1_normalization,
    "max_l1": max_l1_normalization,
    "identity": identity_normalization,
}


class DictionaryLayer(nn.Module):
    def __init__(self, in_dimensions, nb_concepts, normalization="l2", use_multiplier=False):
        super().__init__()
        self.in_dimensions = in_dimensions
        self.nb_concepts = nb_concepts
        self.normalization = NORMALIZATIONS[normalization]
        self._weights = nn.Parameter(torch.randn(nb_concepts, in_dimensions))
        nn.init.xavier_uniform_(self._weights)
        if use_multiplier:
            self.multiplier = nn.Parameter(torch.tensor(0.0), requires_grad=True)
        else:
            self.register_buffer("multiplier", torch.tensor(0.0))
        self._fused_dictionary = None

    def forward(self, z):
        return torch.matmul(z, self.get_dictionary())

    def get_dictionary(self):
        if self.training:
            with torch.no_grad():
                self._weights.data = self.normalization(self._weights)
            return self._weights * torch.exp(self.multiplier)
        return self._fused_dictionary

    def train(self, mode=True):
        if not mode:
            self._fused_dictionary = self.get_dictionary()
        return super().train(mode)


class JumpSAE(nn.Module):
    def __init__(self, input_size, nb_concepts, kernel="silverman", bandwith=1e-3,
                 encoder_module="mlp_bn_1", normalization="l2", use_multiplier=False):
        super().__init__()
        self.encoder = make_encoder(encoder_module, input_size, nb_concepts)
        self.dictionary = DictionaryLayer(input_size, nb_concepts, normalization, use_multiplier)
        self.kernel_fn = KERNELS[kernel]
        self.bandwith = torch.tensor(bandwith)
        self.thresholds = nn.Parameter(torch.ones(nb_concepts) * (-3.0), requires_grad=True)

    def encode(self, x):
        pre_codes, _ = self.encoder(x)
        codes = torch.relu(pre_codes)
        codes = jump_relu(codes, torch.exp(self.thresholds), self.kernel_fn, self.bandwith)
        return pre_codes, codes

    def forward(self, x):
        pre_codes, codes = self.encode(x)
        return pre_codes, codes, self.dictionary(codes)


def mse_loss(x, x_hat, pre_codes, codes, model, penalty):
    return (x - x_hat).square().mean()


def mse_l1_loss(x, x_hat, pre_codes, codes, model, penalty):
    return (x - x_hat).square().mean() + penalty * codes.abs().mean()


def mse_l0_loss(x, x_hat, pre_codes, codes, model, penalty):
    mse = (x - x_hat).square().mean()
    l0 = heaviside(torch.relu(pre_codes), torch.exp(model.thresholds), model.kernel_fn, model.bandwith)
    return mse + penalty * l0.sum(1).mean()


LOSSES = {"mse": mse_loss, "mse_l1": mse_l1_loss, "mse_l0": mse_l0_loss}

# ---------------------------------------------------------------------------------------------
# safetensors, written by hand.
# ---------------------------------------------------------------------------------------------

DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}


def save_safetensors(path, tensors, metadata):
    """tensors: list of (name, np.ndarray); metadata: dict str -> str."""
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, array in tensors:
        array = np.asarray(array)  # (np.ascontiguousarray would turn a 0-d array into [1])
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes(order="C")
        header[name] = {"dtype": DTYPES[np.dtype(array.dtype.name)], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def to_numpy(t):
    t = t.detach().cpu()
    if t.dtype == torch.int64:
        return t.numpy().astype(np.int64)
    return t.numpy().astype(np.float32)


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
        base_case("shape_seq", input_shape=[5, 8], batch=3, kernel="gaussian"),
        base_case("shape_image", input_shape=[6, 3, 2], batch=2, nb_concepts=12, kernel="epanechnikov",
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
    model = JumpSAE(dim, case["nb_concepts"], kernel=case["kernel"], bandwith=case["bandwith"],
                    encoder_module=case["encoder"], normalization=case["normalization"],
                    use_multiplier=case["use_multiplier"])
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
    """The same model in float64, loaded from `state`, to measure the float32 rounding noise."""
    dim = x_flat.shape[1]
    twin = JumpSAE(dim, case["nb_concepts"], kernel=case["kernel"], bandwith=case["bandwith"],
                   encoder_module=case["encoder"], normalization=case["normalization"],
                   use_multiplier=case["use_multiplier"]).double()
    twin.bandwith = torch.tensor(case["bandwith"], dtype=torch.float32).double()
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
        "generator": "scripts/make_fixtures.py (torch " + torch.__version__ + ")",
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
            v32 = kernel_call(fn, torch.from_numpy(x), b32)
            v64 = kernel_call(fn, torch.from_numpy(x).double(), b32.double())
            tensors.append((f"{name}.bw{key}", v32.numpy().astype(np.float32)))
            tensors.append((f"{name}.bw{key}.f64", v64.numpy().astype(np.float64)))
    metadata = {
        "bandwiths": json.dumps(KERNEL_BANDWITHS),
        "generator": "scripts/make_fixtures.py (torch " + torch.__version__ + ")",
    }
    path = os.path.join(OUT_DIR, "kernels.safetensors")
    save_safetensors(path, tensors, metadata)
    print(f"kernels: {len(x)} grid points, {os.path.getsize(path)} B")


# ---------------------------------------------------------------------------------------------
# Read-back check: load state.* into a fresh model, replay, compare with the stored tensors.
# ---------------------------------------------------------------------------------------------

NP_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        data = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=NP_DTYPES[e["dtype"]])
        tensors[name] = torch.from_numpy(data.reshape(e["shape"]).copy())
    return tensors, metadata


def check_case(name):
    tensors, metadata = load_safetensors(os.path.join(OUT_DIR, name + ".safetensors"))
    config = json.loads(metadata["config"])
    shape = config["input_shape"]
    dim = shape if isinstance(shape, int) else (shape[1] if len(shape) == 2 else shape[0])
    case = dict(input_shape=shape, kernel=config["kernel"], bandwith=config["bandwith"],
                loss=config["loss"]["name"], penalty=config["loss"]["penalty"])
    model = JumpSAE(dim, config["nb_concepts"], kernel=config["kernel"], bandwith=config["bandwith"],
                    encoder_module=config["encoder"], normalization=config["normalization"],
                    use_multiplier=config["use_multiplier"])
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
