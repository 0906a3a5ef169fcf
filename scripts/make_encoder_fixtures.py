"""The seed's MLPEncoder options (hidden_dim, residual, hidden_activation, norm_layer) and its
untied encoder (`sae.untied(bias)`) inside the seed's JumpSAE (tests/encoder_options_test.ts).

Run: /usr/bin/python3 scripts/make_encoder_fixtures.py

Writes tests/fixtures/encoders/<case>.safetensors in the layout of tests/fixtures/README.md's
model cases (`input.x`, `state.*`, `out.*`, `loss`, `grad.*`, `after.*`), training mode, the seed's
`mse_l1` (penalty 0.01), kernel silverman with bandwidth 0.2. Metadata `options` holds the
`mlpEncoder` options of the case (jumpsae's spelling), or `{untied: true, bias}`. Seeds are retried until no relu(pre) lies
within 1e-3·bandwidth of the threshold.
"""

import json
import os

import torch
from torch import nn

from _fixture_io import REPO, save_safetensors, seed, seed_version, to_numpy

oc = seed()
OUT = os.path.join(REPO, "tests", "fixtures", "encoders")
DIM, CONCEPTS, BATCH, BANDWIDTH = 8, 16, 12, 0.2
NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm, "none": nn.Identity}
ACTS = {"relu": nn.ReLU, "identity": nn.Identity}

CASES = {
    "mlp_hidden_residual": dict(nbBlocks=3, hiddenDim=12, residual=True, norm="batch"),
    "mlp_residual_same_width": dict(nbBlocks=3, residual=True, norm="layer"),
    "mlp_hidden_identity_activation": dict(nbBlocks=2, hiddenDim=5, hiddenActivation="identity",
                                           norm="batch"),
    "mlp_no_norm_residual": dict(nbBlocks=4, hiddenDim=8, residual=True, norm="none"),
    # the seed's sae.untied(bias, copy_from_dictionary=True): a TieableEncoder with own weights
    "untied_bias": dict(untied=True, bias=True),
    "untied_no_bias": dict(untied=True, bias=False),
}


def seed_encoder(o):
    return oc.MLPEncoder(DIM, CONCEPTS, hidden_dim=o.get("hiddenDim"), nb_blocks=o.get("nbBlocks", 1),
                         hidden_activation=ACTS[o.get("hiddenActivation", "relu")],
                         norm_layer=NORMS[o.get("norm", "batch")], residual=o.get("residual", False))


def main():
    for index, (name, o) in enumerate(CASES.items()):
        for attempt in range(100):
            s = 100 * index + attempt
            torch.manual_seed(s)
            if o.get("untied"):
                model = oc.JumpSAE(DIM, CONCEPTS, kernel="silverman", bandwidth=BANDWIDTH)
                model = model.untied(bias=o["bias"])
                with torch.no_grad():
                    if o["bias"]:
                        model.encoder.bias.copy_(0.3 * torch.randn_like(model.encoder.bias))
            else:
                model = oc.JumpSAE(DIM, CONCEPTS, kernel="silverman", bandwidth=BANDWIDTH,
                                   encoder_module=seed_encoder(o))
            with torch.no_grad():
                for module in model.modules():
                    if isinstance(module, (nn.BatchNorm1d, nn.LayerNorm)):
                        module.weight.copy_(1 + 0.3 * torch.randn_like(module.weight))
                        module.bias.copy_(0.2 * torch.randn_like(module.bias))
                    if isinstance(module, nn.BatchNorm1d):
                        module.running_mean.copy_(0.3 * torch.randn_like(module.running_mean))
                        module.running_var.copy_(0.5 + torch.rand_like(module.running_var))
                model.thresholds.fill_(-1.5)
            x = torch.randn(BATCH, DIM) * 1.5 + 0.2
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            pre, codes, x_hat = model(x)
            theta = torch.exp(model.thresholds.detach())
            if float((torch.relu(pre.detach()) - theta).abs().min()) > 1e-3 * BANDWIDTH:
                break
        else:
            raise RuntimeError(name)
        loss = oc.losses.mse_l1(x, x_hat, pre, codes, None, penalty=0.01)
        loss.backward()
        tensors = [("input.x", to_numpy(x))] + [("state." + k, to_numpy(v)) for k, v in state.items()]
        tensors += [("out.pre_codes", to_numpy(pre)), ("out.codes", to_numpy(codes)),
                    ("out.x_hat", to_numpy(x_hat)), ("loss", to_numpy(loss).reshape(()))]
        tensors += [("grad." + n, to_numpy(p.grad)) for n, p in model.named_parameters()]
        tensors += [("after." + k, to_numpy(v)) for k, v in model.state_dict().items()]
        meta = {"options": json.dumps(o), "seed": str(s),
                "config": json.dumps({"dim": DIM, "nb_concepts": CONCEPTS, "bandwidth": BANDWIDTH,
                                      "kernel": "silverman", "penalty": 0.01}),
                "generator": f"scripts/make_encoder_fixtures.py (seed overcomplete {seed_version()}, "
                             f"torch {torch.__version__})"}
        save_safetensors(os.path.join(OUT, f"{name}.safetensors"), tensors, meta)
        print(f"{name:32s} seed {s} active {int((codes > 0).sum())}/{codes.numel()} keys "
              f"{[k for k in state if k.startswith('encoder.')][:3]}...")


if __name__ == "__main__":
    main()
