"""Seed-style baseline for `lineside bench`: PIL + torch, one image at a time, the shipped network and weights.

The way the seed notebooks classify: PIL opens each JPEG, converts it to grey, resizes it to the model size
(LANCZOS), and the training network (train.py's CastingNet inside Deployed, eval mode, no_grad) scores it.
The weights are read from the shipped model.onnx itself (no python3-onnx needed: a minimal protobuf reader),
so the baseline runs the same trained network as the daemon. torch.onnx folded each batch norm into its
convolution at export; the folded weight goes into the conv and its bias into a batch norm left as identity
(mean 0, variance 1 - eps), so the network keeps train.py's layers and their cost.

Usage: /usr/bin/python3 training/seed_baseline.py --bundle models/casting-cnn --list FILES.txt \
           [--threads 1,2] [--warmup 20]
Prints one JSON line: per thread count the images/s and ms per image (preprocess, inference), and the scores.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import CastingNet, Deployed  # noqa: E402


def varint(buf, pos):
    result, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """(field number, wire type, value) of one protobuf message: ints for varints, bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            size, pos = varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield num, wire, value


def tensor(buf):
    """ONNX TensorProto (float32 only): name and numpy array."""
    dims, name, raw, floats = [], "", None, []
    for num, wire, value in fields(buf):
        if num == 1:
            if wire == 2:
                pos = 0
                while pos < len(value):
                    d, pos = varint(value, pos)
                    dims.append(d)
            else:
                dims.append(value)
        elif num == 2 and value != 1:
            raise ValueError(f"tensor data type {value} is not float32")
        elif num == 4:
            floats.extend(struct.unpack(f"<{len(value) // 4}f", value) if wire == 2 else struct.unpack("<f", value))
        elif num == 8:
            name = value.decode()
        elif num == 9:
            raw = value
    data = np.frombuffer(raw, dtype="<f4").copy() if raw is not None else np.array(floats, dtype=np.float32)
    return name, data.reshape(dims)


def read_onnx(path):
    """Initializers and constant tensors by name, and the nodes (op, inputs) in graph order."""
    with open(path, "rb") as f:
        model = f.read()
    graph = next(v for n, _, v in fields(model) if n == 7)
    tensors, nodes = {}, []
    for num, _, value in fields(graph):
        if num == 5:
            name, arr = tensor(value)
            tensors[name] = arr
        elif num == 1:
            inputs, outputs, op = [], [], ""
            for n, _, v in fields(value):
                if n == 1:
                    inputs.append(v.decode())
                elif n == 2:
                    outputs.append(v.decode())
                elif n == 4:
                    op = v.decode()
                elif n == 5 and op == "Constant":
                    t = next((tensor(tv) for an, _, tv in fields(v) if an == 5), None)
                    if t is not None:
                        tensors[outputs[0]] = t[1]
            nodes.append((op, inputs, outputs))
    return tensors, nodes


def load_network(bundle):
    meta = json.load(open(os.path.join(bundle, "model.json")))
    tensors, nodes = read_onnx(os.path.join(bundle, meta["onnx"]["file"]))
    convs = [n for n in nodes if n[0] == "Conv"]
    gemm = next(n for n in nodes if n[0] in ("Gemm", "MatMul"))
    widths = [int(tensors[c[1][1]].shape[0]) for c in convs]
    net = CastingNet(widths, strides=meta_strides(meta, len(widths)))
    with torch.no_grad():
        for block, (_, inputs, _) in zip(net.features, convs):
            conv, bn = block[0], block[1]
            conv.weight.copy_(torch.from_numpy(tensors[inputs[1]]))
            bias = tensors[inputs[2]] if len(inputs) > 2 else np.zeros(conv.out_channels, np.float32)
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(bias))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        net.head.weight.copy_(torch.from_numpy(tensors[gemm[1][1]]).reshape(net.head.weight.shape))
        net.head.bias.copy_(torch.from_numpy(tensors[gemm[1][2]]).reshape(net.head.bias.shape))
    norm = meta["normalisation"]
    deployed = Deployed([net], norm["mean"], norm["std"])
    scale = next((tensors[i] for op, ins, _ in nodes if op == "Mul" for i in ins if i in tensors), None)
    shift = next((tensors[i] for op, ins, _ in nodes if op == "Sub" for i in ins if i in tensors), None)
    with torch.no_grad():
        if scale is not None:
            deployed.scale.copy_(torch.tensor(float(scale.reshape(-1)[0])))
        if shift is not None:
            deployed.shift.copy_(torch.tensor(float(shift.reshape(-1)[0])))
    return deployed.eval(), meta["preprocess"]


def meta_strides(meta, count):
    summary = meta["architecture"]["summary"]
    marker = "strides ["
    if marker not in summary:
        return (2, 2, 2, 1, 2)[:count]
    inner = summary[summary.index(marker) + len(marker) :].split("]")[0]
    return tuple(int(s) for s in inner.split(","))


def run(model, spec, files, warmup):
    size = (spec["width"], spec["height"])
    pre_ms, inf_ms, scores = [], [], []
    for i, path in enumerate(files[:warmup] + files):
        t0 = time.perf_counter()
        img = Image.open(path).convert("L").resize(size, Image.LANCZOS)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32)).reshape(1, 1, size[1], size[0])
        t1 = time.perf_counter()
        with torch.no_grad():
            score = float(model(x).reshape(-1)[0])
        t2 = time.perf_counter()
        if i >= warmup:
            pre_ms.append((t1 - t0) * 1000)
            inf_ms.append((t2 - t1) * 1000)
            scores.append(score)
    return pre_ms, inf_ms, scores


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--list", required=True, help="file with one image path per line")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--warmup", type=int, default=20)
    args = p.parse_args()
    files = [line for line in open(args.list).read().splitlines() if line]
    model, spec = load_network(args.bundle)
    results = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        started = time.perf_counter()
        pre_ms, inf_ms, scores = run(model, spec, files, args.warmup)
        wall = time.perf_counter() - started
        results.append(
            {
                "threads": threads,
                "images": len(files),
                # Images/s over the measured images only: the warm-up share of the wall time is taken out.
                "pps": len(files) / (sum(pre_ms) / 1000 + sum(inf_ms) / 1000),
                "wall_s": wall,
                "preprocess_p50_ms": float(np.percentile(pre_ms, 50)),
                "inference_p50_ms": float(np.percentile(inf_ms, 50)),
                "scores": scores,
            }
        )
    print(json.dumps({"torch": torch.__version__, "pil": Image.__version__, "runs": results}))


if __name__ == "__main__":
    main()
