"""Benchmark: a word-level 2x200 LSTM on Penn Treebank, to test perplexity <= 114.5 in less CPU time (issue 6).

Usage: OMP_NUM_THREADS=1 python bench/ptb_lstm.py [--config tied|tied-dropout|zaremba|fast]
       [--probe-batches 200] [--max-epochs N] [--time-budget SECONDS] [--stop-at-target]
       [--report bench/reports/ptb-lstm.md]

One OpenMP thread: on the 2 cores here a second thread did not shorten an epoch (236 s wall either
way, 20 x 35 minibatches) and doubled its CPU time.

The target is Zaremba et al. (2014), small non-regularized model: test
perplexity 114.5 after 13 epochs of SGD (batch 20, 20 steps, lr 1 halved
every epoch after the 4th, clip norm 5, uniform init 0.1, no dropout). The
model is the same in every configuration: ``seqmx.wordlm.WordLM`` (a
``seqmx.rnn.RNNModel``) with an Embedding of 200, ``rnn.LSTM(200,
num_layers=2)`` and a Dense head over the 10,000 words (Mikolov's split
from ``data/ptb.zip``, each sentence ending in ``<eos>``, vocabulary from the training text). The model, the recipes
(``CONFIGS``), the data and the training loop live in ``seqmx.wordlm``
(taught in the book), which this script imports; it adds the Zaremba probe
and the report.

One run first trains ``--probe-batches`` minibatches of the Zaremba
configuration and extrapolates its CPU time (user + sys of every thread) and
wall time to a full epoch and to 13 epochs; then it trains ``--config`` epoch
by epoch, printing train, validation and test perplexity and the CPU seconds
spent (evaluation included), and stops early when validation perplexity
stops improving (the reported test perplexity is the one of the best
*validation* epoch; test perplexity is printed but never used to select).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import mxnet as mx
from mxnet import gluon, npx  # noqa: F401  (gluon: tests/test_ptb_lstm.py makes its Trainer from here)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from seqmx import rnn  # noqa: E402
# the model, its recipes, the data and the training loop: one source of truth, taught in the book
from seqmx.wordlm import (CONFIGS, EVAL_BATCH, TARGET_PPL, Config, LanguageModel, WordLM,  # noqa: E402,F401
                          cpu_seconds, load_ptb, make_model)
from seqmx.wordlm import lr_schedule as epochs_schedule  # noqa: E402,F401
from seqmx.wordlm import train as _train  # noqa: E402

npx.set_np()


def probe_zaremba(corpus: list[int], vocab_size: int, num_batches: int, seed: int) -> dict:
    """Time ``num_batches`` minibatches of the Zaremba configuration; extrapolate to one epoch of ``corpus``."""
    cfg = CONFIGS["zaremba"]
    tokens_per_batch = cfg.batch_size * cfg.num_steps
    net = make_model(vocab_size, seed=seed)
    trainer = gluon.Trainer(net.collect_params(), cfg.optimizer, {"learning_rate": cfg.lr})
    # a corpus of exactly k sequential minibatches: the first 5 build the graph, untimed
    warm = rnn.SeqDataLoader(corpus[:5 * tokens_per_batch + cfg.batch_size], cfg.batch_size, cfg.num_steps,
                             seed=seed, shuffle=False)
    rnn.train_epoch(net, warm, cfg.lr, cfg.clip_theta, trainer)
    timed = rnn.SeqDataLoader(corpus[:num_batches * tokens_per_batch + cfg.batch_size], cfg.batch_size,
                              cfg.num_steps, seed=seed, shuffle=False)
    npx.waitall()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    stats = rnn.train_epoch(net, timed, cfg.lr, cfg.clip_theta, trainer)
    npx.waitall()
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    done = len(stats["grad_norms"])
    full = ((len(corpus) // cfg.batch_size) - 1) // cfg.num_steps  # minibatches of one sequential epoch
    return {"batches": done, "cpu": cpu, "wall": wall, "epoch_batches": full,
            "epoch_cpu": cpu / done * full, "epoch_wall": wall / done * full, "train_ppl": stats["train_ppl"]}


def train(cfg: Config, corpora: dict[str, list[int]], vocab_size: int, seed: int, max_epochs: int,
          time_budget: float | None, stop_at_target: bool = False, on_epoch=None) -> list[dict]:
    """:func:`seqmx.wordlm.train`, printing each epoch's row of the report as it is made."""
    def report(rows):
        print(row_line(rows[-1]), flush=True)
        if on_epoch is not None:
            on_epoch(rows)
    return _train(cfg, corpora, vocab_size, seed, max_epochs, time_budget, stop_at_target, on_epoch=report)


HEADER = ["epoch", "lr", "train ppl", "valid ppl", "test ppl", "epoch CPU s", "wall s", "cumulative CPU s",
          "load (1 min)"]


def row_line(r: dict) -> str:
    return (f"| {r['epoch']} | {r['lr']:g} | {r['train']:.1f} | {r['valid']:.1f} | {r['test']:.1f} | "
            f"{r['cpu']:.0f} | {r['wall']:.0f} | {r['cum_cpu']:.0f} | {r['load']:.1f} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="fast")
    p.add_argument("--probe-batches", type=int, default=200, help="Zaremba minibatches timed (0: skip)")
    p.add_argument("--max-epochs", type=int, default=100, help="cap on the configuration's epochs")
    p.add_argument("--time-budget", type=float, default=None, help="wall seconds; no epoch starts past it")
    p.add_argument("--stop-at-target", action="store_true",
                   help="stop once the best validation epoch has test perplexity <= 114.5")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report", default=None, help="write a markdown report here")
    args = p.parse_args()
    cfg = CONFIGS[args.config]
    load_start, started = os.getloadavg(), datetime.now(timezone.utc)
    corpora, vocab = load_ptb()
    print(f"PTB: vocab {len(vocab)}, tokens train {len(corpora['train'])}, valid {len(corpora['valid'])}, "
          f"test {len(corpora['test'])}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    probe = None
    if args.probe_batches:
        probe = probe_zaremba(corpora["train"], len(vocab), args.probe_batches, args.seed)
        print(f"zaremba probe: {probe['batches']} minibatches in {probe['cpu']:.1f} CPU s ({probe['wall']:.1f} s "
              f"wall) -> one epoch of {probe['epoch_batches']} minibatches {probe['epoch_cpu']:.0f} CPU s "
              f"({probe['epoch_wall']:.0f} s wall), 13 epochs {13 * probe['epoch_cpu']:.0f} CPU s", flush=True)
    print(f"config {args.config}: {cfg}")
    print("| " + " | ".join(HEADER) + " |\n|" + " --- |" * len(HEADER), flush=True)

    def report(rows: list[dict]) -> list[str]:
        summary = summarize(args.config, rows, probe)
        if args.report:  # after every epoch: a run stopped early keeps its figures
            write_report(Path(args.report), args, cfg, rows, summary, load_start, started)
        return summary

    rows = train(cfg, corpora, len(vocab), args.seed, args.max_epochs, args.time_budget, args.stop_at_target,
                 on_epoch=report)
    print("\n".join(report(rows)))
    return 0


def summarize(config: str, rows: list[dict], probe: dict | None) -> list[str]:
    """The headline and the summary lines of a run so far."""
    best = min(rows, key=lambda r: r["valid"])
    total_cpu = rows[-1]["cum_cpu"]
    verdict = "reached" if best["test"] <= TARGET_PPL else "not reached"
    headline = (f"Headline: test perplexity {best['test']:.1f} ({verdict}; target {TARGET_PPL}) after "
                f"{best['epoch']} epoch(s) of `{config}`, {best['cum_cpu']:.0f} CPU s")
    summary = [f"Best validation epoch {best['epoch']}: valid ppl {best['valid']:.1f}, **test ppl "
               f"{best['test']:.1f}** (target {TARGET_PPL}: {'reached' if best['test'] <= TARGET_PPL else 'NOT reached'})"
               f"; total CPU {total_cpu:.0f} s (evaluation included), cumulative CPU at that epoch "
               f"{best['cum_cpu']:.0f} s."]
    if probe:
        z13 = 13 * probe["epoch_cpu"]
        summary.append(f"Zaremba configuration, measured in this run: {probe['cpu']:.1f} CPU s "
                       f"({probe['wall']:.1f} s wall) for {probe['batches']} minibatches of 20 x 20, so "
                       f"{probe['epoch_cpu']:.0f} CPU s ({probe['epoch_wall']:.0f} s wall) per epoch of "
                       f"{probe['epoch_batches']} minibatches and {z13:.0f} CPU s for 13 epochs (training only). "
                       f"Ratio, this run's CPU total / Zaremba's 13 epochs: {total_cpu / z13:.2f}.")
        headline += f" ({best['cum_cpu'] / z13:.2f}x the Zaremba configuration's 13 epochs, {z13:.0f} CPU s)"
    return [headline + ".", *summary]


def write_report(path: Path, args, cfg: Config, rows: list[dict], summary: list[str], load_start, started) -> None:
    load_end = os.getloadavg()
    cmd = " ".join(["OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "unset"), "python",
                    *[a if not a.startswith("/") else os.path.relpath(a, REPO) for a in sys.argv]])
    lines = [
        "# Penn Treebank, word-level 2x200 LSTM: test perplexity and CPU time",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, mxnet {mx.__version__}, by `{cmd}`. Load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in load_start)} at the start and {', '.join(f'{x:.2f}' for x in load_end)} "
        "at the end (above 1 on 2 cores: other jobs ran beside it; a one-thread run then loses little "
        "wall time, but shared caches can still inflate its CPU seconds).",
        "",
        f"Configuration `{args.config}`: {cfg}. Model: Embedding(10000, 200), LSTM(200, 2 layers), "
        f"Dense(10000); validation and test perplexity over {EVAL_BATCH} sequential streams with the state "
        "carried over; CPU time is user + sys of all threads (`getrusage`).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + " ---: |" * len(HEADER),
        *(row_line(r) for r in rows),
        "",
        *summary,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
