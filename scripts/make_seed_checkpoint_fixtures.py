"""Seed JumpSAE checkpoints saved straight after the seed's `train_sae` (tests/seed_checkpoint_test.ts).

Run: /usr/bin/python3 scripts/make_seed_checkpoint_fixtures.py

For each case, the seed's JumpSAE (imported through ../shared/seed/import_overcomplete.py) is
trained a few epochs by the seed's own `train_sae`; its `state_dict()` is written right away, as a
user would save it (`dictionary._weights` rows are then not re-normalised: the seed projects them
at use), to tests/fixtures/seed_checkpoint/<case>.safetensors. `expected.<case>.safetensors` holds a
held-out input `x` and the seed's eval-mode outputs after `model.eval()` (`pre_codes`, `codes`,
`x_hat`), with the constructor arguments in the metadata.
"""

import json
import os

import torch

from _fixture_io import REPO, save_safetensors, seed, seed_version, to_numpy

oc = seed()
OUT = os.path.join(REPO, "tests", "fixtures", "seed_checkpoint")

CASES = {
    # the seed's own default encoder ("linear": its code differs from its docstring)
    "default_linear": dict(kernel="silverman", bandwidth=0.05, encoder_module=None),
    "mlp_bn_1": dict(kernel="gaussian", bandwidth=0.05, encoder_module="mlp_bn_1"),
}


def main():
    for i, (name, kw) in enumerate(CASES.items()):
        torch.manual_seed(100 + i)
        dim, concepts = 12, 32
        data = torch.randn(256, dim)
        model = oc.JumpSAE(dim, concepts, **kw)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=32,
                                             shuffle=True)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

        def criterion(x, x_hat, pre_codes, codes, dictionary):
            return oc.losses.mse_l1(x, x_hat, pre_codes, codes, dictionary, penalty=1e-4)

        oc.train_sae(model, loader, criterion, optimizer, nb_epochs=3, monitoring=0)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        norms = state["dictionary._weights"].norm(dim=1)
        model.eval()
        x = torch.randn(20, dim)
        with torch.no_grad():
            pre, codes, x_hat = model(x)
        save_safetensors(os.path.join(OUT, f"{name}.safetensors"),
                         [(k, to_numpy(v)) for k, v in state.items()], {"format": "pt"})
        config = {"kernel": kw["kernel"], "bandwidth": kw["bandwidth"],
                  "encoder_module": kw["encoder_module"]}
        meta = {"config": json.dumps(config), "max_row_norm_error": f"{(norms - 1).abs().max():.3g}",
                "generator": f"scripts/make_seed_checkpoint_fixtures.py (seed overcomplete "
                             f"{seed_version()}, torch {torch.__version__})"}
        save_safetensors(os.path.join(OUT, f"expected.{name}.safetensors"),
                         [("x", to_numpy(x)), ("pre_codes", to_numpy(pre)), ("codes", to_numpy(codes)),
                          ("x_hat", to_numpy(x_hat))], meta)
        print(f"{name}: rows' |norm - 1| up to {meta['max_row_norm_error']}, "
              f"{int((codes > 0).sum())}/{codes.numel()} active codes")


if __name__ == "__main__":
    main()
