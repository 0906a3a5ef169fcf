"""Real data for the training examples and benchmarks: 8×8 grayscale patches of the natural
photographs that Debian's python3-skimage ships (no download).

Writes examples/data/patches.npz with `train` [40000, 64] and `test` [10000, 64] as uint8
pixels (the examples centre each patch and scale in TypeScript, see examples/_patches.ts).
Patches are drawn at random positions (seed 0) from every photo, in equal numbers per photo;
train and test rows come from disjoint halves of each photo (left / right), so held-out
scores measure generalisation to unseen image regions.

    /usr/bin/python3 scripts/make_patches.py
"""
import os

import numpy as np
from skimage import data
from skimage.color import rgb2gray

PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "coins", "moon", "grass", "gravel",
          "brick", "rocket", "hubble_deep_field", "immunohistochemistry"]
P = 8


def gray_u8(name):
    img = getattr(data, name)()
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    img = np.asarray(img, dtype=np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    return np.round(img * 255).astype(np.uint8)


def patches(img, n, rng, half):
    h, w = img.shape
    mid = w // 2
    lo, hi = (0, mid - P) if half == 0 else (mid, w - P)
    ys = rng.integers(0, h - P + 1, n)
    xs = rng.integers(lo, hi + 1, n)
    return np.stack([img[y:y + P, x:x + P].reshape(-1) for y, x in zip(ys, xs)])


def main():
    rng = np.random.default_rng(0)
    images = [gray_u8(n) for n in PHOTOS]
    per_train, per_test = 40000 // len(PHOTOS) + 1, 10000 // len(PHOTOS) + 1
    train = np.concatenate([patches(im, per_train, rng, 0) for im in images])
    test = np.concatenate([patches(im, per_test, rng, 1) for im in images])
    train = train[rng.permutation(len(train))[:40000]]
    test = test[rng.permutation(len(test))[:10000]]
    out = os.path.join(os.path.dirname(__file__), "..", "examples", "data", "patches.npz")
    np.savez_compressed(out, train=train, test=test)
    print(f"{out}: train {train.shape}, test {test.shape}, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
