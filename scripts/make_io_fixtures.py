#!/usr/bin/env python3
"""Makes the small .npy, .npz and .safetensors fixtures of tests/{npy,npz,safetensors}_test.ts.

Usage:
    python3 scripts/make_io_fixtures.py            # writes tests/fixtures/io/
    python3 scripts/make_io_fixtures.py verify DIR # checks files written by jumpsae (see below)

The safetensors file is written by a tiny writer with the exact Hugging Face layout (the
`safetensors` package is not needed): u64 little-endian header length, compact JSON header with
`__metadata__` first, padded with spaces to a multiple of 8, contiguous little-endian data.
`expected.json` holds, for every fixture tensor, its shape and its values as float32 numbers.

`verify DIR` opens DIR/out.npy (numpy.load), DIR/out.npz and DIR/out_compressed.npz
(numpy.load) and DIR/out.safetensors (a small reader built on torch.frombuffer), and compares
them with DIR/expected.json.
"""
import io
import json
import os
import struct
import sys
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "io")

ST_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
ST_TORCH = {v: k for k, v in ST_DTYPES.items()}


def st_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def save_safetensors(tensors, metadata, path):
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = st_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path):
    """A small reader, strict as the Hugging Face one, that builds torch tensors."""
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header not padded to 8"
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", None)
    out, pos = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        assert b == pos, f"{name}: offsets not contiguous"
        pos = e
        dtype = ST_TORCH[info["dtype"]]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        t = torch.frombuffer(bytearray(body[b:e]), dtype=dtype, count=count) if count else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    assert pos == len(body), "data not fully covered"
    return out, meta


def f32list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel(order="C")]


def make():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    base = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) * 0.375  # exact in float16
    npy = {
        "f4_le": base.astype("<f4"), "f4_be": base.astype(">f4"),
        "f2_le": base.astype("<f2"), "f2_be": base.astype(">f2"),
        "f8_le": base.astype("<f8"), "f8_be": base.astype(">f8"),
        "i4_le": (np.arange(12).reshape(3, 4) - 6).astype("<i4"),
        "i8_le": (np.arange(12).reshape(3, 4) * 1000003 - 2**40).astype("<i8"),
        "f4_fortran": np.asfortranarray(base.astype("<f4")),
        "f8_fortran_3d": np.asfortranarray(np.arange(24, dtype="<f8").reshape(2, 3, 4) / 8),
        "f4_scalar": np.array(2.5, dtype="<f4"),
        "f4_1d": np.arange(5, dtype="<f4") / 4,
    }
    for name, arr in npy.items():
        np.save(os.path.join(OUT, name + ".npy"), arr)
        expected["npy." + name] = {"shape": list(arr.shape), "data": f32list(arr)}
    for version in [(2, 0), (3, 0)]:
        name = f"f4_v{version[0]}"
        with open(os.path.join(OUT, name + ".npy"), "wb") as f:
            np.lib.format.write_array(f, base.astype("<f4"), version=version)
        expected["npy." + name] = {"shape": [3, 4], "data": f32list(base)}

    a = base.astype("<f4")
    b = np.arange(7, dtype="<f8") - 3
    np.savez(os.path.join(OUT, "savez.npz"), a=a, b=b)
    np.savez_compressed(os.path.join(OUT, "savez_compressed.npz"), a=a, b=b)
    np.savez(os.path.join(OUT, "savez_positional.npz"), a, np.float32(1.5))
    # A small archive with every ZIP64 structure (extra fields in the central directory, ZIP64
    # end record and locator), as Python writes for archives over 4 GiB: lower its limits.
    limits = (zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT)
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 10, 1
    try:
        np.savez(os.path.join(OUT, "zip64.npz"), a=a, b=b)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limits
    expected["npz.a"] = {"shape": [3, 4], "data": f32list(a)}
    expected["npz.b"] = {"shape": [7], "data": f32list(b)}

    torch.manual_seed(0)
    tensors = {
        "weight_f32": torch.tensor(base, dtype=torch.float32),
        "weight_f16": torch.tensor(base, dtype=torch.float16),
        "weight_bf16": torch.tensor([[1.0, -2.5, 3.140625], [0.0078125, -0.0, 65280.0]], dtype=torch.bfloat16),
        "num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "big_i64": torch.tensor([-(2**53), 2**53, 12345678901], dtype=torch.int64),
        "f64": torch.tensor([0.1, -1e300 * 0, 3.5], dtype=torch.float64),
        "i32": torch.tensor([[-2147483648, 2147483647]], dtype=torch.int32),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "flags": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 3),
    }
    save_safetensors(tensors, {"format": "pt", "note": "jumpsae fixture"}, os.path.join(OUT, "hf_mixed.safetensors"))
    for name, t in tensors.items():
        expected["st." + name] = {"shape": list(t.shape), "data": f32list(t.to(torch.float64).numpy())}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=0)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


def verify(directory):
    expected = json.load(open(os.path.join(directory, "expected.json")))

    def check(label, array, key):
        e = expected[key]
        array = np.asarray(array)
        assert list(array.shape) == e["shape"], f"{label}: shape {array.shape} != {e['shape']}"
        np.testing.assert_allclose(array.astype(np.float64).ravel(), np.array(e["data"]), rtol=1e-3, atol=0)
        print(f"ok {label} {array.dtype} {array.shape}")

    for key in expected:
        if key.startswith("npy."):
            check(key, np.load(os.path.join(directory, key[4:] + ".npy")), key)
    for file in ["out.npz", "out_compressed.npz"]:
        with zipfile.ZipFile(os.path.join(directory, file)) as z:
            assert z.testzip() is None, f"{file}: bad CRC"
        with np.load(os.path.join(directory, file)) as z:
            for name in z.files:
                check(f"{file}:{name}", z[name], "npz." + name)
    tensors, meta = load_safetensors(os.path.join(directory, "out.safetensors"))
    print("metadata", meta)
    for name, t in tensors.items():
        check(f"safetensors:{name} ({t.dtype})", t.to(torch.float64).numpy(), "st." + name)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "verify":
        verify(sys.argv[2])
    else:
        make()
