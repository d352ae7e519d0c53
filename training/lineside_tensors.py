"""Reader for the tensor file written by `lineside export-tensors` (layout documented in src/cli/export-tensors.ts)."""
import json
import struct

import numpy as np

MAGIC = b"LSTENS01"


def read_tensor_file(path):
    """Return (header dict, labels uint8[N], pixels uint8[N, H, W]) exactly as the daemon's preprocessing made them."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: not a lineside tensor file (bad magic)")
    (header_len,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12 : 12 + header_len].decode("utf-8"))
    if header.get("format") != "lineside-tensors/1" or header.get("channels") != 1 or header.get("dtype") != "uint8":
        raise ValueError(f"{path}: unsupported tensor file header {header!r}")
    n, h, w = header["count"], header["height"], header["width"]
    if header["labels_offset"] != 12 + header_len or header["pixels_offset"] != header["labels_offset"] + n:
        raise ValueError(f"{path}: offsets do not follow the header")
    if len(data) != header["pixels_offset"] + n * h * w:
        raise ValueError(f"{path}: {len(data)} bytes, header implies {header['pixels_offset'] + n * h * w}")
    labels = np.frombuffer(data, dtype=np.uint8, count=n, offset=header["labels_offset"])
    pixels = np.frombuffer(data, dtype=np.uint8, count=n * h * w, offset=header["pixels_offset"]).reshape(n, h, w)
    return header, labels, pixels


def read_file_list(path):
    """The `<tensor file>.files.tsv` beside it: list of (index, label, relative path)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            index, label, rel = line.rstrip("\n").split("\t")
            rows.append((int(index), int(label), rel))
    return rows


if __name__ == "__main__":
    # `python3 training/lineside_tensors.py FILE [INDEX]`: print the header, or one image's pixels as hex (tests use it).
    import sys

    hdr, lab, pix = read_tensor_file(sys.argv[1])
    if len(sys.argv) > 2:
        i = int(sys.argv[2])
        sys.stdout.write(json.dumps({"label": int(lab[i]), "pixels_hex": pix[i].tobytes().hex()}) + "\n")
    else:
        sys.stdout.write(json.dumps({"header": hdr, "defective": int(lab.sum())}) + "\n")
