"""Shared by the fixture generators: the seed library's import and a plain safetensors writer/reader.

`seed()` imports the seed library (overcomplete) through ../shared/seed/import_overcomplete.py
(or the folder named by $OVERCOMPLETE_SEED): every fixture of the seed's behaviour comes from its
own code. The `safetensors` package is not installed here, so the format is written by hand.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SEED_DIR = os.environ.get("OVERCOMPLETE_SEED", os.path.join(REPO, "..", "shared", "seed"))


def seed():
    """The seed library's modules (`import_overcomplete`): JumpSAE, losses, metrics, ..."""
    if SEED_DIR not in sys.path:
        sys.path.insert(0, SEED_DIR)
    import import_overcomplete  # noqa: E402

    return import_overcomplete


def seed_version():
    with open(os.path.join(SEED_DIR, "overcomplete", "VERSION")) as f:
        return f.read().strip()


DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}
NP_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}


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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


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


def to_numpy(t):
    t = torch.as_tensor(t).detach().cpu()
    if t.dtype == torch.int64:
        return t.numpy().astype(np.int64)
    return t.numpy().astype(np.float32)
