"""Trained models shipped in ``data/checkpoints/``: training with provenance, checksummed loading.

Taught in chapter "A word-level LSTM on Penn Treebank" and used in
chapters "Comparing recurrent models" (the converged character-level models),
"RNN with Gluon" (the Tang-quatrain GRU) and "Encoder-decoder and sequence to
sequence" (the English-French encoder-decoder). Each model :data:`MODELS`
names is trained by :func:`train` with the library's own code
(``seqmx.wordlm`` for the PTB LSTM, ``seqmx.rnn`` for the character-level
models, ``seqmx.seq2seq`` for the translation model) and stored as three things:

* ``<name>.params``: the parameters (``HybridBlock.save_parameters``);
* ``<name>.json``: its provenance: the command that made it, seed, epochs,
  CPU and wall seconds, library versions, hyperparameters, per-epoch
  history and the final training, validation (and test) perplexity;
* a line for each of the two files in ``data/SHA1SUMS`` (as ``checkpoints/<file>``; a checkpoint
  directory elsewhere keeps its own ``SHA1SUMS``).

:func:`load` verifies both checksums before it rebuilds the model, and
:func:`evaluate` recomputes the held-out perplexities that the provenance
records (``tests/test_checkpoints.py`` compares them). ``make checkpoints``
(``scripts/train_checkpoints.py``) retrains them all.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from seqmx import data

#: Where the checkpoints live: ``checkpoints/`` in the data directory (``$SEQMX_DATA`` or ``data/``).
CHECKPOINT_DIR = data.DATA_DIR / "checkpoints"
REPO = Path(__file__).resolve().parent.parent


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unlisted or corrupt."""


@dataclass(frozen=True)
class CharModel:
    """A character-level model of *The Time Machine*, in the configuration of chapter "Comparing
    recurrent models" (one-hot inputs, Gluon layer, SGD with clipping, sequential partitioning),
    trained to convergence: whenever validation perplexity fails to improve by ``min_delta``
    (relative), the learning rate is halved; training stops after ``max_halvings`` halvings or
    ``max_epochs`` epochs, and the parameters of the best validation epoch are kept."""
    cell: str                # "rnn" (tanh), "gru" or "lstm"
    num_layers: int = 1
    num_hiddens: int = 128
    batch_size: int = 64
    num_steps: int = 35
    lr: float = 8.0
    clip_theta: float = 0.25
    seed: int = 0
    max_epochs: int = 150
    max_halvings: int = 4
    min_delta: float = 1e-3


@dataclass(frozen=True)
class TangModel:
    """The Tang-quatrain GRU of chapter "RNN with Gluon" (embedding 128, GRU 256, Adam at 0.005, clipping
    at 1, characters seen once in training as ``<unk>``), trained to convergence with the rule of
    :class:`CharModel`: the learning rate is halved after each epoch that does not improve validation
    perplexity by ``min_delta``, training stops at the ``max_halvings + 1``-th, and the best epoch is kept."""
    num_hiddens: int = 256
    embed_size: int = 128
    batch_size: int = 32
    num_steps: int = 35
    min_freq: int = 2
    lr: float = 0.005
    clip_theta: float = 1.0
    seed: int = 7            # the chapter's tang_net: set_seed(7) before building
    max_epochs: int = 40
    max_halvings: int = 2
    min_delta: float = 1e-3
    optimizer: str = "adam"


@dataclass(frozen=True)
class Seq2SeqModel:
    """The English-French encoder-decoder of chapter "Encoder-decoder and sequence to sequence"
    (:mod:`seqmx.seq2seq`: embeddings 64, two-layer LSTMs of 128 units, Adam at 0.005, teacher-forcing
    ratio 0.5, pairs of at most 6 tokens), trained to convergence: after each epoch the held-out loss
    per target token with the true previous tokens fed (``seqmx.seq2seq.evaluate_loss``, ratio 1) is
    computed; an epoch that does not improve it by ``min_delta`` (relative) halves the learning rate,
    the ``max_halvings + 1``-th stops training, and the parameters of the best epoch are kept."""
    embed_size: int = 64
    num_hiddens: int = 128
    num_layers: int = 2
    dropout: float = 0.0
    batch_size: int = 64
    max_len: int = 6
    lr: float = 0.005
    teacher_forcing_ratio: float = 0.5
    clip_theta: float = 1.0
    seed: int = 0
    max_epochs: int = 60
    max_halvings: int = 2
    min_delta: float = 1e-3
    eval_batch: int = 256


@dataclass(frozen=True)
class WordModel:
    """The PTB word-level LSTM of :mod:`seqmx.wordlm`, configuration ``config``, ``epochs`` epochs."""
    config: str = "tied-dropout"
    epochs: int = 5
    seed: int = 0


#: Every checkpoint, in training order.
MODELS = {
    "ptb-lstm": WordModel(),
    "tm-rnn": CharModel("rnn"),
    "tm-gru": CharModel("gru"),
    "tm-lstm": CharModel("lstm"),
    "tm-lstm2": CharModel("lstm", num_layers=2),
    "tang": TangModel(),
    "seq2seq": Seq2SeqModel(),
}


# --- files and checksums ------------------------------------------------------------------------

sha1_of = data.sha1_of


def _sums_file(directory: Path) -> tuple[Path, str]:
    """Where a checkpoint directory's checksums are listed, and the prefix of its file names there:
    ``data/SHA1SUMS`` for the shipped ``data/checkpoints/`` (one list for everything in ``data/``),
    the directory's own ``SHA1SUMS`` for one elsewhere (a retraining into another folder, a test)."""
    directory = Path(directory)
    if directory.resolve() == CHECKPOINT_DIR.resolve():
        return directory.parent / "SHA1SUMS", f"{directory.name}/"
    return directory / "SHA1SUMS", ""


def _read_sums(directory: Path) -> dict[str, str]:
    sums, prefix = _sums_file(directory)
    if not sums.is_file():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        digest, _, fname = line.partition("  ")
        if fname.strip().startswith(prefix) and fname.strip() != prefix:
            out[fname.strip()[len(prefix):]] = digest.strip()
    return out


def _write_sums(directory: Path, sums: dict[str, str]) -> None:
    """Replace the directory's lines of its checksum list, keeping every other line (the corpora's)."""
    path, prefix = _sums_file(directory)
    others = path.read_text().splitlines() if prefix and path.is_file() else []  # a shared list only
    kept = [line for line in others if not line.partition("  ")[2].strip().startswith(prefix)]
    lines = kept + [f"{digest}  {prefix}{fname}" for fname, digest in sorted(sums.items())]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


def verified_path(fname: str, directory: Path | None = None) -> Path:
    """The path of checkpoint file ``fname`` after checking its SHA-1 against ``SHA1SUMS``."""
    directory = Path(directory or CHECKPOINT_DIR)
    path, expected = directory / fname, _read_sums(directory).get(fname)
    restore = f"restore it with `git checkout {path}` or retrain with `make checkpoints`"
    if expected is None:
        raise CheckpointError(f"{_sums_file(directory)[0]}: no checksum listed for {fname!r}; {restore}")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file is missing; {restore}")
    actual = sha1_of(path)
    if actual != expected:
        raise CheckpointError(f"{path}: corrupt checkpoint (SHA-1 {actual}, expected {expected}); {restore}")
    return path


def available(directory: Path | None = None) -> list[str]:
    """The names of :data:`MODELS` whose parameters are listed in ``SHA1SUMS``."""
    sums = _read_sums(Path(directory or CHECKPOINT_DIR))
    return [name for name in MODELS if f"{name}.params" in sums]


# --- building the models ----------------------------------------------------------------------------

def char_data(spec: CharModel | TangModel):
    """``(train_iter, valid_iter, vocab)`` for ``spec``: The Time Machine (the course's split), or the Tang
    quatrains of chapter "RNN with Gluon" (the last 10% of the poems held out)."""
    from seqmx import rnn
    if isinstance(spec, TangModel):
        return rnn.load_data_tang(spec.batch_size, spec.num_steps, min_freq=spec.min_freq)
    return rnn.load_data_time_machine(spec.batch_size, spec.num_steps, seed=spec.seed)


def nmt_data(spec: Seq2SeqModel):
    """``(nmt, heldout_iter)``: the pairs and vocabularies of ``seqmx.seq2seq.load_data_nmt`` for ``spec``,
    and the held-out pairs in fixed minibatches (``BucketLoader`` without shuffling), as the chapter has them."""
    from seqmx import seq2seq as s2s
    nmt = s2s.load_data_nmt(spec.batch_size, max_len=spec.max_len, seed=spec.seed)
    heldout_iter = s2s.BucketLoader(*nmt.heldout, nmt.src_vocab, nmt.tgt_vocab, batch_size=spec.eval_batch,
                                    shuffle=False)
    return nmt, heldout_iter


def build(name: str, vocab_size: int, src_vocab_size: int | None = None):
    """A fresh, uninitialised model of checkpoint ``name`` (shapes fixed: parameters can be loaded).

    ``vocab_size`` is the size of the output vocabulary (the target language's for ``seq2seq``, whose
    source vocabulary is ``src_vocab_size``)."""
    from mxnet.gluon import rnn as grnn
    from seqmx import rnn, wordlm
    spec = MODELS[name]
    if isinstance(spec, WordModel):
        cfg = wordlm.CONFIGS[spec.config]
        return wordlm.make_model(vocab_size, cfg.dropout, spec.seed, cfg.tied, initialize=False)
    if isinstance(spec, Seq2SeqModel):
        from seqmx import seq2seq as s2s
        return s2s.EncoderDecoder(
            s2s.Seq2SeqEncoder(src_vocab_size, spec.embed_size, spec.num_hiddens, spec.num_layers, spec.dropout),
            s2s.Seq2SeqDecoder(vocab_size, spec.embed_size, spec.num_hiddens, spec.num_layers, spec.dropout))
    if isinstance(spec, TangModel):
        return rnn.RNNModel(grnn.GRU(spec.num_hiddens), vocab_size, embed_size=spec.embed_size)
    layers = {"rnn": lambda: grnn.RNN(spec.num_hiddens, spec.num_layers, activation="tanh"),
              "gru": lambda: grnn.GRU(spec.num_hiddens, spec.num_layers),
              "lstm": lambda: grnn.LSTM(spec.num_hiddens, spec.num_layers)}
    return rnn.RNNModel(layers[spec.cell](), vocab_size)


def load(name: str, directory: Path | None = None):
    """``(net, provenance)``: checkpoint ``name`` rebuilt from its verified files.

    Raises :class:`CheckpointError` if a file is missing or its SHA-1 differs
    from ``SHA1SUMS``. Taught in chapter "A word-level LSTM on Penn Treebank".
    """
    import mxnet as mx
    if name not in MODELS:
        raise KeyError(f"unknown checkpoint {name!r}; known: {', '.join(MODELS)}")
    provenance = json.loads(verified_path(f"{name}.json", directory).read_text())
    params = verified_path(f"{name}.params", directory)
    net = build(name, provenance["vocab_size"], provenance.get("src_vocab_size"))
    net.load_parameters(str(params), ctx=mx.cpu())
    net.hybridize()
    return net, provenance


def evaluate(name: str, net, provenance: dict | None = None) -> dict:
    """The held-out perplexities of a model of checkpoint ``name``, computed as its provenance records them.

    ``{"valid": ...}`` for the character-level models, ``{"valid": ..., "test": ...}`` for PTB; for
    ``seq2seq``, ``{"valid": ...}`` is the perplexity per target token of the held-out translations,
    exp of ``seqmx.seq2seq.evaluate_loss`` with the true previous tokens fed.
    """
    spec = MODELS[name]
    limit = (provenance or {}).get("eval_tokens")
    if isinstance(spec, Seq2SeqModel):
        from seqmx import seq2seq as s2s
        nmt, heldout_iter = nmt_data(spec)
        return {"valid": math.exp(s2s.evaluate_loss(net, heldout_iter, nmt.tgt_vocab, 1.0))}
    if isinstance(spec, WordModel):
        from seqmx import wordlm
        corpora, _ = wordlm.load_ptb()
        batch = (provenance or {}).get("eval_batch", wordlm.EVAL_BATCH)
        return {s: wordlm.evaluate(net, corpora[s][:limit], batch) for s in ("valid", "test")}
    from seqmx import rnn
    _, valid_iter, _ = char_data(spec)
    if limit:
        valid_iter.corpus = valid_iter.corpus[:limit]
    return {"valid": rnn.evaluate_perplexity(net, valid_iter)}


# --- training -------------------------------------------------------------------------------------------

def _versions() -> dict:
    import d2l
    import mxnet
    import numpy
    return {"python": platform.python_version(), "mxnet": mxnet.__version__, "numpy": numpy.__version__,
            "d2l": d2l.__version__}


#: the files whose code trains a checkpoint: a provenance names those that differ from its commit
_SOURCES = ["seqmx/checkpoints.py", "seqmx/wordlm.py", "seqmx/rnn.py", "seqmx/seq2seq.py", "seqmx/data.py",
            "scripts/train_checkpoints.py"]


def _git_commit() -> str | None:
    """HEAD, and which of :data:`_SOURCES` differ from it (uncommitted edits would make it a different run)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *_SOURCES], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.split()[1::2]
        if out.returncode != 0:
            return None
        return out.stdout.strip() + (f" (modified: {', '.join(dirty)})" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _train_word(spec: WordModel, max_batches, max_epochs, eval_tokens, log, deadline=None):
    from seqmx import wordlm
    cfg = wordlm.CONFIGS[spec.config]
    corpora, vocab = wordlm.load_ptb()
    if eval_tokens:
        corpora = {"train": corpora["train"], **{s: corpora[s][:eval_tokens] for s in ("valid", "test")}}
    net = wordlm.make_model(len(vocab), cfg.dropout, spec.seed, cfg.tied)

    def on_epoch(rows):
        r = rows[-1]
        log(f"epoch {r['epoch']}: lr {r['lr']:g}, train ppl {r['train']:.2f}, valid ppl {r['valid']:.2f}, "
            f"test ppl {r['test']:.2f}, {r['cpu']:.0f} CPU s, {r['wall']:.0f} s wall")

    epochs = min(spec.epochs, max_epochs or spec.epochs)
    budget = None if deadline is None else deadline - time.time()
    rows = wordlm.train(cfg, corpora, len(vocab), spec.seed, epochs, budget, on_epoch=on_epoch, net=net,
                        max_batches=max_batches)
    last = rows[-1]
    record = {"vocab_size": len(vocab), "hyperparameters": {**cfg.as_dict(), "config": spec.config,
                                                             "embed_size": 200, "num_hiddens": 200,
                                                             "num_layers": 2, "init": "uniform(-0.1, 0.1)"},
              "epochs": len(rows), "stopped": "epochs" if len(rows) == epochs else "deadline",
              "eval_batch": wordlm.EVAL_BATCH, "eval_steps": wordlm.EVAL_STEPS,
              "history": rows,
              "perplexity": {"train": last["train"], "valid": last["valid"], "test": last["test"]},
              "notes": ("train: averaged over the last epoch while training (dropout on); valid and test: "
                        f"after it, over {wordlm.EVAL_BATCH} sequential streams of {wordlm.EVAL_STEPS}-step "
                        "minibatches without offset, state carried over (seqmx.wordlm.evaluate)")}
    return net, record


def _until_converged(spec, net, trainer, run_epoch, log, max_epochs=None, deadline=None) -> tuple[list, dict, str]:
    """The convergence rule of :class:`CharModel`, :class:`TangModel` and :class:`Seq2SeqModel`.

    Epochs of ``run_epoch(epoch, lr)``, which trains one epoch and returns the epoch's row of the
    history and the held-out figure to lower. An epoch that does not lower the figure by
    ``spec.min_delta`` (relative) halves the learning rate; the ``spec.max_halvings + 1``-th stops
    training, as do ``max_epochs`` (default ``spec.max_epochs``) and an epoch that would end after
    ``deadline``. The parameters of the best epoch are loaded back into ``net``. Returns the rows,
    the kept row and why training stopped."""
    lr, halvings, best, best_epoch, rows, stopped = spec.lr, 0, math.inf, 0, [], "max_epochs"
    best_file = Path(tempfile.mkdtemp()) / "best.params"
    for epoch in range(1, (max_epochs or spec.max_epochs) + 1):
        wall0 = time.time()
        if deadline is not None and rows and wall0 + rows[-1]["wall"] > deadline:
            stopped = "deadline"
            log("another epoch would overrun the deadline: stop (not converged)")
            break
        trainer.set_learning_rate(lr)
        row, figure = run_epoch(epoch, lr)
        rows.append({"epoch": epoch, "lr": lr, **row, "wall": round(time.time() - wall0, 2)})
        if figure < best * (1 - spec.min_delta):
            best, best_epoch = figure, epoch
            net.save_parameters(str(best_file))
        else:
            halvings += 1
            if halvings > spec.max_halvings:
                stopped = "converged"
                break
            lr /= 2
    if best_epoch:
        net.load_parameters(str(best_file))
    best_file.unlink(missing_ok=True)
    best_file.parent.rmdir()
    return rows, (rows[best_epoch - 1] if best_epoch else rows[-1]), stopped


def _train_char(spec: CharModel | TangModel, max_batches, max_epochs, eval_tokens, log, deadline=None):
    from mxnet import gluon
    from seqmx import rnn, wordlm
    rnn.set_seed(spec.seed)
    train_iter, valid_iter, vocab = char_data(spec)
    if eval_tokens:
        valid_iter.corpus = valid_iter.corpus[:eval_tokens]
    net = build_char_initialised(spec, len(vocab))
    trainer = gluon.Trainer(net.collect_params(), getattr(spec, "optimizer", "sgd"), {"learning_rate": spec.lr})
    loader = wordlm._Head(train_iter, max_batches) if max_batches else train_iter

    def run_epoch(epoch: int, lr: float) -> tuple[dict, float]:
        stats = rnn.train_epoch(net, loader, lr, spec.clip_theta, trainer)
        valid = rnn.evaluate_perplexity(net, valid_iter)
        log(f"epoch {epoch}: lr {lr:g}, train ppl {stats['train_ppl']:.3f}, valid ppl {valid:.3f}")
        return {"train": stats["train_ppl"], "valid": valid}, valid

    rows, kept, stopped = _until_converged(spec, net, trainer, run_epoch, log, max_epochs, deadline)
    record = {"vocab_size": len(vocab), "hyperparameters": {k: v for k, v in spec.__dict__.items()},
              "epochs": len(rows), "best_epoch": kept["epoch"], "history": rows,
              "stopped": stopped, "converged": stopped == "converged",
              "perplexity": {"train": kept["train"], "valid": kept["valid"]},
              "notes": ("parameters of the best validation epoch; train: averaged over that epoch while "
                        "training; valid: after it, over the validation iterator of "
                        + ("seqmx.rnn.load_data_tang (the last 10% of the poems, " if isinstance(spec, TangModel)
                           else "seqmx.rnn.load_data_time_machine (the last 10% of the book, ")
                        + "sequential streams without offset). The learning rate is halved after each epoch "
                        "that does not "
                        f"improve validation perplexity by {spec.min_delta:.1%}; training stops at the "
                        f"{_ordinal(spec.max_halvings + 1)} such epoch.")}
    return net, record


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _train_seq2seq(spec: Seq2SeqModel, max_batches, max_epochs, eval_tokens, log, deadline=None):
    """Epochs of ``seqmx.seq2seq.train_seq2seq`` (one call per epoch, one Adam trainer throughout, the
    minibatch order and teacher-forcing coins of epoch ``e`` seeded by ``seed + e``), each followed by the
    held-out loss; the learning rate is halved on a plateau and the best epoch is kept."""
    from mxnet import gluon
    from seqmx import seq2seq as s2s
    from seqmx import wordlm
    from seqmx.rnn import set_seed
    nmt, heldout_iter = nmt_data(spec)
    set_seed(spec.seed)
    net = s2s.make_seq2seq(len(nmt.src_vocab), len(nmt.tgt_vocab), spec.embed_size, spec.num_hiddens,
                           spec.num_layers, spec.dropout)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": spec.lr})
    loader = wordlm._Head(nmt.train_iter, max_batches) if max_batches else nmt.train_iter

    def run_epoch(epoch: int, lr: float) -> tuple[dict, float]:
        hist = s2s.train_seq2seq(net, loader, lr, 1, nmt.tgt_vocab, spec.teacher_forcing_ratio,
                                 spec.clip_theta, seed=spec.seed + epoch - 1, trainer=trainer)
        train_loss, valid_loss = hist.train_loss[-1], s2s.evaluate_loss(net, heldout_iter, nmt.tgt_vocab, 1.0)
        log(f"epoch {epoch}: lr {lr:g}, train loss {train_loss:.4f}, held-out loss {valid_loss:.4f}")
        return ({"train_loss": train_loss, "valid_loss": valid_loss,
                 "train": math.exp(train_loss), "valid": math.exp(valid_loss)}, valid_loss)

    rows, kept, stopped = _until_converged(spec, net, trainer, run_epoch, log, max_epochs, deadline)
    held_src, held_tgt = nmt.heldout
    bleu = s2s.evaluate_bleu(net, held_src, held_tgt, nmt.src_vocab, nmt.tgt_vocab, num_steps=10)
    record = {"vocab_size": len(nmt.tgt_vocab), "src_vocab_size": len(nmt.src_vocab),
              "hyperparameters": {k: v for k, v in spec.__dict__.items()},
              "pairs": {"train": len(nmt.train[0]), "heldout": len(held_src)},
              "epochs": len(rows), "best_epoch": kept["epoch"], "history": rows,
              "stopped": stopped, "converged": stopped == "converged",
              "perplexity": {"train": kept["train"], "valid": kept["valid"]},
              "loss": {"train": kept["train_loss"], "valid": kept["valid_loss"]},
              "heldout_greedy": {"bleu_d2l_k2": sum(r["bleu"] for r in bleu) / len(bleu),
                                 "exact_match": sum(r["prediction"] == r["reference"] for r in bleu) / len(bleu)},
              "notes": ("parameters of the epoch with the lowest held-out loss (the held-out pairs of "
                        "seqmx.seq2seq.load_data_nmt: 10% of the distinct English sentences, with all their "
                        "translations; the same pairs on which BLEU is reported, so the kept epoch is chosen "
                        "on them). loss: mean cross-entropy per target token (<eos> included, padding "
                        "excluded); train: averaged over that epoch while training, at teacher-forcing ratio "
                        f"{spec.teacher_forcing_ratio}; valid: after it, with the true previous tokens fed "
                        "(seqmx.seq2seq.evaluate_loss, ratio 1). perplexity = exp(loss). heldout_greedy: "
                        "greedy decoding (at most 10 tokens), d2l's BLEU with k = 2 and the share of pairs "
                        "translated exactly, each pair against its own reference. The learning rate is halved "
                        f"after each epoch that does not improve the held-out loss by {spec.min_delta:.1%}; "
                        f"training stops at the {spec.max_halvings + 1}th such epoch.")}
    return net, record


def build_char_initialised(spec: CharModel | TangModel, vocab_size: int):
    """A character-level model initialised as chapter "Comparing recurrent models" does (Gluon's default)."""
    net = build(next(n for n, s in MODELS.items() if s == spec), vocab_size)
    net.initialize()
    net.hybridize()
    return net


def train(name: str, directory: Path | None = None, *, max_batches: int | None = None,
          max_epochs: int | None = None, eval_tokens: int | None = None, command: str | None = None,
          deadline: float | None = None, log=print) -> dict:
    """Train checkpoint ``name`` from its seed and write ``<name>.params``, ``<name>.json`` and their checksums.

    ``max_batches``, ``max_epochs`` and ``eval_tokens`` cut the run short
    (smoke tests; the provenance records them); no epoch starts that would
    end after ``deadline`` (a ``time.time()`` value; the provenance says
    whether the run stopped there). Returns the provenance.
    """
    from seqmx import wordlm
    directory = Path(directory or CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    spec = MODELS[name]
    started = datetime.now(timezone.utc)
    commit = _git_commit()  # the code the run starts from (another commit may land while it trains)
    cpu0, wall0 = wordlm.cpu_seconds(), time.perf_counter()
    trainer = {WordModel: _train_word, Seq2SeqModel: _train_seq2seq}.get(type(spec), _train_char)
    net, record = trainer(spec, max_batches, max_epochs, eval_tokens, log, deadline)
    cpu, wall = wordlm.cpu_seconds() - cpu0, time.perf_counter() - wall0
    params = directory / f"{name}.params"
    net.save_parameters(str(params), deduplicate=True)  # a tied matrix is stored once
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE", "MXNET_CPU_WORKER_NTHREADS")
           if k in os.environ}
    provenance = {
        "name": name,
        "model": type(spec).__name__,
        "script": "scripts/train_checkpoints.py",
        "command": command or " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
        "environment": env,
        "git_commit": commit,
        "trained_at": f"{started:%Y-%m-%d %H:%M} UTC",
        "seed": spec.seed,
        **record,
        "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(wall, 1),
        "cpu_count": os.cpu_count(),
        "versions": _versions(),
        "shortened": {"max_batches": max_batches, "max_epochs": max_epochs} if (max_batches or max_epochs) else None,
        "eval_tokens": eval_tokens,
        "params_bytes": params.stat().st_size,
    }
    meta = directory / f"{name}.json"
    meta.write_text(json.dumps(provenance, indent=1, default=float) + "\n")
    sums = _read_sums(directory)
    sums[params.name], sums[meta.name] = sha1_of(params), sha1_of(meta)
    _write_sums(directory, sums)
    return provenance
