"""Every metric of the seed (overcomplete/metrics.py) on fixed inputs (tests/seed_metrics_test.ts).

Run: /usr/bin/python3 scripts/make_metrics_fixtures.py

The seed's own functions (imported through ../shared/seed/import_overcomplete.py; the Hungarian
ones need Debian's python3-scipy) write tests/fixtures/metrics/metrics.safetensors: the inputs
`in.<name>` and one result `out.<case>` per case; metadata `cases` (JSON: case -> {fn, args
(input names), kwargs}), with tuples for `dims` as the seed takes them.
"""

import json
import os

import torch

from _fixture_io import REPO, save_safetensors, seed, seed_version, to_numpy

oc = seed()
m = oc.metrics
OUT = os.path.join(REPO, "tests", "fixtures", "metrics", "metrics.safetensors")


def main():
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(12, 6, generator=gen)
    inputs = {
        "x": x,
        "x_hat": x + 0.3 * torch.randn(12, 6, generator=gen),
        "cube": torch.randn(3, 4, 5, generator=gen) * (torch.rand(3, 4, 5, generator=gen) > 0.4),
        "codes": torch.relu(torch.randn(20, 8, generator=gen) - 0.3),
        "d1": torch.randn(10, 6, generator=gen),
        "d2": torch.randn(10, 6, generator=gen),
        "s1": torch.randn(40, 5, generator=gen) @ torch.randn(5, 5, generator=gen),
        "s2": torch.randn(40, 5, generator=gen) * 0.7 + 0.4,
    }
    inputs["codes"][:, 3] = 0  # a dead code
    cases = {
        "l2": ("l2", ["cube"], {}),
        "l2_dims_0_2": ("l2", ["cube"], {"dims": (0, 2)}),
        "l1_dims_1": ("l1", ["cube"], {"dims": 1}),
        "l1_dims_m1_0": ("l1", ["cube"], {"dims": (-1, 0)}),
        "lp": ("lp", ["cube"], {}),
        "lp_1.5_dims_0_2": ("lp", ["cube"], {"p": 1.5, "dims": (0, 2)}),
        "l0": ("l0", ["cube"], {}),
        "l0_dims_0_2": ("l0", ["cube"], {"dims": (0, 2)}),
        "l0_eps_dims_1_2": ("l0_eps", ["cube"], {"dims": (1, 2), "threshold": 0.5}),
        "l1_l2_ratio": ("l1_l2_ratio", ["cube"], {}),
        "l1_l2_ratio_all": ("l1_l2_ratio", ["cube"], {"dims": None}),
        "l1_l2_ratio_dims_0_1": ("l1_l2_ratio", ["cube"], {"dims": (0, 1)}),
        "hoyer": ("hoyer", ["codes"], {}),
        "kappa_4": ("kappa_4", ["codes"], {}),
        "r2_score": ("r2_score", ["x", "x_hat"], {}),
        "avg_l2_loss": ("avg_l2_loss", ["x", "x_hat"], {}),
        "avg_l1_loss": ("avg_l1_loss", ["x", "x_hat"], {}),
        "relative_avg_l2_loss": ("relative_avg_l2_loss", ["x", "x_hat"], {}),
        "relative_avg_l1_loss": ("relative_avg_l1_loss", ["x", "x_hat"], {}),
        "dead_codes": ("dead_codes", ["codes"], {}),
        "hungarian_loss": ("hungarian_loss", ["d1", "d2"], {}),
        "hungarian_loss_p1": ("hungarian_loss", ["d1", "d2"], {"p_norm": 1}),
        "cosine_hungarian_loss": ("cosine_hungarian_loss", ["d1", "d2"], {}),
        "dictionary_collinearity": ("dictionary_collinearity", ["d1"], {}),
        "wasserstein_1d": ("wasserstein_1d", ["s1", "s2"], {}),
        "frechet_distance": ("frechet_distance", ["s1", "s2"], {}),
        "codes_correlation_matrix": ("codes_correlation_matrix", ["codes"], {}),
        "energy_of_codes": ("energy_of_codes", ["codes", "d1_8"], {}),
    }
    inputs["d1_8"] = torch.randn(8, 6, generator=gen)
    tensors = [(f"in.{k}", to_numpy(v)) for k, v in inputs.items()]
    for name, (fn, args, kwargs) in cases.items():
        result = getattr(m, fn)(*[inputs[a] for a in args], **kwargs)
        if isinstance(result, tuple):  # (max, matrix)
            tensors.append((f"out.{name}.max", to_numpy(torch.tensor(result[0]))))
            tensors.append((f"out.{name}.matrix", to_numpy(result[1])))
        else:
            tensors.append((f"out.{name}", to_numpy(torch.as_tensor(result))))
    meta = {"cases": json.dumps({k: {"fn": fn, "args": a, "kwargs": kw} for k, (fn, a, kw) in cases.items()}),
            "generator": f"scripts/make_metrics_fixtures.py (seed overcomplete {seed_version()}, "
                         f"torch {torch.__version__})"}
    save_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
