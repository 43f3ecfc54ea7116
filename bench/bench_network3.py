"""Images per second: convlab's engine against the book's own program,
network3.py on Aesara, side by side, at 1 and 2 threads.

Both train the chapter's ReLU network (conv-pool(20), conv-pool(40),
FC(100, ReLU), softmax; η = 0.03, λ = 0.1, mini-batch 10) for one epoch on
the first N training images (default 20,000), from the same data (convlab's
MNIST copy, the book's 50k/10k/10k split), taking turns: per round the
engine (in this process), then network3.py (a fresh process each time).

network3.py is not part of this repository: pass your own copy with
`--network3`, and an interpreter with Aesara (and a BLAS it links to, e.g.
Debian's libopenblas-dev) with `--python`:

    python3 -m venv /work/venv-n3 && /work/venv-n3/bin/pip install aesara numpy
    .venv/bin/python bench/bench_network3.py --network3 ~/nndl/src/network3.py --python /work/venv-n3/bin/python

bench/network3_shim.py makes the Python-2-era file run on Python 3 and Aesara
(module aliases, two run-time text substitutions, a one-method fix of
Aesara's CorrMM; its docstring lists each) and times its steps.

What is timed: training steps only, for both, in wall-clock time and in the
process's CPU time (steadier when other work shares the cores). network3.py: from the start of
its first `train_mb` call to the end of its last (its graph compilation,
process start and data loading are outside); the engine: `train_epoch`
(building the network is outside). The epoch-end validation and test
accuracies are printed for both (untimed), with the same seeds per round
(each program draws its own initial weights from its own generator, so the
figures agree as statistics, not digit for digit).

Threads: the engine sets torch.set_num_threads(T); network3.py gets
OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = T and, for T > 1, Aesara's
openmp=True (its C ops' own loops in parallel too). A first untimed run of
each (fewer images) per thread count warms caches and Aesara's compile cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from convlab.book.trainer import Trainer, pick_device, prepare
from convlab.config import spec as specs
from convlab.data import mnist as mnist_data

TARGET = 1.3
SHIM = Path(__file__).with_name("network3_shim.py")


def write_data(mnist: mnist_data.MNIST, n: int, path: Path) -> None:
    np.savez(
        path,
        train_x=mnist.train.images[:n],
        train_y=mnist.train.labels[:n],
        val_x=mnist.validation.images,
        val_y=mnist.validation.labels,
        test_x=mnist.test.images,
        test_y=mnist.test.labels,
    )


def network3_run(args, threads: int, data: Path, seed: int, workdir: Path) -> dict:
    out = workdir / f"n3_{threads}_{seed}.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "AESARA_FLAGS": f"floatX=float32,openmp={threads > 1}",
    }
    cmd = [
        args.python,
        "-W",
        "ignore",
        str(SHIM),
        args.network3,
        str(data),
        str(out),
        "--seed",
        str(seed),
        "--conv",
        args.conv,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=workdir)
    if proc.returncode:
        sys.exit(f"network3.py failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def engine_run(spec, tensors, device, seed: int) -> dict:
    trainer = Trainer(spec, tensors, device, seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in trainer.train_epoch(1, lambda: False):
        pass
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    epoch = trainer.end_epoch(1, 0.0, seconds)
    return {
        "steps": trainer.n_batches,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "val_acc": [epoch.val_acc],
        "test_acc": [epoch.test_acc],
    }


def rate(run: dict, key: str = "seconds") -> float:
    return run["steps"] * 10 / run[key]


def mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network3", required=True, help="your copy of the book's src/network3.py")
    parser.add_argument("--python", required=True, help="a Python interpreter with Aesara installed")
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warmup-images", type=int, default=1000)
    parser.add_argument(
        "--conv",
        choices=("corrmm", "legacy"),
        default="corrmm",
        help="network3.py's conv: Aesara's CorrMM (im2col, default) or the old ConvOp",
    )
    args = parser.parse_args()

    device = pick_device("cpu")
    mnist = mnist_data.load_mnist()
    spec = specs.load("relu").with_train(train_limit=args.images, epochs=1)
    warm_spec = spec.with_train(train_limit=args.warmup_images)
    tensors, warm_tensors = prepare(spec, mnist, device), prepare(warm_spec, mnist, device)
    print(
        f"torch {torch.__version__}; network3.py {args.network3} under {args.python} (conv: {args.conv}); "
        f"relu network, {args.images} images, mini-batch 10, {args.rounds} rounds, programs alternating; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data, warm_data = workdir / "mnist.npz", workdir / "mnist_warm.npz"
        write_data(mnist, args.images, data)
        write_data(mnist, args.warmup_images, warm_data)
        for threads in args.threads:
            torch.set_num_threads(threads)
            engine_run(warm_spec, warm_tensors, device, seed=0)
            info = network3_run(args, threads, warm_data, 0, workdir)
            print(
                f"\n{threads} thread{'s' if threads > 1 else ''} (network3.py compiled to {', '.join(info['ops'])}; "
                f"blas {info['blas']}; openmp {info['openmp']}; first compile {info['compile_s']:.0f} s, untimed)"
            )
            runs: dict[str, list[dict]] = {"engine": [], "network3.py": []}
            for round_ in range(1, args.rounds + 1):
                runs["engine"].append(engine_run(spec, tensors, device, seed=round_))
                runs["network3.py"].append(network3_run(args, threads, data, round_, workdir))
                e, n = runs["engine"][-1], runs["network3.py"][-1]
                print(
                    f"  round {round_}: engine {rate(e):6.0f} images/s, network3.py {rate(n):6.0f} images/s "
                    f"(compile {n['compile_s']:.0f} s untimed), ratio {rate(e) / rate(n):.2f}x; CPU time: "
                    f"{rate(e, 'cpu_seconds'):6.0f} and {rate(n, 'cpu_seconds'):6.0f}, ratio "
                    f"{rate(e, 'cpu_seconds') / rate(n, 'cpu_seconds'):.2f}x  [load {os.getloadavg()[0]:.1f}]"
                )
            for key, label in (("seconds", "wall"), ("cpu_seconds", "CPU time")):
                med = {name: statistics.median(rate(r, key) for r in rs) for name, rs in runs.items()}
                ratio = med["engine"] / med["network3.py"]
                ratios = [rate(e, key) / rate(n, key) for e, n in zip(runs["engine"], runs["network3.py"])]
                print(
                    f"  median [{label}]: engine {med['engine']:.0f}, network3.py {med['network3.py']:.0f} images/s: "
                    f"engine / network3.py {ratio:.2f}x (rounds {min(ratios):.2f}–{max(ratios):.2f}); "
                    f"target {TARGET}x: {'met' if ratio >= TARGET else 'not met'}"
                )
            for name, rs in runs.items():
                val = [r["val_acc"][-1] for r in rs]
                test = [r["test_acc"][-1] for r in rs]
                print(
                    f"  {name:12s} after 1 epoch: validation {mean_sd(val)}%, test {mean_sd(test)}% "
                    f"(seeds 1–{args.rounds})"
                )


if __name__ == "__main__":
    main()
