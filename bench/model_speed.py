"""Benchmark: training tokens/s of the course's RNN, GRU and LSTM (scratch and Gluon) against PyTorch on CPU.

Usage: .venv/bin/python bench/model_speed.py [--threads 2] [--repeat 3] [--warmup 3] [--timed 30]
                                              [--quick] [--report bench/reports/model-speed.md]

Issue 6, item 3b. Data: The Time Machine, characters, cut into minibatches by
the course's pipeline (seqmx.rnn.load_data_time_machine, sequential
partitioning, seed fixed). Models, d2l's configuration (batch_size 32,
num_steps 35, num_hiddens 256, lr 1, gradient clipping at 1):

- scratch: seqmx.rnn.RNNModelScratch with seqmx.rnn.rnn (tanh), seqmx.gru.gru
  (d2l's form: reset before the product) and seqmx.lstm.lstm;
- Gluon: seqmx.rnn.RNNModel around gluon rnn.RNN(tanh) / GRU / LSTM,
  initialised and hybridized as seqmx.compare.measure does;
- PyTorch: the same model (one-hot input, one torch.nn.RNN/GRU/LSTM layer,
  Linear head) in bench/model_speed_torch.py, run as a subprocess in the
  benchmark-only venv .venv-bench (bench/requirements.txt) on the very same
  minibatches, written to a temporary .npy.

The course models train with the course's step, seqmx.rnn.train_epoch
(scratch: seqmx.rnn.sgd; Gluon: a gluon.Trainer with SGD as seqmx.rnn.train
makes). Each run trains ``--warmup`` minibatches (not timed), then times
``--timed`` minibatches; runs are repeated ``--repeat`` times, interleaved
model by model (scratch, Gluon, PyTorch) so that other jobs on the machine
slow all three alike, and the median is reported.

Threads: OMP_NUM_THREADS is set to ``--threads`` before MXNet (and the
course's NumPy) is imported, and torch.set_num_threads(``--threads``) in the
peer; MXNET_CPU_WORKER_NTHREADS stays 1 (MXNet's default: one engine worker;
the intra-op threads are what torch's setting controls).

FLOP model (dense matrix products only, per training token): a cell with G
gate blocks (RNN 1, GRU 3, LSTM 4), input width X (the one-hot vocabulary V,
as the course feeds it) and H hidden units does 2*G*H*(X+H) in the forward
pass, the output layer 2*H*V; the backward pass is counted as twice the
forward, so training = 3 * (2*G*H*(X+H) + 2*H*V). Element-wise gate
arithmetic, softmax and the optimiser are not counted. Achieved GFLOP/s =
tokens/s * that count; the peak is the best float32 square matmul rate
(sizes 1024 and 2048) of MXNet's mx.nd.dot, the course's NumPy and
torch.mm, each on ``--threads`` threads, measured in the same run before and
after the training runs (the best of both counts).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
TORCH_SCRIPT = REPO / "bench" / "model_speed_torch.py"
MAKE_VENV = "python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements.txt"
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
IMPLS = ("scratch", "Gluon", "PyTorch")


def train_flops_per_token(cell: str, vocab_size: int, num_hiddens: int, num_inputs: int | None = None) -> int:
    """Dense matmul FLOPs of one training token: 3 * (cell forward + output layer forward).

    ``num_inputs`` is the input width: the vocabulary (one-hot, the default)
    or an embedding size.
    """
    G, H, V = GATES[cell], num_hiddens, vocab_size
    X = V if num_inputs is None else num_inputs
    forward = 2 * G * H * (X + H) + 2 * H * V
    return 3 * forward  # backward ~ 2x forward: a gradient for the input and one for the weights


def set_threads(threads: int) -> None:
    """Before MXNet or NumPy is imported: their thread pools read these once, at load."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MXNET_CPU_WORKER_NTHREADS"] = "1"


class Batches:
    """A fixed list of minibatches with the interface seqmx.rnn.train_epoch reads."""
    use_random_iter = False  # sequential: train_epoch carries and detaches the state

    def __init__(self, batches: list):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def make_course_net(cell: str, impl: str, vocab_size: int, num_hiddens: int, seed: int):
    from mxnet.gluon import rnn as grnn

    from seqmx import gru, lstm, rnn
    rnn.set_seed(seed)
    if impl == "scratch":
        fns = {"rnn": (rnn.get_rnn_params, rnn.init_rnn_state, rnn.rnn),
               "gru": (gru.get_gru_params, gru.init_gru_state, gru.gru),
               "lstm": (lstm.get_lstm_params, lstm.init_lstm_state, lstm.lstm)}[cell]
        return rnn.RNNModelScratch(vocab_size, num_hiddens, None, *fns)
    layer = {"rnn": lambda: grnn.RNN(num_hiddens, activation="tanh"),
             "gru": lambda: grnn.GRU(num_hiddens), "lstm": lambda: grnn.LSTM(num_hiddens)}[cell]()
    net = rnn.RNNModel(layer, vocab_size)
    net.initialize()  # as seqmx.compare.measure does
    net.hybridize()
    return net


def course_params(cell: str, impl: str, vocab_size: int, num_hiddens: int) -> int:
    """Trainable scalars of the course model (a Gluon one after one forward pass fixes its shapes)."""
    from mxnet import np

    from seqmx import rnn
    net = make_course_net(cell, impl, vocab_size, num_hiddens, 0)
    if impl == "Gluon":
        net(np.zeros((1, 1)), net.begin_state(1))
    return rnn.num_params(net)


def run_course(cell: str, impl: str, batches: list, vocab_size: int, args) -> float:
    """Tokens/s of the timed minibatches, trained with seqmx.rnn.train_epoch."""
    from mxnet import gluon

    from seqmx import rnn
    net = make_course_net(cell, impl, vocab_size, args.num_hiddens, args.seed)
    trainer = (gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": args.lr})
               if impl == "Gluon" else None)  # as seqmx.rnn.train makes it
    rnn.train_epoch(net, Batches(batches[:args.warmup]), args.lr, args.clip, trainer)
    timed = batches[args.warmup:args.warmup + args.timed]
    return rnn.train_epoch(net, Batches(timed), args.lr, args.clip, trainer)["tokens_per_sec"]


def run_torch(mode: str, torch_python: Path, *options: str) -> dict:
    proc = subprocess.run([str(torch_python), str(TORCH_SCRIPT), mode, *options],
                          capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode:
        raise SystemExit(f"{TORCH_SCRIPT.name} {mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gemm_peaks(sizes: list[int], repeat: int) -> dict:
    """Best float32 square matmul GFLOP/s of MXNet's mx.nd.dot and of the course's NumPy."""
    import mxnet as mx
    import numpy as onp
    best = {"MXNet mx.nd.dot": 0.0, f"NumPy {onp.__version__} dot": 0.0}
    for n in sizes:
        a, b = mx.nd.random.uniform(shape=(n, n)), mx.nd.random.uniform(shape=(n, n))
        x, y = onp.random.rand(n, n).astype("float32"), onp.random.rand(n, n).astype("float32")
        mx.nd.dot(a, b).wait_to_read(), onp.dot(x, y)  # warm-up
        for _ in range(repeat):
            for name, f in zip(best, (lambda: mx.nd.dot(a, b).wait_to_read(), lambda: onp.dot(x, y))):
                start = time.perf_counter()
                f()
                best[name] = max(best[name], 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--timed", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-steps", type=int, default=35)
    p.add_argument("--num-hiddens", type=int, default=256)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cells", nargs="+", choices=sorted(GATES), default=["rnn", "gru", "lstm"])
    p.add_argument("--gemm-sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--torch-python", default=str(TORCH_PYTHON), help="python of the benchmark venv")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 warm-up, 3 timed minibatches, 1 repeat")
    p.add_argument("--report", help="write the markdown report here (e.g. bench/reports/model-speed.md)")
    args = p.parse_args()
    if args.quick:
        args.warmup, args.timed, args.repeat, args.gemm_sizes = 1, 3, 1, [512]
    exe = Path(sys.executable)
    exe = exe.relative_to(REPO) if exe.is_relative_to(REPO) else exe
    command = f"{exe} bench/model_speed.py " + " ".join(sys.argv[1:])
    load_start = os.getloadavg()
    started = datetime.now(timezone.utc)
    set_threads(args.threads)

    import d2l
    import mxnet as mx
    import numpy as onp

    from seqmx import rnn

    torch_python = Path(args.torch_python)
    has_torch = torch_python.exists()
    if not has_torch:
        print(f"PyTorch peer skipped: {torch_python} is missing; create it with: {MAKE_VENV}", flush=True)

    rnn.set_seed(args.seed)
    train_iter, _, vocab = rnn.load_data_time_machine(args.batch_size, args.num_steps, seed=args.seed)
    batches = []  # the first minibatches of one pass of the course's sequential sampler
    for X, Y in train_iter:
        batches.append((X, Y))
        if len(batches) == args.warmup + args.timed:
            break
    V = len(vocab)
    common = ["--vocab-size", str(V), "--num-hiddens", str(args.num_hiddens), "--threads", str(args.threads),
              "--seed", str(args.seed)]

    torch_version = ""

    def measure_peaks() -> dict:
        nonlocal torch_version
        peaks = gemm_peaks(args.gemm_sizes, 3)
        if has_torch:
            info = run_torch("gemm", torch_python, *common, "--sizes", *map(str, args.gemm_sizes))
            torch_version = info["torch"]
            peaks[f"PyTorch {torch_version} torch.mm"] = info["gflops"]
        print("float32 GEMM (GFLOP/s): " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()), flush=True)
        return peaks

    peaks = measure_peaks()  # again at the end: other jobs can only lower a rate, so the best of both counts

    impls = IMPLS if has_torch else IMPLS[:2]
    params = {(c, i): course_params(c, i, V, args.num_hiddens) for c in args.cells for i in IMPLS[:2]}
    rates: dict = {(c, i): [] for c in args.cells for i in impls}
    loads = [load_start[0]]  # the 1-minute load average after every run: how busy the machine was
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "batches.npy"
        onp.save(data, onp.stack([onp.stack([X.asnumpy(), Y.asnumpy()]) for X, Y in batches]).astype("int32"))
        train_opts = [*common, "--data", str(data), "--lr", str(args.lr), "--clip", str(args.clip),
                      "--warmup", str(args.warmup), "--timed", str(args.timed)]
        for run in range(args.repeat):
            for cell in args.cells:
                for impl in impls:
                    if impl == "PyTorch":
                        out = run_torch("train", torch_python, "--cell", cell, *train_opts)
                        params[cell, impl] = out["parameters"]
                        rates[cell, impl].append(out["tokens_per_sec"])
                    else:
                        rates[cell, impl].append(run_course(cell, impl, batches, V, args))
                    loads.append(os.getloadavg()[0])
                    print(f"run {run} {cell} {impl}: {rates[cell, impl][-1]:,.0f} tokens/s", flush=True)
    peaks = {k: max(v, peaks[k]) for k, v in measure_peaks().items()}
    peak = max(peaks.values())
    load_end = os.getloadavg()

    rows = ["| model | impl | parameters | tokens/s (median) | vs PyTorch | GFLOP/s | share of peak "
            "| tokens/s (best) | vs PyTorch (best) | runs (tokens/s) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for cell in args.cells:
        flops = train_flops_per_token(cell, V, args.num_hiddens)
        ref = statistics.median(rates[cell, "PyTorch"]) if has_torch else None
        ref_best = max(rates[cell, "PyTorch"]) if has_torch else None
        for impl in impls:
            med, best = statistics.median(rates[cell, impl]), max(rates[cell, impl])
            gflops = med * flops / 1e9
            vs = f"{med / ref:.2f}x" if ref else "–"
            vs_best = f"{best / ref_best:.2f}x" if ref_best else "–"
            rows.append(f"| {cell.upper()} | {impl} | {params[cell, impl]:,} | {med:,.0f} | {vs} | {gflops:.2f} | "
                        f"{gflops / peak:.1%} | {best:,.0f} | {vs_best} | "
                        f"{', '.join(f'{r:,.0f}' for r in rates[cell, impl])} |")
    if has_torch:
        ratios = [f"{c.upper()} " + " / ".join(
            f"{statistics.median(rates[c, i]) / statistics.median(rates[c, 'PyTorch']):.2f}x" for i in IMPLS[:2])
            for c in args.cells]
        headline = (f"training tokens/s of the course's models against PyTorch (median, {args.threads} threads, "
                    f"scratch / Gluon): {', '.join(ratios)}.")
    else:
        headline = "PyTorch not run: " + ", ".join(
            f"{c.upper()} {i} {statistics.median(rates[c, i]):,.0f} tokens/s" for c in args.cells for i in impls) + "."
    flop_lines = [f"| {c.upper()} | {GATES[c]} | {train_flops_per_token(c, V, args.num_hiddens):,} |"
                  for c in args.cells]
    lines = [
        "# Training speed of the course's models against PyTorch (CPU)",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu_name()}), load average "
        f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end, at most {max(loads + [load_end[0]]):.2f} "
        f"after any run (1-minute); Python "
        f"{platform.python_version()}, MXNet {mx.__version__}, d2l {d2l.__version__}, NumPy {onp.__version__}"
        + (f", PyTorch {torch_version} (CPU build, in .venv-bench)" if has_torch else ", PyTorch not run") + ".",
        f"Command: `{command}`."
        + (f" OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} was set on this machine: the OpenBLAS inside "
           "MXNet and NumPy ran that kernel (PyTorch's CPU build uses MKL, BLAS_INFO=mkl)."
           if "OPENBLAS_CORETYPE" in os.environ else ""),
        "",
        f"Headline: {headline}",
        "",
        f"The Time Machine, characters (vocabulary {V}), batch_size {args.batch_size}, num_steps {args.num_steps}, "
        f"num_hiddens {args.num_hiddens}, SGD lr {args.lr:g}, clipping at {args.clip:g}, {args.threads} threads "
        f"(OMP_NUM_THREADS={args.threads} for MXNet, torch.set_num_threads({args.threads})), seed {args.seed}. "
        f"Each run trains {args.warmup} minibatches untimed, then times {args.timed} "
        f"({args.timed * args.batch_size * args.num_steps:,} tokens); {args.repeat} runs per row, interleaved "
        "scratch / Gluon / PyTorch model by model. `vs PyTorch` is the ratio of medians, "
        "course / PyTorch (above 1: the course model is faster); GFLOP/s and share of peak are of the median. "
        "Best is the fastest run: other jobs can only slow a run down, so it is the least disturbed estimate.",
        "",
        *rows,
        "",
        f"Peak: best float32 square matmul ({', '.join(map(str, args.gemm_sizes))}), {args.threads} threads, "
        "best of 3 each, measured before and after the training runs: "
        + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()) + f"; share of peak is against {peak:.1f} GFLOP/s.",
        "",
        "FLOP model (dense matrix products per training token, one-hot input of width V, as the course "
        "feeds it): forward 2·G·H·(V+H) for the cell plus 2·H·V for the output layer, backward counted as twice "
        "the forward, so 3·(2·G·H·(V+H) + 2·H·V); gate element-wise arithmetic, softmax and the optimiser "
        "are not counted.",
        "",
        "| model | G | FLOPs per training token |",
        "| --- | ---: | ---: |",
        *flop_lines,
    ]
    print("\n".join(lines))
    if args.report:
        report = Path(args.report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("\n".join(lines) + "\n")
    return 0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
