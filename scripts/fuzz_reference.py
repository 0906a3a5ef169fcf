"""numpy's reading of fuzzed .npy and .npz files, the reference of the fuzz suite.

Usage: python3 scripts/fuzz_reference.py DIR
Reads every DIR/<index>.npy and DIR/<index>.npz and prints one JSON object: index -> either
{"ok": true, "arrays": {name: [shape, sha256]}} (the float32 values, NaN made 0x7fc00000, as
tests/_fuzz.ts digest() hashes ours) or {"ok": false, "error": "..."} when numpy refuses the
file (or gives something that is not numeric arrays, e.g. raw bytes of a non-.npy member);
each result also has "bytes", the SHA-256 of the case file, so a stale reference is noticed.
"""

import hashlib
import json
import os
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")


def digest(array):
    if array.dtype.kind not in "fiub":
        raise TypeError(f"dtype {array.dtype} is not numeric")
    values = np.ascontiguousarray(array).astype("<f4")
    bits = values.view("<u4").copy()
    bits[np.isnan(values)] = 0x7FC00000
    return [list(array.shape), hashlib.sha256(bits.tobytes()).hexdigest()]


def read(path):
    if path.endswith(".npy"):
        return {"": digest(np.load(path, allow_pickle=False))}
    out = {}
    with np.load(path, allow_pickle=False) as archive:
        if len(set(archive.files)) != len(archive.files):
            raise ValueError("duplicate names")
        for name in archive.files:
            value = archive[name]
            if not isinstance(value, np.ndarray):
                raise TypeError(f"member {name} is not an array")
            out[name] = digest(value)
    return out


def main():
    folder = sys.argv[1]
    results = {}
    for entry in sorted(os.listdir(folder)):
        index, _ = os.path.splitext(entry)
        path = os.path.join(folder, entry)
        try:
            results[index] = {"ok": True, "arrays": read(path)}
        except Exception as error:  # noqa: BLE001 - any refusal is a refusal
            results[index] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:200]}
        with open(path, "rb") as f:
            results[index]["bytes"] = hashlib.sha256(f.read()).hexdigest()
    json.dump(results, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
