#!/usr/bin/env python3
"""Runs torchlr's benchmarks and prints the tables of docs/benchmarks.md, in one run:

1. step() cost of every scheduler (1, 8, 64 groups) against the floor, with allocations;
2. torchlr's StepLR against LibTorch's torch::optim::StepLR;
3. torchlr against PyTorch's own Python scheduler.step(), same configs, timed here;
4. step() cost as the number of groups grows (1 to 1024);
5. the LR finder's overhead (from the finder_overhead binary).

Usage: python3 bench/report.py BUILD_DIR     (BUILD_DIR built with -DTORCHLR_BUILD_BENCHMARKS=ON)

Installs nothing: if PyTorch (Debian's python3-torch) is not importable, table 3 is skipped and
the reason printed.
"""

import json
import statistics
import subprocess
import sys
import time
import warnings

REPETITIONS = 5
GROUPS = (1, 8, 64)


def scheduler_table(build):
    """The library's scheduler table, in its order, with the configs step_cost runs them on."""
    out = subprocess.run([f"{build}/bench/step_cost", "--print-configs"],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def run_cpp(build):
    """Medians over repetitions of the C++ benchmark, keyed by (name, groups)."""
    out = subprocess.run(
        [f"{build}/bench/step_cost", "--benchmark_format=json",
         f"--benchmark_repetitions={REPETITIONS}", "--benchmark_report_aggregates_only=true",
         "--benchmark_min_time=0.2"],
        check=True, capture_output=True, text=True).stdout
    results = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name, groups = b["run_name"].rsplit("/", 1)
        name = name.replace("Scheduler/", "").replace("BM_", "")
        results[(name, int(groups))] = (b["cpu_time"], b.get("allocs_per_step", 0.0))
    return results


def pytorch_schedulers(schedulers):
    """The schedulers of step_cost, built with PyTorch's Python schedulers from the same configs
    (the trace format's `scheduler` objects: PyTorch's names and keyword arguments)."""
    import torch
    from torch.optim import lr_scheduler as L

    def build(optimizer, config):
        kwargs = dict(config)
        cls = getattr(L, kwargs.pop("name"))
        if "schedulers" in kwargs:
            kwargs["schedulers"] = [build(optimizer, child) for child in kwargs["schedulers"]]
            if cls is L.ChainedScheduler:  # ChainedScheduler(schedulers, optimizer=None)
                return cls(**kwargs)
        return cls(optimizer, **kwargs)

    # No config holds a function: these two mirror the lambdas in bench/step_cost.cpp.
    functions = {
        "LambdaLR": lambda o: L.LambdaLR(o, lambda e: 1.0 / (1.0 + 1e-6 * e)),
        "MultiplicativeLR": lambda o: L.MultiplicativeLR(o, lambda e: 1 - 1e-12),
    }
    made = {}
    for s in schedulers:
        if "." in s["name"]:  # another library's schedule (transformers.cosine): not torch.optim's
            continue
        if s["scheduler"] is not None:
            made[s["name"]] = lambda o, config=s["scheduler"]: build(o, config)
        elif s["name"] in functions:
            made[s["name"]] = functions[s["name"]]
    return torch, made


def time_pytorch(torch, make, groups, steps=3000):
    """Median ns per scheduler.step() over REPETITIONS runs, after 1000 warm-up steps."""
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": 0.1} for _ in range(groups)]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    scheduler = make(optimizer)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    metric = [1.0]

    def step():
        if plateau:
            metric[0] *= 1 - 1e-9
            scheduler.step(metric[0])
        else:
            scheduler.step()

    for _ in range(1000):
        step()
    samples = []
    for _ in range(REPETITIONS):
        start = time.perf_counter_ns()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter_ns() - start) / steps)
    return statistics.median(samples)


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    schedulers = scheduler_table(build)
    cpp = run_cpp(build)

    print(f"### 1. step() cost (ns, median of {REPETITIONS} repetitions) and allocations per step\n")
    rows = []
    for s in schedulers:
        name = s["name"]
        if (name, GROUPS[0]) not in cpp:  # no config and no function: not benchmarked
            continue
        cells = [name + (" (composite)" if s["composite"] else "")]
        for g in GROUPS:
            ns, allocs = cpp[(name, g)]
            cells.append(f"{ns:.0f} ({ns / cpp[('Floor', g)][0]:.1f}× floor, {allocs:g} alloc)")
        rows.append(cells)
    rows.append(["floor: set_lr on every group"] + [f"{cpp[('Floor', g)][0]:.0f}" for g in GROUPS])
    table(["scheduler"] + [f"{g} group{'s' if g > 1 else ''}" for g in GROUPS], rows)

    print("### 2. torchlr::StepLR against LibTorch's torch::optim::StepLR (ns per step)\n")
    table(["groups", "torchlr StepLR", "torch::optim::StepLR", "LibTorch / torchlr", "LibTorch allocs"],
          [[str(g), f"{cpp[('StepLR', g)][0]:.0f}", f"{cpp[('LibTorchStepLR', g)][0]:.0f}",
            f"{cpp[('LibTorchStepLR', g)][0] / cpp[('StepLR', g)][0]:.2f}", f"{cpp[('LibTorchStepLR', g)][1]:g}"]
           for g in GROUPS])

    print("### 3. torchlr against PyTorch's Python scheduler.step() (ns per step)\n")
    try:
        torch, python = pytorch_schedulers(schedulers)
    except ImportError as e:
        print(f"Skipped: PyTorch is not importable by {sys.executable} ({e}). Install Debian's "
              "python3-torch (apt-get install python3-torch) and run this script with /usr/bin/python3.\n")
    else:
        warnings.simplefilter("ignore")
        print(f"PyTorch {torch.__version__}, Python {sys.version.split()[0]}.\n")
        rows = []
        for name in [s["name"] for s in schedulers if s["name"] in python]:
            for g in GROUPS:
                ours = cpp[(name, g)][0]
                theirs = time_pytorch(torch, python[name], g)
                rows.append([name, str(g), f"{ours:.0f}", f"{theirs:.0f}", f"{theirs / ours:.0f}×"])
        table(["scheduler", "groups", "torchlr ns", "PyTorch ns", "ratio"], rows)

    print("### 4. Growth: step() cost (ns) against the number of groups\n")
    counts = sorted({g for (n, g) in cpp if n.startswith("Growth/")})
    names = ["Floor", "LibTorchStepLR", "StepLR", "CosineAnnealingLR", "OneCycleLR"]
    rows = []
    for n in names:
        rows.append([n] + [f"{cpp[('Growth/' + n, g)][0]:.0f}" for g in counts])
    rows.append(["OneCycleLR per group"] + [f"{cpp[('Growth/OneCycleLR', g)][0] / g:.1f}" for g in counts])
    table(["groups"] + [str(g) for g in counts], rows)

    print("### 5. LR finder overhead\n")
    sys.stdout.flush()
    subprocess.run([f"{build}/bench/finder_overhead"], check=True)


if __name__ == "__main__":
    main()
