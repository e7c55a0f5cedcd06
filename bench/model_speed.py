"""Benchmark: training tokens/s of the course's RNN, GRU and LSTM (scratch and Gluon) against PyTorch on CPU.

Usage: .venv/bin/python bench/model_speed.py [--threads 2] [--repeat 3] [--warmup 3] [--timed 30]
                                              [--quick] [--report bench/reports/model-speed.md]

Issue 6, item 3b. Data: The Time Machine, characters, cut into minibatches by
the course's pipeline (seqmx.rnn.load_data_time_machine, sequential
partitioning, seed fixed). Models, d2l's configuration (batch_size 32,
num_steps 35, num_hiddens 256, lr 1, gradient clipping at 1):

- scratch: seqmx.rnn.RNNModelScratch with seqmx.rnn.rnn (tanh), seqmx.gru.gru
  (d2l's form: reset before the product) and seqmx.lstm.lstm;
- scratch, fused gates: the same RNNModelScratch, parameters and
  initialisation, with seqmx.fused.rnn_fused / gru_fused / lstm_fused as the
  forward (issue 15): gate blocks concatenated, the input product done once
  for all steps, one recurrent product per step (two for d2l's GRU, whose
  candidate needs the reset gate first), one output product;
- Gluon: seqmx.rnn.RNNModel around gluon rnn.RNN(tanh) / GRU / LSTM,
  initialised and hybridized as seqmx.compare.measure does, trained inside
  seqmx.rnn.fused_weights as seqmx.rnn.train trains it (the layer's weights
  in the one flat vector the fused kernel reads);
- PyTorch: the same model (one-hot input, one torch.nn.RNN/GRU/LSTM layer,
  Linear head) in bench/model_speed_torch.py, run as a subprocess in the
  benchmark-only venv .venv-bench (bench/requirements.txt) on the very same
  minibatches, written to a temporary .npy.

Three larger models are measured the same way, Gluon against PyTorch
(``--variants``; there is no scratch version of them to time):

- ``lstm-deep``: two LSTM layers of 256 (chapter "Deep recurrent networks"),
  same characters and minibatches;
- ``lstm-bi``: one bidirectional LSTM layer, 256 per direction, its 512
  outputs feeding the dense layer (chapter "Bidirectional recurrent
  networks"); as a next-character model it would see the answer, so it is
  timed only, on the same minibatches;
- ``ptb-lstm``: the word-level model of chapter "A word-level LSTM on Penn
  Treebank" exactly as ``seqmx.wordlm.make_model`` builds it (embedding
  200, two LSTM layers of 200, dropout 0.2, output layer tied to the
  embedding, vocabulary 10,000) with its recipe (``CONFIGS["tied-dropout"]``:
  batch_size 20, num_steps 35, SGD lr 20, clipping at 0.25) on the first
  minibatches of PTB's training text.

The course models train with the course's step, seqmx.rnn.train_epoch
(scratch: seqmx.rnn.sgd; Gluon: a gluon.Trainer with SGD as seqmx.rnn.train
makes). Each run trains ``--warmup`` minibatches (not timed), then times
``--timed`` minibatches; runs are repeated ``--repeat`` times, interleaved
model by model (scratch, scratch with fused gates, Gluon, PyTorch) so that
other jobs on the machine slow them all alike, and the median is reported.

Threads: OMP_NUM_THREADS is set to ``--threads`` before MXNet (and the
course's NumPy) is imported, and torch.set_num_threads(``--threads``) in the
peer; MXNET_CPU_WORKER_NTHREADS stays 1 (MXNet's default: one engine worker;
the intra-op threads are what torch's setting controls).

FLOP model (dense matrix products only, per training token): a cell with G
gate blocks (RNN 1, GRU 3, LSTM 4), input width X (the one-hot vocabulary V,
as the course feeds it) and H hidden units does 2*G*H*(X+H) in the forward
pass, the output layer 2*H*V; the backward pass is counted as twice the
forward, so training = 3 * (2*G*H*(X+H) + 2*H*V). Element-wise gate
arithmetic, softmax and the optimiser are not counted. The count is the
model's: the fused scratch forward does the same products, only fewer and
larger ones. Achieved GFLOP/s =
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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
TORCH_SCRIPT = REPO / "bench" / "model_speed_torch.py"
MAKE_VENV = "python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements.txt"
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
IMPLS = ("scratch", "scratch, fused gates", "Gluon", "PyTorch")
COURSE_IMPLS = IMPLS[:3]           # the course's own models: every cell row
VARIANT_IMPLS = ("Gluon", "PyTorch")  # the larger models have no scratch version
SCRATCH_IMPLS = IMPLS[:2]          # RNNModelScratch: the course's step-by-step forward, or seqmx.fused's


def train_flops_per_token(cell: str, vocab_size: int, num_hiddens: int, num_inputs: int | None = None,
                          num_layers: int = 1, bidirectional: bool = False) -> int:
    """Dense matmul FLOPs of one training token: 3 * (cell forward + output layer forward).

    ``num_inputs`` is the input width: the vocabulary (one-hot, the default)
    or an embedding size. Layers above the first read the ``num_hiddens *
    directions`` outputs of the layer below; each direction is a cell of its
    own; the output layer reads ``num_hiddens * directions`` values.
    """
    G, H, V = GATES[cell], num_hiddens, vocab_size
    dirs = 2 if bidirectional else 1
    X = V if num_inputs is None else num_inputs
    forward = 0
    for layer in range(num_layers):
        forward += dirs * 2 * G * H * ((X if layer == 0 else H * dirs) + H)
    forward += 2 * H * dirs * V
    return 3 * forward  # backward ~ 2x forward: a gradient for the input and one for the weights


@dataclass(frozen=True)
class Variant:
    """A larger model, timed Gluon against PyTorch (see the module's docstring)."""
    cell: str
    corpus: str = "tm"              # "tm": The Time Machine, characters, one-hot; "ptb": PTB words
    num_layers: int = 1
    bidirectional: bool = False
    embed_size: int | None = None   # None: one-hot input
    num_hiddens: int | None = None  # None: --num-hiddens
    dropout: float = 0.0
    tied: bool = False
    title: str = ""


VARIANTS = {
    "lstm-deep": Variant("lstm", num_layers=2, title="LSTM, 2 layers"),
    "lstm-bi": Variant("lstm", bidirectional=True, title="LSTM, bidirectional"),
    "ptb-lstm": Variant("lstm", corpus="ptb", num_layers=2, embed_size=200, num_hiddens=200, dropout=0.2,
                        tied=True, title="PTB word-level LSTM, 2x200"),
}


def set_threads(threads: int) -> None:
    """Before MXNet or NumPy is imported: their thread pools read these once, at load."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MXNET_CPU_WORKER_NTHREADS"] = "1"
    import seqmx  # noqa: F401  (sets OpenBLAS's kernels for this CPU, as the course's kernel does)


class Batches:
    """A fixed list of minibatches with the interface seqmx.rnn.train_epoch reads."""
    use_random_iter = False  # sequential: train_epoch carries and detaches the state

    def __init__(self, batches: list):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def make_course_net(cell: str, impl: str, vocab_size: int, num_hiddens: int, seed: int):
    from mxnet.gluon import rnn as grnn

    from seqmx import fused, gru, lstm, rnn
    rnn.set_seed(seed)
    if impl in SCRATCH_IMPLS:  # the same parameters and state; only the forward function differs
        get_params, init_state, forward = {"rnn": (rnn.get_rnn_params, rnn.init_rnn_state, rnn.rnn),
                                           "gru": (gru.get_gru_params, gru.init_gru_state, gru.gru),
                                           "lstm": (lstm.get_lstm_params, lstm.init_lstm_state, lstm.lstm)}[cell]
        if impl == "scratch, fused gates":
            forward = {"rnn": fused.rnn_fused, "gru": fused.gru_fused, "lstm": fused.lstm_fused}[cell]
        return rnn.RNNModelScratch(vocab_size, num_hiddens, None, get_params, init_state, forward)
    layer = {"rnn": lambda: grnn.RNN(num_hiddens, activation="tanh"),
             "gru": lambda: grnn.GRU(num_hiddens), "lstm": lambda: grnn.LSTM(num_hiddens)}[cell]()
    net = rnn.RNNModel(layer, vocab_size)
    net.initialize()  # as seqmx.compare.measure does
    net.hybridize()
    return net


def make_variant_net(v: Variant, vocab_size: int, num_hiddens: int, seed: int):
    """The Gluon model of a variant, initialised and hybridized as the course does."""
    from mxnet.gluon import rnn as grnn

    from seqmx import rnn, wordlm
    if v.corpus == "ptb":  # the chapter's model, built by the chapter's function
        return wordlm.make_model(vocab_size, dropout=v.dropout, seed=seed, tied=v.tied, num_hiddens=v.num_hiddens,
                                 num_layers=v.num_layers, embed_size=v.embed_size)
    rnn.set_seed(seed)
    layer = grnn.LSTM(v.num_hiddens or num_hiddens, num_layers=v.num_layers, bidirectional=v.bidirectional)
    net = rnn.RNNModel(layer, vocab_size, embed_size=v.embed_size)
    net.initialize()
    net.hybridize()
    return net


def variant_params(v: Variant, vocab_size: int, num_hiddens: int) -> int:
    from mxnet import np

    from seqmx import rnn
    net = make_variant_net(v, vocab_size, num_hiddens, 0)
    net(np.zeros((1, 1)), net.begin_state(1))
    return rnn.num_params(net)


def timed_training(net, batches: list, args, lr: float, clip: float) -> float:
    """Tokens/s of the timed minibatches, after the warm-up ones, as seqmx.rnn.train trains ``net``.

    Gluon models: inside seqmx.rnn.fused_weights, with a gluon.Trainer (SGD) made there, as
    seqmx.rnn.train and seqmx.wordlm.train do; scratch models pass through with seqmx.rnn.sgd.
    """
    from mxnet import gluon

    from seqmx import rnn
    with rnn.fused_weights(net):
        trainer = (gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
                   if isinstance(net, gluon.Block) else None)
        rnn.train_epoch(net, Batches(batches[:args.warmup]), lr, clip, trainer)
        timed = batches[args.warmup:args.warmup + args.timed]
        return rnn.train_epoch(net, Batches(timed), lr, clip, trainer)["tokens_per_sec"]


def run_variant(v: Variant, batches: list, vocab_size: int, args, lr: float, clip: float) -> float:
    """Tokens/s of the timed minibatches of a variant, trained with seqmx.rnn.train_epoch."""
    return timed_training(make_variant_net(v, vocab_size, args.num_hiddens, args.seed), batches, args, lr, clip)


def torch_variant_options(v: Variant, num_hiddens: int) -> list[str]:
    opts = ["--cell", v.cell, "--num-layers", str(v.num_layers), "--dropout", str(v.dropout),
            "--num-hiddens", str(v.num_hiddens or num_hiddens)]
    if v.bidirectional:
        opts.append("--bidirectional")
    if v.embed_size:
        opts += ["--embed-size", str(v.embed_size)]
    if v.tied:
        opts.append("--tied")
    return opts


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
    net = make_course_net(cell, impl, vocab_size, args.num_hiddens, args.seed)
    return timed_training(net, batches, args, args.lr, args.clip)


def paired_ratio(runs: list, torch_runs: list) -> tuple[float, float, float]:
    """Median, lowest and highest of run-by-run ratios course / PyTorch: run i of each, side by side.

    Each repeat times the course model and then PyTorch within a few seconds, so a pair sees the
    same machine. This machine's speed drifts over minutes: the course's Gluon LSTM, same
    settings, ran at a median of 56k tokens/s in one process and 78k in one started about a
    minute later (8 runs each, 2026-12-06). A ratio of medians mixes runs made minutes apart; a
    ratio of neighbours does not.
    """
    if len(runs) != len(torch_runs) or not runs:
        raise ValueError(f"paired runs needed: {len(runs)} course runs, {len(torch_runs)} PyTorch runs")
    ratios = [r / t for r, t in zip(runs, torch_runs)]
    return statistics.median(ratios), min(ratios), max(ratios)


def paired_text(runs: list, torch_runs: list) -> str:
    """:func:`paired_ratio` as the report writes it: ``0.88x (0.73-1.03)``."""
    return "{:.2f}x ({:.2f}-{:.2f})".format(*paired_ratio(runs, torch_runs))


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
    p.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=sorted(VARIANTS),
                   help="larger models, Gluon against PyTorch (none: --variants with no name)")
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

    from seqmx import blas, rnn

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
    # each variant's corpus, minibatches and recipe: (batches, vocabulary size, lr, clip, batch_size, num_steps)
    corpora = {"tm": (batches, V, args.lr, args.clip, args.batch_size, args.num_steps)}
    if any(VARIANTS[n].corpus == "ptb" for n in args.variants):
        from seqmx import wordlm
        cfg = wordlm.CONFIGS["tied-dropout"]
        ptb, ptb_vocab = wordlm.load_ptb()
        ptb_batches = []
        for X, Y in rnn.SeqDataLoader(ptb["train"], cfg.batch_size, cfg.num_steps, seed=args.seed):
            ptb_batches.append((X, Y))
            if len(ptb_batches) == args.warmup + args.timed:
                break
        corpora["ptb"] = (ptb_batches, len(ptb_vocab), cfg.lr, cfg.clip_theta, cfg.batch_size, cfg.num_steps)
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

    impls = IMPLS if has_torch else COURSE_IMPLS
    vimpls = [i for i in impls if i in VARIANT_IMPLS]
    params = {(c, i): course_params(c, i, V, args.num_hiddens) for c in args.cells for i in COURSE_IMPLS}
    rates: dict = {(c, i): [] for c in args.cells for i in impls}
    loads = [load_start[0]]  # the 1-minute load average after every run: how busy the machine was
    variants = {n: VARIANTS[n] for n in args.variants}
    vparams = {(n, "Gluon"): variant_params(v, corpora[v.corpus][1], args.num_hiddens) for n, v in variants.items()}
    vrates: dict = {(n, i): [] for n in variants for i in vimpls}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, (bs, *_) in corpora.items():
            files[name] = Path(tmp) / f"{name}.npy"
            onp.save(files[name], onp.stack([onp.stack([X.asnumpy(), Y.asnumpy()]) for X, Y in bs]).astype("int32"))
        data = files["tm"]
        train_opts = [*common, "--data", str(data), "--lr", str(args.lr), "--clip", str(args.clip),
                      "--warmup", str(args.warmup), "--timed", str(args.timed)]
        for run in range(args.repeat):
            for name, v in variants.items():
                bs, vocab_size, lr, clip, _, _ = corpora[v.corpus]
                for impl in vimpls:
                    if impl == "PyTorch":
                        out = run_torch("train", torch_python, "--vocab-size", str(vocab_size),
                                        "--threads", str(args.threads), "--seed", str(args.seed),
                                        *torch_variant_options(v, args.num_hiddens), "--data", str(files[v.corpus]),
                                        "--lr", str(lr), "--clip", str(clip), "--warmup", str(args.warmup),
                                        "--timed", str(args.timed))
                        vparams[name, impl] = out["parameters"]
                        vrates[name, impl].append(out["tokens_per_sec"])
                    else:
                        vrates[name, impl].append(run_variant(v, bs, vocab_size, args, lr, clip))
                    loads.append(os.getloadavg()[0])
                    print(f"run {run} {name} {impl}: {vrates[name, impl][-1]:,.0f} tokens/s", flush=True)
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

    rows = ["| model | impl | parameters | tokens/s (median) | vs PyTorch | vs PyTorch, paired (range) | GFLOP/s "
            "| share of peak | tokens/s (best) | vs PyTorch (best) | runs (tokens/s) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    def speed_cells(runs: list, torch_runs: list | None, flops: int) -> str:
        """The table cells from 'tokens/s (median)' to 'runs' of one row."""
        med, best = statistics.median(runs), max(runs)
        gflops = med * flops / 1e9
        vs = f"{med / statistics.median(torch_runs):.2f}x" if torch_runs else "–"
        paired = paired_text(runs, torch_runs) if torch_runs else "–"
        vs_best = f"{best / max(torch_runs):.2f}x" if torch_runs else "–"
        return (f"{med:,.0f} | {vs} | {paired} | {gflops:.2f} | {gflops / peak:.1%} | {best:,.0f} | {vs_best} | "
                f"{', '.join(f'{r:,.0f}' for r in runs)} |")

    for cell in args.cells:
        flops = train_flops_per_token(cell, V, args.num_hiddens)
        torch_runs = rates[cell, "PyTorch"] if has_torch else None
        for impl in impls:
            rows.append(f"| {cell.upper()} | {impl} | {params[cell, impl]:,} | "
                        + speed_cells(rates[cell, impl], torch_runs, flops))
    vrows = ["| model | impl | minibatch | parameters | tokens/s (median) | vs PyTorch | vs PyTorch, paired (range) "
             "| GFLOP/s | share of peak | tokens/s (best) | vs PyTorch (best) | runs (tokens/s) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, v in variants.items():
        _, vocab_size, lr, clip, batch_size, num_steps = corpora[v.corpus]
        flops = train_flops_per_token(v.cell, vocab_size, v.num_hiddens or args.num_hiddens, v.embed_size,
                                      v.num_layers, v.bidirectional)
        torch_runs = vrates[name, "PyTorch"] if has_torch else None
        for impl in vimpls:
            vrows.append(f"| {v.title} (`{name}`) | {impl} | {batch_size} x {num_steps}, SGD {lr:g}, clip {clip:g} | "
                         f"{vparams[name, impl]:,} | " + speed_cells(vrates[name, impl], torch_runs, flops))
    if has_torch:
        ratios = [f"{c.upper()} " + " / ".join(
            f"{statistics.median(rates[c, i]) / statistics.median(rates[c, 'PyTorch']):.2f}x" for i in COURSE_IMPLS)
            for c in args.cells]
        headline = (f"training tokens/s of the course's models against PyTorch (median, {args.threads} threads, "
                    f"scratch / scratch with fused gates / Gluon): {', '.join(ratios)}.")
        if variants:
            headline += " Larger models, Gluon: " + ", ".join(
                f"{v.title} {statistics.median(vrates[n, 'Gluon']) / statistics.median(vrates[n, 'PyTorch']):.2f}x"
                for n, v in variants.items()) + "."
        paired = ([f"{c.upper()} {paired_text(rates[c, 'Gluon'], rates[c, 'PyTorch'])}" for c in args.cells]
                  + [f"{v.title} {paired_text(vrates[n, 'Gluon'], vrates[n, 'PyTorch'])}" for n, v in variants.items()])
        headline += (" Gluon against PyTorch run by run (the median of the ratios of neighbouring runs, and their "
                     f"range): {', '.join(paired)}.")
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
        + (f" OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} (seqmx.blas, for this CPU): the OpenBLAS "
           f"inside MXNet ran its {blas.mxnet_kernels()} kernels (PyTorch's CPU build uses MKL, BLAS_INFO=mkl)."
           if "OPENBLAS_CORETYPE" in os.environ else ""),
        "",
        f"Headline: {headline}",
        "",
        f"The Time Machine, characters (vocabulary {V}), batch_size {args.batch_size}, num_steps {args.num_steps}, "
        f"num_hiddens {args.num_hiddens}, SGD lr {args.lr:g}, clipping at {args.clip:g}, {args.threads} threads "
        f"(OMP_NUM_THREADS={args.threads} for MXNet, torch.set_num_threads({args.threads})), seed {args.seed}. "
        f"Each run trains {args.warmup} minibatches untimed, then times {args.timed} "
        f"({args.timed * args.batch_size * args.num_steps:,} tokens); {args.repeat} runs per row, interleaved "
        "scratch / scratch with fused gates / Gluon / PyTorch model by model. `vs PyTorch` is the ratio of medians, "
        "course / PyTorch (above 1: the course model is faster); `paired` is the median of the run-by-run "
        "ratios (run i of the course model against run i of PyTorch, made seconds apart), with their range: "
        "it is not moved by the machine's speed drifting between runs made minutes apart (see paired_ratio). "
        "GFLOP/s and share of peak are of the median. "
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
        "are not counted. The count is the model's: the scratch model with fused gates (seqmx.fused) does the "
        "same products, as fewer and larger ones.",
        "",
        "| model | G | FLOPs per training token |",
        "| --- | ---: | ---: |",
        *flop_lines,
    ]
    if variants:
        lines += [
            "",
            "## Larger models, Gluon against PyTorch",
            "",
            "Same runs, interleaved with the rows above; each model in its own chapter's configuration "
            "(see bench/model_speed.py's docstring). FLOPs per token count every layer and direction "
            "(2·G·H·(input + H) each) and the output layer; the PTB model's input is its 200-wide embedding.",
            "",
            *vrows,
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
