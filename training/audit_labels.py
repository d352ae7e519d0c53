"""Label audit: find pairs of near-identical images that carry opposite labels.

The casting dataset holds several photographs of the same casting (shifted, turned or flipped). When two of them
are labelled differently, no model can be right on both, and a validation image whose twin in the training split
carries the other label is scored against the label the model was taught the other way. This lists such pairs so a
quality engineer can look at them and relabel.

Similarity: the images (from `lineside export-tensors`, i.e. the daemon's own preprocessing) are average-pooled to
--size x --size, centred and scaled to unit length; the similarity of two images is the largest normalised
correlation over the 8 flips/quarter turns of one of them (1.0 = identical up to brightness and contrast).

Usage (from the project root):
    /usr/bin/python3 training/audit_labels.py --tensors training/cache/casting-128x128.lstens --out training/out/label-audit.tsv

The split columns use the same stratified split as train.py (--seed, --val-fraction).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lineside_tensors import read_file_list, read_tensor_file  # noqa: E402
from train import stratified_split  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tensors", required=True, help="tensor file from `lineside export-tensors`")
    p.add_argument("--out", required=True, help="TSV of opposite-label pairs to write")
    p.add_argument("--min-similarity", type=float, default=0.99, help="pairs at or above this similarity are listed")
    p.add_argument("--size", type=int, default=64, help="compare at this size (average pooling)")
    p.add_argument("--seed", type=int, default=20261123, help="split seed (as train.py)")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--chunk", type=int, default=512)
    return p.parse_args()


def unit_vectors(images):
    v = images.reshape(images.shape[0], -1)
    v = v - v.mean(1, keepdim=True)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-6)


def nearest(pixels, size, chunk):
    """For every image: the similarity to every other image (max over the 8 views), row by row in chunks.
    Yields (start, similarity matrix rows [chunk, N]) with the diagonal set to -1."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32)).unsqueeze(1)
    x = torch.nn.functional.adaptive_avg_pool2d(x, size).squeeze(1)
    base_t = unit_vectors(x).T.contiguous()  # contiguous: twice as fast a matrix product with Debian's torch
    n = x.shape[0]
    for start in range(0, n, chunk):
        q = x[start : start + chunk]
        best = torch.full((q.shape[0], n), -1.0)
        for k in range(8):
            v = torch.flip(q, dims=[2]) if k & 4 else q
            v = torch.rot90(v, k & 3, dims=[1, 2])
            torch.maximum(best, unit_vectors(v.contiguous()) @ base_t, out=best)
        rows = torch.arange(q.shape[0])
        best[rows, rows + start] = -1.0
        yield start, best


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    _header, labels_u8, pixels = read_tensor_file(args.tensors)
    files = [rel for _i, _l, rel in read_file_list(args.tensors + ".files.tsv")]
    labels = labels_u8.astype(np.int64)
    _train, val = stratified_split(labels, args.val_fraction, args.seed)
    side = np.array(["train"] * len(labels), dtype=object)
    side[val] = "val"
    lab = torch.from_numpy(labels)
    pairs = []
    for start, sim in nearest(pixels, args.size, args.chunk):
        opposite = lab[start : start + sim.shape[0]].unsqueeze(1) != lab.unsqueeze(0)
        sim = torch.where(opposite, sim, torch.full_like(sim, -1.0))
        qi, ji = torch.nonzero(sim >= args.min_similarity, as_tuple=True)
        for a, b in zip((qi + start).tolist(), ji.tolist()):
            if a < b:
                pairs.append((float(sim[a - start, b]), a, b))
    pairs.sort(reverse=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("similarity\tdefective\tdefective_split\tok\tok_split\n")
        for s, a, b in pairs:
            d, o = (a, b) if labels[a] == 1 else (b, a)
            f.write(f"{s:.4f}\t{files[d]}\t{side[d]}\t{files[o]}\t{side[o]}\n")
    involved = {i for _s, a, b in pairs for i in (a, b)}
    print(
        f"{len(pairs)} opposite-label pairs at similarity >= {args.min_similarity} ({len(involved)} images, "
        f"{sum(1 for i in involved if side[i] == 'val')} of them in the validation split) -> {args.out}",
        flush=True,
    )


if __name__ == "__main__":
    main()
