"""Peers of bench/training_quality.ts: the seed library's own TopKSAE (imported from
../shared/seed through import_overcomplete.py, trained with the seed's train_sae), PCA, and
scikit-learn's MiniBatchDictionaryLearning + OMP where installed.

    /usr/bin/python3 bench/training_peers.py DATA.npz --k 8 16 --epochs 20 --batch-size 256 \
        --concepts 256 [--methods topk,batchtopk,pca,omp] [--features FEATURES.npy]

Methods: topk (the seed's TopKSAE with its default Linear encoder), topk_bn (with the
Linear + BatchNorm encoder "mlp_bn_1"), batchtopk, pca, omp. DATA.npz holds `train` and `test` float32 [rows, dim], already preprocessed exactly as the
jumpsae side sees them. Prints one JSON line per (method, k): held-out R² (the seed's
r2_score), mean L0, dead fraction (codes that never fire on the held-out set), training
seconds per row, and with --features the fraction of true features recovered (best cosine
>= 0.9 with an atom).
"""
import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "seed"))
import import_overcomplete as oc  # noqa: E402


def r2(x, x_hat):
    return float(oc.metrics.r2_score(torch.from_numpy(x), torch.from_numpy(x_hat)))


def recovered(features, dictionary):
    if features is None:
        return None
    d = dictionary / np.maximum(np.linalg.norm(dictionary, axis=1, keepdims=True), 1e-12)
    best = (features @ d.T).max(axis=1)
    return float((best >= 0.9).mean())


def result(method, k, x, x_hat, codes, seconds, rows, features, dictionary):
    nz = codes != 0
    return {
        "method": method, "k": k, "r2": r2(x, x_hat), "l0": float(nz.sum(1).mean()),
        "dead": float((~nz.any(0)).mean()), "usPerRow": 1e6 * seconds / rows,
        "recovered": recovered(features, dictionary),
    }


def train_topk(cls, train, test, k, args, features, encoder=None):
    torch.manual_seed(args.seed)
    dim = train.shape[1]
    sae = cls(dim, args.concepts, top_k=k, encoder_module=encoder)
    steps = args.epochs * (len(train) // args.batch_size)
    optimizer = torch.optim.Adam(sae.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, args.lr / 10)
    x = torch.from_numpy(train)
    g = torch.Generator().manual_seed(args.seed)

    def loader():
        perm = torch.randperm(len(x), generator=g)
        for i in range(len(x) // args.batch_size):
            yield x[perm[i * args.batch_size:(i + 1) * args.batch_size]]

    class Epochs:  # train_sae iterates the loader once per epoch
        def __iter__(self):
            return loader()

    t0 = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        oc.train_sae(sae, Epochs(), _mse, optimizer, scheduler,
                     nb_epochs=args.epochs)
    seconds = time.time() - t0
    sae.eval()
    with torch.no_grad():
        _, z, x_hat = sae(torch.from_numpy(test))
    name = cls.__name__ + (f" ({encoder})" if encoder else "")
    return result(name, k, test, x_hat.numpy(), z.numpy(), seconds,
                  steps * args.batch_size, features, sae.get_dictionary().detach().numpy())


def _mse(x, x_hat, pre_codes, codes, dictionary):
    return (x - x_hat).square().mean()


def pca(train, test, k, features):
    t0 = time.time()
    mean = train.mean(0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:k]
    seconds = time.time() - t0
    codes = (test - mean) @ basis.T
    return result("PCA", k, test, codes @ basis + mean, codes, seconds, len(train), features,
                  basis)


def omp(train, test, k, args, features):
    from sklearn.decomposition import MiniBatchDictionaryLearning, SparseCoder
    t0 = time.time()
    dl = MiniBatchDictionaryLearning(n_components=args.concepts, batch_size=args.batch_size,
                                     max_iter=args.epochs, transform_algorithm="omp",
                                     transform_n_nonzero_coefs=k, random_state=args.seed,
                                     fit_algorithm="cd")
    dl.fit(train)
    seconds = time.time() - t0
    coder = SparseCoder(dl.components_, transform_algorithm="omp", transform_n_nonzero_coefs=k)
    codes = coder.transform(test)
    return result("MiniBatchDictionaryLearning+OMP", k, test, codes @ dl.components_, codes,
                  seconds, len(train) * args.epochs, features, dl.components_)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--k", type=int, nargs="+", default=[8, 16])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--concepts", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="topk,batchtopk,pca,omp")
    p.add_argument("--features", default=None)
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    d = np.load(args.data)
    train, test = d["train"].astype(np.float32), d["test"].astype(np.float32)
    features = None
    if args.features:
        f = np.load(args.features)
        features = f[f.files[0]] if hasattr(f, "files") else f
    methods = args.methods.split(",")
    for k in args.k:
        if "topk" in methods:
            print(json.dumps(train_topk(oc.TopKSAE, train, test, k, args, features)), flush=True)
        if "topk_bn" in methods:
            print(json.dumps(train_topk(oc.TopKSAE, train, test, k, args, features, "mlp_bn_1")),
                  flush=True)
        if "batchtopk" in methods:
            print(json.dumps(train_topk(oc.BatchTopKSAE, train, test, k, args, features)),
                  flush=True)
        if "pca" in methods:
            print(json.dumps(pca(train, test, k, features)), flush=True)
        if "omp" in methods:
            try:
                print(json.dumps(omp(train, test, k, args, features)), flush=True)
            except ImportError:
                print(json.dumps({"method": "MiniBatchDictionaryLearning+OMP", "k": k,
                                  "skipped": "scikit-learn is not installed"}), flush=True)


if __name__ == "__main__":
    main()
