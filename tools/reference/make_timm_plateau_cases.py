#!/usr/bin/env python3
"""Writes test/data/timm_plateau_noise.jsonl: timm's own PlateauLRScheduler (and create_scheduler_v2's
plateau) with noise, on metrics that improve, stall and recover, in the `torchlr trace` format.

The shared reference has no plateau case with noise, where the order "take back the last noise,
step the plateau rule, apply this epoch's noise" decides the numbers. timm is not packaged in
Debian, so this reads timm's scheduler.py and plateau_lr.py from a checkout of
huggingface/pytorch-image-models (nothing of timm is kept in this repository). Run inside the
Debian 13 root (python3-torch 2.6); not by CI:

    python3 tools/reference/make_timm_plateau_cases.py TIMM_CHECKOUT test/data/timm_plateau_noise.jsonl
"""

import importlib.util
import json
import math
import os
import sys
import types

import torch


def load_timm_plateau(checkout):
    """timm.scheduler's base class and PlateauLRScheduler, without importing the rest of timm."""
    package = types.ModuleType("timm_sched")
    package.__path__ = [os.path.join(checkout, "timm", "scheduler")]
    sys.modules["timm_sched"] = package
    modules = {}
    for name in ("scheduler", "plateau_lr"):
        spec = importlib.util.spec_from_file_location(
            "timm_sched." + name, os.path.join(checkout, "timm", "scheduler", name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["timm_sched." + name] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return modules["plateau_lr"].PlateauLRScheduler


def metrics(n, seed):
    """A validation loss that falls, stalls for a while, and falls again (rounded like the shared cases)."""
    g = torch.Generator().manual_seed(seed)
    out, level = [], 3.0
    for i in range(n):
        if i < n // 3 or i > 2 * n // 3:
            level -= 0.05 * float(torch.rand(1, generator=g))
        out.append(round(level, 6))
    return out


OPTIMIZERS = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}


def run(plateau_class, config):
    opt_cfg = config["optimizer"]
    groups = []
    for group in opt_cfg.get("param_groups", [{}]):
        g = {"params": [torch.zeros(1, dtype=torch.double, requires_grad=True)]}
        g.update(group)
        groups.append(g)
    extra = {k: v for k, v in opt_cfg.items() if k not in ("name", "param_groups")}
    optimizer = OPTIMIZERS[opt_cfg["name"]](groups, **extra)
    kwargs = {k: v for k, v in config["scheduler"].items() if k != "name"}
    if config["scheduler"]["name"] == "timm.create_scheduler_v2":
        # create_scheduler_v2's plateau branch, as timm's factory maps it (no other of its
        # schedulers is needed here).
        t_initial = kwargs.get("num_epochs", 300)
        noise = kwargs.get("noise")
        noise_range = None
        if noise is not None:
            noise_range = [n * t_initial for n in noise] if isinstance(noise, list) else noise * t_initial
            if isinstance(noise_range, list) and len(noise_range) == 1:
                noise_range = noise_range[0]
        scheduler = plateau_class(
            optimizer, decay_rate=kwargs.get("decay_rate", 0.1), patience_t=kwargs.get("patience_epochs", 10),
            cooldown_t=0, warmup_lr_init=kwargs.get("warmup_lr", 1e-5), warmup_t=kwargs.get("warmup_epochs", 0),
            lr_min=kwargs.get("min_lr", 0.0), mode=kwargs.get("plateau_mode", "max"), noise_range_t=noise_range,
            noise_pct=kwargs.get("noise_pct", 0.67), noise_std=kwargs.get("noise_std", 1.0),
            noise_seed=kwargs.get("noise_seed", 42))
    else:
        scheduler = plateau_class(optimizer, **kwargs)
    rows = []

    def record(step):
        for i, group in enumerate(optimizer.param_groups):
            rows.append([step, i, float(group["lr"])])

    record(0)
    for k in range(1, config["steps"] + 1):
        scheduler.step(k, config["metrics"][k - 1])
        record(k)
    assert all(math.isfinite(r[2]) for r in rows)
    return rows


CASES = [
    ("timm.PlateauLRScheduler-noise-normal",
     {"optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9, "param_groups": [{}, {"lr": 0.05, "lr_scale": 0.5}]},
      "scheduler": {"name": "timm.PlateauLRScheduler", "decay_rate": 0.5, "patience_t": 2, "cooldown_t": 1,
                    "warmup_t": 3, "warmup_lr_init": 0.001, "lr_min": 0.0001, "mode": "min",
                    "noise_range_t": 5, "noise_pct": 0.3, "noise_seed": 7},
      "steps": 40}),
    ("timm.PlateauLRScheduler-noise-uniform",
     {"optimizer": {"name": "Adam", "lr": 0.01},
      "scheduler": {"name": "timm.PlateauLRScheduler", "decay_rate": 0.2, "patience_t": 1, "threshold": 0.001,
                    "mode": "min", "noise_range_t": [4, 20], "noise_type": "uniform", "noise_pct": 0.5},
      "steps": 30}),
    ("timm.create_scheduler_v2-plateau-noise",
     {"optimizer": {"name": "AdamW", "lr": 0.002},
      "scheduler": {"name": "timm.create_scheduler_v2", "sched": "plateau", "num_epochs": 30, "warmup_epochs": 2,
                    "plateau_mode": "min", "patience_epochs": 2, "decay_rate": 0.3, "noise": [0.2, 0.8],
                    "noise_pct": 0.2, "noise_seed": 3},
      "steps": 30}),
]


def main():
    checkout, out = sys.argv[1], sys.argv[2]
    plateau_class = load_timm_plateau(checkout)
    with open(out, "w") as f:
        for i, (case_id, config) in enumerate(CASES):
            config = dict(config, metrics=metrics(config["steps"], seed=i))
            f.write(json.dumps({"id": case_id, "config": config, "expect": {"rows": run(plateau_class, config)}}) + "\n")


if __name__ == "__main__":
    main()
