"""A PyTorch streaming top-k encode: bench/pipeline.ts's peer for `jumpsae encode --top-k`.

    /usr/bin/python3 bench/pipeline_torch_encode.py MODEL.safetensors ACTS.npy OUT_DIR --top-k 32

What a PyTorch user writes: the checkpoint's weights (a jumpsae checkpoint holds the seed's state
dict keys) in Linear + BatchNorm1d (eval) + JumpReLU, chunks of a memmap, torch.topk, values and
indices appended to two files. Prints one JSON line (the encode loop's time, without imports).
"""

import argparse
import json
import os
import struct
import time

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        out[key] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtype).reshape(info["shape"]).copy())
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("acts")
    p.add_argument("out")
    p.add_argument("--top-k", type=int, default=32)
    p.add_argument("--chunk-rows", type=int, default=8192)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    sd = load_safetensors(a.model)
    w = sd["encoder.final_block.0.weight"]
    C, D = w.shape
    linear = torch.nn.Linear(D, C)
    bn = torch.nn.BatchNorm1d(C)
    linear.load_state_dict({"weight": w, "bias": sd["encoder.final_block.0.bias"]})
    bn.load_state_dict({k: sd[f"encoder.final_block.1.{k}"] for k in
                        ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]})
    bn.eval()
    theta = torch.exp(sd["thresholds"])
    acts = np.load(a.acts, mmap_mode="r")
    start = time.perf_counter()
    with torch.inference_mode(), open(os.path.join(a.out, "values.bin"), "wb") as fv, \
            open(os.path.join(a.out, "indices.bin"), "wb") as fi:
        for s in range(0, len(acts), a.chunk_rows):
            x = torch.from_numpy(np.ascontiguousarray(acts[s:s + a.chunk_rows]))
            pre = bn(linear(x))
            r = torch.relu(pre)
            codes = r * (r >= theta)
            values, indices = torch.topk(codes, a.top_k, dim=1)
            fv.write(values.numpy().tobytes())
            fi.write(indices.to(torch.int32).numpy().tobytes())
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": len(acts), "seconds": seconds, "rows_per_s": len(acts) / seconds}))


if __name__ == "__main__":
    main()
