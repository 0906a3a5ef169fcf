"""The seed's train_sae over a memmap: bench/pipeline.ts's peer for `jumpsae train`.

    /usr/bin/python3 bench/pipeline_seed.py ACTS.npy --concepts 1024 --batch-size 1024 --threads 2

The seed library's own JumpSAE (default encoder) and train_sae, one epoch, fed as its users feed
it from disk: batches of --batch-size contiguous rows of np.load(mmap_mode="r"), in a shuffled
order of batches. Loss mse_l1 (penalty 1e-3), Adam lr 1e-3, clip_grad 1. Prints one JSON line.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "seed"))
import import_overcomplete as oc  # noqa: E402


class MemmapBatches:
    def __init__(self, path, batch_size, seed):
        self.acts = np.load(path, mmap_mode="r")
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        n = (len(self.acts) + self.batch_size - 1) // self.batch_size
        for b in self.rng.permutation(n):
            rows = self.acts[b * self.batch_size:(b + 1) * self.batch_size]
            yield torch.from_numpy(np.ascontiguousarray(rows))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("acts")
    p.add_argument("--concepts", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    loader = MemmapBatches(a.acts, a.batch_size, 0)
    rows, dim = loader.acts.shape
    sae = oc.JumpSAE(dim, a.concepts)
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-3)

    def criterion(x, x_hat, pre_codes, codes, dictionary):
        return oc.losses.mse_l1(x, x_hat, pre_codes, codes, dictionary, penalty=1e-3)

    start = time.perf_counter()
    logs = oc.train_sae(sae, loader, criterion, optimizer, nb_epochs=1, clip_grad=1.0, monitoring=1)
    wall = time.perf_counter() - start
    print(json.dumps({"rows": rows, "dim": dim, "epoch_s": logs["time_epoch"][0], "wall_s": wall,
                      "rows_per_s": rows / logs["time_epoch"][0]}))


if __name__ == "__main__":
    main()
