"""Train the casting inspection CNN on tensors made by `lineside export-tensors` and write the model bundle.

CPU only, fixed seeds. Usage: see training/README.md (normally run through training/train.sh).
"""
import argparse
import copy
import datetime
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lineside_tensors import read_file_list, read_tensor_file  # noqa: E402
from probes import write_probes  # noqa: E402

INPUT_NAME = "image"
OUTPUT_NAME = "defect_probability"
CAM_OUTPUT = "class_activation"
OPSET = 17


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tensors", required=True, help="tensor file from `lineside export-tensors`")
    p.add_argument("--out", required=True, help="bundle directory to write (model.onnx, model.json, validation-split.tsv)")
    p.add_argument("--work", default="training/out", help="checkpoints and logs")
    p.add_argument("--seed", type=int, default=20261123, help="split, init and augmentation seed")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=26)
    p.add_argument("--patience", type=int, default=8, help="epochs without a better validation loss before stopping")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--max-minutes", type=float, default=45.0, help="hard cap on training wall time")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--widths", default="16,32,64,64,128", help="output channels of the conv blocks")
    p.add_argument("--strides", default="2,2,2,1,2", help="stride of each conv block (one per width)")
    p.add_argument(
        "--pool",
        choices=["avg", "avgmax"],
        default="avg",
        help="head pooling: global average, or global average and global max concatenated (keeps a small local defect "
        "from being diluted by the rest of the casting)",
    )
    p.add_argument(
        "--rotate-degrees",
        type=float,
        default=0.0,
        help="extra random rotation of up to +/- this many degrees (bilinear, border padding) after the dihedral view",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="keep an exponential moving average of the weights (and batch-norm statistics) with this decay per step "
        "(e.g. 0.998); validation, selection and export then use the averaged weights. 0: off",
    )
    p.add_argument(
        "--select",
        choices=["loss", "zero-escape"],
        default="loss",
        help="which epoch to keep: lowest validation loss, or fewest false rejects at the zero-escape threshold "
        "(ties: lower validation loss)",
    )
    p.add_argument("--pos-weight", type=float, default=1.0, help="weight of the defective class in the loss")
    p.add_argument(
        "--shift",
        type=int,
        default=0,
        help="random translation of up to +/- this many pixels in x and y (edge pixels repeated), after the dihedral "
        "view: the castings are not centred the same way in every photograph. 0: off",
    )
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--command", default=" ".join(sys.argv), help="recorded in model.json")
    p.add_argument("--export-only-untrained", action="store_true", help="export an untrained net (latency checks)")
    p.add_argument(
        "--members",
        nargs="+",
        metavar="WORK_DIR",
        help="do not train: ship the mean probability of finished runs (each WORK_DIR holds best.pt and run.json "
        "from a run with the same --tensors, --seed and --val-fraction)",
    )
    return p.parse_args()


def conv_bn_relu(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CastingNet(nn.Module):
    """Strided 3x3 conv-bn-relu blocks (each halves the size except the 4th), global pooling (average, or average and max), one logit."""

    def __init__(self, widths, pool="avg", strides=(2, 2, 2, 1, 2)):
        super().__init__()
        self.pool_kind = pool
        self.strides = list(strides)
        if len(self.strides) != len(widths):
            raise SystemExit(f"--strides needs one stride per width ({len(widths)}), got {self.strides}")
        layers, cin = [], 1
        for cout, stride in zip(widths, strides):
            layers.append(conv_bn_relu(cin, cout, stride))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.maxpool = nn.AdaptiveMaxPool2d(1) if pool == "avgmax" else None
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(cin * (2 if pool == "avgmax" else 1), 1)

    def forward(self, x):
        return self.classify(self.features(x))

    def classify(self, f):
        pooled = torch.flatten(self.pool(f), 1)
        if self.maxpool is not None:
            pooled = torch.cat([pooled, torch.flatten(self.maxpool(f), 1)], 1)
        return self.head(self.dropout(pooled))

    def cam(self, f, size):
        """Class-activation map: the head's weights (of the average-pooled half, with avgmax) times the last block's
        feature maps, summed over channels; negative evidence cut to 0; bilinearly upsampled to `size`. No bias: it
        shifts every location equally."""
        channels = f.shape[1]
        weight = self.head.weight[:, :channels].reshape(1, channels, 1, 1)
        cam = torch.relu(nn.functional.conv2d(f, weight))
        return nn.functional.interpolate(cam, size=size, mode="bilinear", align_corners=False)


class Deployed(nn.Module):
    """What ships: float32 pixels 0..255 in, defect probability out; normalisation and sigmoid live in the graph.
    With several members the probability is their mean (an ensemble of independently trained nets)."""

    def __init__(self, nets, mean, std):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        # Set by export_onnx: the graph then also outputs the class-activation map at this (height, width).
        self.cam_size = None
        self.register_buffer("scale", torch.tensor(1.0 / (255.0 * std), dtype=torch.float32))
        self.register_buffer("shift", torch.tensor(mean / std, dtype=torch.float32))

    def forward(self, image):
        x = image * self.scale - self.shift
        features = [net.features(x) for net in self.nets]
        probs = [torch.sigmoid(net.classify(f)) for net, f in zip(self.nets, features)]
        prob = probs[0] if len(probs) == 1 else torch.stack(probs, 0).mean(0)
        if self.cam_size is None:
            return prob
        cams = [net.cam(f, self.cam_size) for net, f in zip(self.nets, features)]
        return prob, (cams[0] if len(cams) == 1 else torch.stack(cams, 0).mean(0))


def count_macs(model, size):
    macs = 0

    def hook(mod, _inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            macs += out.numel() * k
        elif isinstance(mod, nn.Linear):
            macs += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, size[0], size[1]))
    for h in handles:
        h.remove()
    return macs


def stratified_split(labels, fraction, seed):
    rng = np.random.default_rng(seed)
    val = []
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        val.extend(idx[: int(round(fraction * len(idx)))].tolist())
    val = np.array(sorted(val))
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def augment(batch, gen, rotate_degrees=0.0, shift=0):
    """Castings are round and photographed from the top: the 8 flips/quarter-turns are all real views.
    A mild brightness/contrast jitter covers lighting drift; values stay in 0..255 like real input."""
    out = torch.empty_like(batch)
    ops = torch.randint(0, 8, (batch.shape[0],), generator=gen)
    for i in range(batch.shape[0]):
        x = batch[i]
        k = int(ops[i])
        if k & 4:
            x = torch.flip(x, dims=[2])
        out[i] = torch.rot90(x, k & 3, dims=[1, 2])
    n = batch.shape[0]
    if shift > 0:
        h, w = out.shape[2], out.shape[3]
        padded = nn.functional.pad(out, (shift, shift, shift, shift), mode="replicate")
        offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=gen)
        for i in range(n):
            dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
            out[i] = padded[i, :, dy : dy + h, dx : dx + w]
    if rotate_degrees > 0:
        # A round casting seen from the top at any angle is still a real view; the dihedral ops only give 90 degree steps.
        angle = (torch.rand(n, generator=gen) * 2.0 - 1.0) * math.radians(rotate_degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(angle)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = nn.functional.affine_grid(theta, list(out.shape), align_corners=False)
        out = nn.functional.grid_sample(out, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = 1.0 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.2
    brightness = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 20.0
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean + brightness).clamp_(0.0, 255.0)


class EmaWeights:
    """Exponential moving average of a net's parameters and batch-norm statistics, updated after each step."""

    def __init__(self, net, decay):
        self.decay = decay
        self.model = copy.deepcopy(net).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net):
        for avg, cur in zip(self.model.state_dict().values(), net.state_dict().values()):
            if avg.dtype.is_floating_point:
                avg.mul_(self.decay).add_(cur, alpha=1.0 - self.decay)
            else:
                avg.copy_(cur)


def predict(model, pixels, idx, batch=256):
    model.eval()
    scores = []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            x = torch.from_numpy(pixels[idx[s : s + batch]]).float().unsqueeze(1)
            scores.append(model(x).squeeze(1))
    return torch.cat(scores).numpy().astype(np.float64)


def roc_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    # Average ranks over ties so equal scores count half.
    allv = np.concatenate([pos, neg])
    for v in np.unique(allv):
        m = allv == v
        if m.sum() > 1:
            ranks[m] = ranks[m].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def choose_threshold(probs, labels):
    """Zero escapes first, then best accuracy; inside the interval that achieves both, take the midpoint in
    logit space so validation noise has equal room on either side."""
    min_def = float(probs[labels == 1].min())
    ok_below = probs[(labels == 0) & (probs < min_def)]
    lower = float(ok_below.max()) if len(ok_below) else 0.0
    logit = lambda p: math.log(max(p, 1e-12) / max(1 - p, 1e-12))  # noqa: E731
    lo, hi = logit(max(lower, 1e-7)), logit(min(min_def, 1 - 1e-7))
    t = 1.0 / (1.0 + math.exp(-(lo + hi) / 2.0))
    # Rounding keeps the threshold readable; ensure it still sits strictly inside (lower, min_def].
    for digits in range(3, 10):
        r = round(t, digits)
        if lower < r <= min_def and 0.0 < r < 1.0:
            return r, min_def, lower
    return t, min_def, lower


def confusion(probs, labels, threshold):
    pred = probs >= threshold
    return {
        "true_defective": int(((labels == 1) & pred).sum()),
        "escapes": int(((labels == 1) & ~pred).sum()),
        "false_rejects": int(((labels == 0) & pred).sum()),
        "true_ok": int(((labels == 0) & ~pred).sum()),
    }


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def export_onnx(deployed, size, path):
    """The verdict output, and the class-activation map the operator's upload page shows (issue 11)."""
    deployed.eval()
    dummy = torch.zeros(1, 1, size[0], size[1])
    deployed.cam_size = (int(size[0]), int(size[1]))
    try:
        torch.onnx.export(
            deployed,
            dummy,
            path,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME, CAM_OUTPUT],
            opset_version=OPSET,
            do_constant_folding=True,
        )
    finally:
        deployed.cam_size = None
    import onnx

    onnx.checker.check_model(onnx.load(path))


def main():
    args = parse_args()
    t_start = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    widths = [int(w) for w in args.widths.split(",")]

    header, labels_u8, pixels = read_tensor_file(args.tensors)
    files = read_file_list(args.tensors + ".files.tsv")
    labels = labels_u8.astype(np.int64)
    size = (header["height"], header["width"])
    spec = header["preprocess"]

    train_idx, val_idx = stratified_split(labels, args.val_fraction, args.seed)
    assert not set(train_idx.tolist()) & set(val_idx.tolist())
    mean = float(pixels[train_idx].mean()) / 255.0
    std = float(pixels[train_idx].std()) / 255.0
    print(f"images {len(labels)}: train {len(train_idx)}, val {len(val_idx)}; mean {mean:.4f} std {std:.4f}", flush=True)

    x_val = pixels[val_idx]
    y_val = labels[val_idx]
    if args.members:
        runs, nets = [], []
        for work in args.members:
            with open(os.path.join(work, "run.json"), encoding="utf-8") as f:
                run = json.load(f)
            if run["seed"] != args.seed or run["val_fraction"] != args.val_fraction or run["tensors"] != args.tensors:
                raise SystemExit(f"{work}: trained with another split or tensors; its validation images would leak")
            net = CastingNet(run["widths"], run.get("pool", "avg"), run.get("strides", [2, 2, 2, 1, 2]))
            net.load_state_dict(torch.load(os.path.join(work, "best.pt")))
            runs.append(run)
            nets.append(net)
    else:
        net = CastingNet(widths, args.pool, [int(v) for v in args.strides.split(",")])
        if args.export_only_untrained:
            export_onnx(Deployed([net], mean, std), size, os.path.join(args.work, "untrained.onnx"))
            print("exported untrained model", flush=True)
            return
        runs = [train_run(args, net, pixels, labels, train_idx, x_val, y_val, mean, std, t_start)]
        nets = [net]
    deployed = Deployed(nets, mean, std)
    params = sum(p.numel() for p in deployed.parameters())
    macs = sum(count_macs(n, size) for n in nets)
    finalize(args, deployed, runs, params, macs, header, files, train_idx, val_idx, x_val, y_val, mean, std, size, spec)


def train_run(args, net, pixels, labels, train_idx, x_val, y_val, mean, std, t_start):
    """Train one net in place (leaving its best epoch loaded) and record the run in WORK/run.json."""
    widths = [m[0].out_channels for m in net.features]
    print(f"parameters {sum(p.numel() for p in net.parameters())}", flush=True)
    x_train = torch.from_numpy(pixels[train_idx]).unsqueeze(1)
    y_train = torch.from_numpy(labels[train_idx]).float()
    steps_per_epoch = math.ceil(len(train_idx) / args.batch)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.1
    )
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(args.pos_weight))
    gen = torch.Generator().manual_seed(args.seed)
    ema = EmaWeights(net, args.ema) if args.ema > 0 else None
    evaluated = Deployed([ema.model if ema else net], mean, std)
    best = {"loss": float("inf"), "epoch": 0, "false_rejects": float("inf")}
    best_path = os.path.join(args.work, "best.pt")
    epochs_run = 0
    deadline = t_start + args.max_minutes * 60
    norm = lambda x: (x / 255.0 - mean) / std  # noqa: E731

    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        net.train()
        perm = torch.randperm(len(train_idx), generator=gen)
        total = 0.0
        for s in range(0, len(perm), args.batch):
            b = perm[s : s + args.batch]
            x = augment(x_train[b].float(), gen, args.rotate_degrees, args.shift)
            logits = net(norm(x)).squeeze(1)
            loss = loss_fn(logits, y_train[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema:
                ema.update(net)
            total += float(loss) * len(b)
        epochs_run = epoch
        probs = predict(evaluated, x_val, np.arange(len(x_val)))
        p = np.clip(probs, 1e-7, 1 - 1e-7)
        val_loss = float(-(y_val * np.log(p) + (1 - y_val) * np.log(1 - p)).mean())
        acc = float(((probs >= 0.5) == (y_val == 1)).mean())
        # False rejects at the zero-escape threshold: ok castings scoring at or above the weakest defective.
        fr = int(((y_val == 0) & (probs >= probs[y_val == 1].min())).sum())
        if args.select == "loss":
            better = val_loss < best["loss"]
        else:
            better = (fr, val_loss) < (best["false_rejects"], best["loss"])
        if better:
            best = {"loss": val_loss, "epoch": epoch, "acc": acc, "false_rejects": fr}
            torch.save((ema.model if ema else net).state_dict(), best_path)
        print(
            f"epoch {epoch:2d} train_loss {total / len(train_idx):.4f} val_loss {val_loss:.4f} val_acc@0.5 {acc:.4f} "
            f"fr@zero-escape {fr} lr {sched.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s{' *' if better else ''}",
            flush=True,
        )
        if epoch - best["epoch"] >= args.patience:
            print(f"early stop: no better epoch ({args.select}) for {args.patience} epochs", flush=True)
            break
        if time.time() > deadline:
            print(f"time cap of {args.max_minutes} min reached", flush=True)
            break
    net.load_state_dict(torch.load(best_path))
    run = {
        "widths": widths,
        "pool": net.pool_kind,
        "strides": net.strides,
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "tensors": args.tensors,
        "epochs_run": epochs_run,
        "best_epoch": best["epoch"],
        "best_val_loss": best["loss"],
        "best_false_rejects": best["false_rejects"],
        "wall_time_s": round(time.time() - t_start, 1),
        "recipe": recipe(args),
    }
    with open(os.path.join(args.work, "run.json"), "w", encoding="utf-8") as f:
        json.dump(run, f, indent=2)
    return run


def recipe(args):
    selection = (
        "validation loss"
        if args.select == "loss"
        else "fewest validation false rejects at the zero-escape threshold, ties by validation loss"
    )
    return (
        f"AdamW lr {args.lr} (one-cycle, 10% warm-up) weight decay {args.weight_decay}, batch {args.batch}, "
        + (f"BCE on one logit (defective weight {args.pos_weight:g}), " if args.pos_weight != 1 else "BCE on one logit, ")
        + (f"weights averaged (EMA, decay {args.ema:g} per step), " if args.ema > 0 else "")
        + f"up to {args.epochs} epochs, early stopping on {selection} (patience {args.patience}), "
        "augmentation: random flip + quarter turn (8 dihedral views)"
        + (f", translation +/-{args.shift} px (edges repeated)" if args.shift > 0 else "")
        + (f", rotation +/-{args.rotate_degrees:g} degrees" if args.rotate_degrees > 0 else "")
        + ", brightness +/-10, contrast +/-10%; "
        f"seed {args.seed}"
    )


def summary(widths, pool="avg", strides=(2, 2, 2, 1, 2)):
    strides = list(strides)
    return (
        f"{len(widths)} x [conv3x3 (no bias) - batchnorm - relu], channels {widths}, strides {strides[: len(widths)]}; "
        + ("global average pooling" if pool == "avg" else "global average and global max pooling, concatenated")
        + "; dropout 0.2 (training only); linear to 1 logit; sigmoid"
    )


def finalize(args, deployed, runs, params, macs, header, files, train_idx, val_idx, x_val, y_val, mean, std, size, spec):
    probs = predict(deployed, x_val, np.arange(len(val_idx)))
    threshold, min_def, max_ok_below = choose_threshold(probs, y_val)
    cm = confusion(probs, y_val, threshold)
    accuracy = (cm["true_defective"] + cm["true_ok"]) / len(y_val)
    print(f"threshold {threshold}; confusion {cm}; accuracy {accuracy:.5f}", flush=True)

    onnx_path = os.path.join(args.out, "model.onnx")
    export_onnx(deployed, size, onnx_path)
    np.save(os.path.join(args.work, "val_probs.npy"), probs)

    with open(os.path.join(args.out, "validation-split.tsv"), "w", encoding="utf-8") as f:
        f.write("label\tpath\n")
        for i in val_idx:
            f.write(f"{files[i][1]}\t{files[i][2]}\n")

    meta = {
        "schema_version": 1,
        "name": "casting-cnn",
        "version": args.version,
        "created": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "description": "Top-view cast impeller inspection: probability that the casting is defective.",
        "onnx": {
            "file": "model.onnx",
            "sha256": sha256_file(onnx_path),
            "bytes": os.path.getsize(onnx_path),
            "opset": OPSET,
        },
        "input": {
            "name": INPUT_NAME,
            "layout": "NCHW",
            "shape": [1, 1, size[0], size[1]],
            "dtype": "float32",
            "value_range": [0, 255],
        },
        "preprocess": spec,
        "normalisation": {
            "in_graph": True,
            "formula": "(x / 255 - mean) / std, computed in the graph as x * (1 / (255 * std)) - mean / std",
            "mean": round(mean, 6),
            "std": round(std, 6),
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": [1, 1],
            "dtype": "float32",
            "meaning": "Probability in [0, 1] that the casting is defective (sigmoid applied inside the graph).",
        },
        "cam": {
            "output": CAM_OUTPUT,
            "shape": [1, 1, size[0], size[1]],
            "meaning": (
                "Class-activation map: sum over the last conv block's channels of the classifier weight times the feature "
                "map, negative values cut to 0, bilinearly upsampled to the input size (no bias, not normalised; the "
                "daemon divides by the maximum)" + ("; the mean over the members." if len(runs) > 1 else ".")
            ),
        },
        "classes": {
            "positive": "defective",
            "negative": "ok",
            "source_folders": {"defective": "def_front", "ok": "ok_front"},
        },
        "decision": {
            "threshold": threshold,
            "rule": "defective if score >= threshold",
            "chosen_by": (
                "On the validation split: zero escapes (every defective scored >= threshold), then the highest accuracy; "
                f"the interval that achieves both is ({max_ok_below:.6g}, {min_def:.6g}] and the threshold is its midpoint "
                "in logit space."
            ),
        },
        "validation": {
            "split_seed": args.seed,
            "fraction": args.val_fraction,
            "stratified": True,
            "images": int(len(val_idx)),
            "files": "validation-split.tsv",
            "accuracy": round(accuracy, 6),
            "confusion_matrix": cm,
            "roc_auc": round(roc_auc(probs, y_val), 6),
            "min_defective_score": round(min_def, 6),
            "max_ok_score": round(float(probs[y_val == 0].max()), 6),
        },
        "architecture": {
            "summary": (
                summary(runs[0]["widths"], runs[0].get("pool", "avg"), runs[0].get("strides", [2, 2, 2, 1, 2])) + "."
                if len(runs) == 1
                else f"Mean of the defect probabilities of {len(runs)} independently trained CNNs: "
                + "; ".join(f"({i + 1}) {summary(r['widths'], r.get('pool', 'avg'), r.get('strides', [2, 2, 2, 1, 2]))}" for i, r in enumerate(runs))
                + "."
            ),
            "parameters": int(params),
            "macs": int(macs),
            "flops": int(2 * macs),
        },
        "training": {
            "data": "casting train/{def_front,ok_front} (Kaggle ravirajsinh45), exported with `lineside export-tensors`",
            "images": int(len(train_idx)),
            "framework": f"PyTorch {torch.__version__} (CPU, {args.threads} threads)",
            "recipe": runs[0]["recipe"] if len(runs) == 1 else "each member: " + runs[0]["recipe"],
            "runs": [
                {
                    "architecture": summary(r["widths"], r.get("pool", "avg"), r.get("strides", [2, 2, 2, 1, 2])),
                    "epochs_run": r["epochs_run"],
                    "best_epoch": r["best_epoch"],
                    "wall_time_s": r["wall_time_s"],
                }
                for r in runs
            ],
            "wall_time_s": round(sum(r["wall_time_s"] for r in runs), 1),
            "command": args.command,
        },
    }
    # The probes' expected scores are recorded next, by scripts/record-probes.ts (train.sh runs it), with onnxruntime.
    write_probes(args.out, size[0], size[1])
    with open(os.path.join(args.out, "model.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}/model.json and model.onnx ({meta['onnx']['bytes']} bytes)", flush=True)


if __name__ == "__main__":
    main()
