#!/usr/bin/env python3
"""Rewrites test/data/trace_cases.jsonl with what PyTorch's own Python schedulers do.

Each record's config (the `torchlr trace` format) is replayed through torch.optim and the
expectation is replaced: the lr and momentum of every group after construction and after every
step, or the exception PyTorch raised. Configs listed in NEW_CASES are added first when the file
lacks their id. Run by scripts/regenerate-reference.sh inside the Debian 13 root (python3-torch);
not by CI.

    python3 make_traces.py test/data/trace_cases.jsonl
"""

import json
import sys
import warnings

import torch

# Composites around the schedulers that cycle or restart, which the recorded data lacked.
NEW_CASES = [
    ("SequentialLR-warmup-CosineAnnealingWarmRestarts",
     {"steps": 30, "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9, "param_groups": [{}, {"lr": 0.02}]},
      "scheduler": {"name": "SequentialLR", "milestones": [5], "schedulers": [
          {"name": "LinearLR", "start_factor": 0.1, "total_iters": 5},
          {"name": "CosineAnnealingWarmRestarts", "T_0": 4, "T_mult": 2, "eta_min": 0.0001}]}}),
    ("ChainedScheduler-CosineAnnealingWarmRestarts-ExponentialLR",
     {"steps": 25, "optimizer": {"name": "Adam", "lr": 0.01, "betas": [0.9, 0.999]},
      "scheduler": {"name": "ChainedScheduler", "schedulers": [
          {"name": "CosineAnnealingWarmRestarts", "T_0": 5, "eta_min": 0.001},
          {"name": "ExponentialLR", "gamma": 0.97}]}}),
    ("SequentialLR-ConstantLR-CyclicLR",
     {"steps": 30, "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
      "scheduler": {"name": "SequentialLR", "milestones": [4], "schedulers": [
          {"name": "ConstantLR", "factor": 0.5, "total_iters": 4},
          {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "triangular2"}]}}),
    ("ChainedScheduler-CyclicLR-StepLR",
     {"steps": 24, "optimizer": {"name": "RMSprop", "lr": 0.01, "momentum": 0.5, "param_groups": [{}, {"lr": 0.1}]},
      "scheduler": {"name": "ChainedScheduler", "schedulers": [
          {"name": "CyclicLR", "base_lr": [0.001, 0.01], "max_lr": [0.01, 0.1], "step_size_up": 4,
           "mode": "exp_range", "gamma": 0.95},
          {"name": "StepLR", "step_size": 6, "gamma": 0.5}]}}),
    ("SequentialLR-OneCycleLR-ConstantLR",
     {"steps": 20, "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9},
      "scheduler": {"name": "SequentialLR", "milestones": [12], "schedulers": [
          {"name": "OneCycleLR", "max_lr": 0.5, "total_steps": 12},
          {"name": "ConstantLR", "factor": 0.5, "total_iters": 3}]}}),
    ("SequentialLR-LinearLR-OneCycleLR",
     {"steps": 20, "optimizer": {"name": "AdamW", "lr": 0.001, "betas": [0.9, 0.999]},
      "scheduler": {"name": "SequentialLR", "milestones": [4], "schedulers": [
          {"name": "LinearLR", "start_factor": 0.25, "total_iters": 4},
          {"name": "OneCycleLR", "max_lr": 0.01, "total_steps": 16, "anneal_strategy": "linear"}]}}),
    ("ChainedScheduler-OneCycleLR-ExponentialLR",
     {"steps": 20, "optimizer": {"name": "Adam", "lr": 0.001, "betas": [0.9, 0.999]},
      "scheduler": {"name": "ChainedScheduler", "schedulers": [
          {"name": "OneCycleLR", "max_lr": 0.2, "total_steps": 20, "three_phase": True},
          {"name": "ExponentialLR", "gamma": 0.99}]}}),
    ("SequentialLR-LinearLR-CyclicLR-CosineAnnealingWarmRestarts",
     {"steps": 25, "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.8, "param_groups": [{}, {"lr": 0.05}]},
      "scheduler": {"name": "SequentialLR", "milestones": [3, 10], "schedulers": [
          {"name": "LinearLR", "start_factor": 0.5, "total_iters": 3},
          {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "step_size_down": 3},
          {"name": "CosineAnnealingWarmRestarts", "T_0": 3, "T_mult": 2}]}}),
    ("ChainedScheduler-SequentialLR-OneCycleLR-CyclicLR",
     {"steps": 18, "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9},
      "scheduler": {"name": "ChainedScheduler", "schedulers": [
          {"name": "SequentialLR", "milestones": [6], "schedulers": [
              {"name": "OneCycleLR", "max_lr": 0.3, "total_steps": 6},
              {"name": "ConstantLR", "factor": 0.5, "total_iters": 4}]},
          {"name": "CyclicLR", "base_lr": 0.5, "max_lr": 1.0, "step_size_up": 5, "cycle_momentum": False}]}}),
]


def make_optimizer(config):
    config = dict(config)
    optimizer_class = getattr(torch.optim, config.pop("name"))
    group_configs = config.pop("param_groups", [{}])
    fix = lambda d: {k: tuple(v) if k == "betas" else v for k, v in d.items()}
    groups = [dict(fix(g), params=[torch.zeros(1, dtype=torch.float64, requires_grad=True)])
              for g in group_configs]
    return optimizer_class(groups, **fix(config))


def make_scheduler(config, optimizer):
    config = dict(config)
    name = config.pop("name")
    if name in ("SequentialLR", "ChainedScheduler"):
        children = [make_scheduler(child, optimizer) for child in config.pop("schedulers")]
        if name == "SequentialLR":
            return torch.optim.lr_scheduler.SequentialLR(optimizer, children, **config)
        return torch.optim.lr_scheduler.ChainedScheduler(children, optimizer=optimizer, **config)
    return getattr(torch.optim.lr_scheduler, name)(optimizer, **config)


def momentum_of(group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum")


def metric(value):
    # JSON has no NaN or infinity: the format writes them as null, "NaN", "Infinity", "-Infinity".
    return float("nan") if value is None else float(value)


def expectation(config):
    rows = []
    try:
        optimizer = make_optimizer(config["optimizer"])
        scheduler = make_scheduler(config["scheduler"], optimizer)

        def record(step):
            for g, group in enumerate(optimizer.param_groups):
                rows.append([step, g, group["lr"], momentum_of(group)])

        record(0)
        for step in range(1, config["steps"] + 1):
            # A zero gradient: optimizer.step() really runs but moves nothing (as `torchlr trace`).
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad = torch.zeros_like(p)
            optimizer.step()
            if "metrics" in config:
                scheduler.step(metric(config["metrics"][step - 1]))
            elif "epochs" in config:
                scheduler.step(config["epochs"][step - 1])
            else:
                scheduler.step()
            record(step)
    except Exception as e:  # what PyTorch refuses is part of the reference
        return {"error": f"{type(e).__name__}: {e}"}
    return {"rows": rows}


def main(path):
    warnings.simplefilter("ignore")  # deprecation notes about step(epoch) and the like
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    known = {r["id"] for r in records}
    records += [{"id": i, "config": c} for i, c in NEW_CASES if i not in known]
    changed = 0
    with open(path, "w") as f:
        for r in records:
            expect = expectation(r["config"])
            changed += r.get("expect") != expect
            f.write(json.dumps({"id": r["id"], "config": r["config"], "expect": expect}) + "\n")
    print(f"{len(records)} records from PyTorch {torch.__version__}; {changed} expectations new or changed")


if __name__ == "__main__":
    main(sys.argv[1])
