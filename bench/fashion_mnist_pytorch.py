#!/usr/bin/env python3
"""The Fashion-MNIST recipe in PyTorch (Python), beside the C++ run it repeats.

Reads the recipe.json that bench/fashion_mnist_grid writes (the first seed's automatic run: its
settings, the lr the finder suggested, and its per-step lrs, beta1s and losses), trains the
same network (built layer for layer as examples/support/fashion_mnist.cpp builds it, seeded the
same way, so it starts from the same weights) on the same data in the same order
(torch.randperm with the seeds the C++ sampler drew for each epoch) with the same OneCycleLR,
and prints: wall time per epoch side by side, whether the lrs and beta1s match step for step,
how far the losses drift apart, and the final test accuracy. Exits 1 when the lrs or beta1s
differ, or when the first step's loss does: same weights and the same first batch give the same
loss to float precision, so a gap there means the data order or the network is not the same.

Usage: python3 bench/fashion_mnist_pytorch.py RECIPE_JSON

Needs PyTorch (Debian's python3-torch); installs nothing.
"""

import gzip
import json
import math
import os
import struct
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F


def read_split(folder, stem, limit):
    def read(name, magic):
        path = os.path.join(folder, name + ".gz")
        opener = gzip.open if os.path.exists(path) else open
        with opener(path if os.path.exists(path) else os.path.join(folder, name), "rb") as f:
            data = f.read()
        assert struct.unpack(">I", data[:4])[0] == magic, name
        dims = struct.unpack(">" + "I" * (magic & 0xFF), data[4:4 + 4 * (magic & 0xFF)])
        return torch.frombuffer(bytearray(data[4 + 4 * len(dims):]), dtype=torch.uint8).reshape(dims)
    images = read(stem + "-images-idx3-ubyte", 0x803)[:limit]
    labels = read(stem + "-labels-idx1-ubyte", 0x801)[:limit].long()
    return images, labels


class ConvNet(nn.Module):
    """examples/support/fashion_mnist.cpp's ConvNet, its layers created in the same order (so the
    same seed gives the same weights), with the widths recipe.json gives."""

    def __init__(self, r):
        super().__init__()
        c1, c2, hidden = r["conv1_channels"], r["conv2_channels"], r["hidden_units"]
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(c2)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, r["classes"])

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.norm1(self.conv1(x))), 2)
        h = F.max_pool2d(F.relu(self.norm2(self.conv2(h))), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        r = json.load(f)
    torch.set_num_threads(r["threads"])
    limit = r["train_size"]
    train_x, train_y = read_split(r["data_dir"], "train", limit)
    test_x, test_y = read_split(r["data_dir"], "t10k", r["test_size"])

    def normalize(images):
        return images.unsqueeze(1).float().div_(255).sub_(r["pixel_mean"]).div_(r["pixel_std"])

    test_images = normalize(test_x)
    torch.manual_seed(r["init_seed"])
    model = ConvNet(r)
    optimizer = torch.optim.Adam(model.parameters(), lr=r["adam_lr"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=r["max_lr"], epochs=r["epochs"],
                                                    steps_per_epoch=r["steps_per_epoch"])
    lrs = [optimizer.param_groups[0]["lr"]]
    betas = [optimizer.param_groups[0]["betas"][0]]
    losses, epoch_seconds = [], []
    batch = r["batch_size"]
    assert len(r["epoch_order_seeds"]) == r["epochs"], r["epoch_order_seeds"]
    for epoch in range(r["epochs"]):
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(r["epoch_order_seeds"][epoch])
        order = torch.randperm(limit, generator=generator)
        for first in range(0, limit, batch):
            index = order[first:first + batch]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(normalize(train_x.index_select(0, index))), train_y.index_select(0, index))
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            lrs.append(optimizer.param_groups[0]["lr"])
            betas.append(optimizer.param_groups[0]["betas"][0])
        epoch_seconds.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(test_images[i:i + 1000]).argmax(1) == test_y[i:i + 1000]).sum())
                      for i in range(0, len(test_y), 1000))
    accuracy = correct / len(test_y)

    def worst_relative(ours, theirs):
        assert len(ours) == len(theirs), (len(ours), len(theirs))
        return max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(ours, theirs))

    lr_gap, beta_gap = worst_relative(lrs, r["lrs"]), worst_relative(betas, r["betas"])
    first_loss_gap = abs(losses[0] - r["losses"][0])
    drift = [abs(a - b) for a, b in zip(losses, r["losses"])]
    print(f"PyTorch {torch.__version__} (Python) against torchlr (C++), {r['epochs']} epochs, "
          f"{r['steps_per_epoch']} steps each, {r['threads']} threads, max_lr {r['max_lr']:.6g}")
    print("| epoch | C++ (LibTorch + torchlr), s | Python (PyTorch), s |\n|---|---|---|")
    for i, (c, p) in enumerate(zip(r["epoch_seconds"], epoch_seconds)):
        print(f"| {i + 1} | {c:.1f} | {p:.1f} |")
    print(f"lr after every step: {'match' if lr_gap <= 1e-12 else 'DIFFER'} (largest relative gap {lr_gap:.1e} "
          f"over {len(lrs)} values); beta1: {'match' if beta_gap <= 1e-12 else 'DIFFER'} ({beta_gap:.1e})")
    print(f"loss of the first step: C++ {r['losses'][0]:.7f}, Python {losses[0]:.7f} (gap {first_loss_gap:.1e}); "
          f"largest gap over the first 10 steps {max(drift[:10]):.1e}, over all {max(drift):.1e}")
    print(f"test accuracy: C++ {100 * r['accuracy']:.2f}%, Python {100 * accuracy:.2f}%")
    same_start = first_loss_gap <= 1e-4
    if not same_start:
        print("DIFFERENT first-step loss: the data order or the starting weights are not the C++ run's")
    return 0 if lr_gap <= 1e-12 and beta_gap <= 1e-12 and same_start else 1


if __name__ == "__main__":
    sys.exit(main())
