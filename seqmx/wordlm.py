"""A word-level LSTM language model on Penn Treebank, and its interpolation with Kneser-Ney.

Taught in chapter "A word-level LSTM on Penn Treebank". The model is the
2x200 LSTM of Zaremba et al. (2014, "small"), with the output layer tied to
the input embedding (Press & Wolf, 2017) and dropout 0.2 (configuration ``tied-dropout``): five epochs of SGD
reach a test perplexity below Zaremba's 114.5 (``bench/ptb_lstm.py``, which
imports everything here, measures it; ``seqmx.checkpoints`` trains and stores
it).

The corpus is Mikolov's split from ``data/ptb.zip`` read as one stream of
words per split, each sentence ending in ``<eos>``, with the vocabulary of
the training text (10,000 words). Minibatches come from
:class:`seqmx.rnn.SeqDataLoader` (sequential partitioning, state carried
over); validation and test perplexity are computed over ``EVAL_BATCH``
sequential streams without offset, so that a given model always gets the
same number.
"""
from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import asdict, dataclass

import d2l.mxnet as d2l
import mxnet as mx
import numpy as onp
from mxnet import gluon, np, npx
from mxnet.gluon import nn
from mxnet.gluon import rnn as grnn

from seqmx import data, rnn

npx.set_np()

TARGET_PPL = 114.5  # Zaremba et al. 2014, table 1, non-regularized LSTM, test
EVAL_BATCH = 10     # streams for validation and test (as PyTorch's word_language_model)
EVAL_STEPS = 35     # time steps per evaluation minibatch


@dataclass(frozen=True)
class Config:
    """One training recipe. Taught in chapter "A word-level LSTM on Penn Treebank"."""
    batch_size: int
    num_steps: int
    optimizer: str
    lr: float             # for the loss averaged over every token of a minibatch
    clip_theta: float     # on the same averaged loss's gradient
    num_epochs: int
    decay_after: int      # lr halved every epoch after this many
    patience: int | None  # stop after this many epochs without a better validation perplexity
    dropout: float = 0.0  # on the embeddings, between the two LSTM layers and on the LSTM's output
    tied: bool = False    # the output layer's weight is the input embedding (Press & Wolf 2017)

    def as_dict(self) -> dict:
        return asdict(self)


CONFIGS = {
    # Zaremba's loss is summed over the 20 steps (averaged over the batch): lr 1 and clip 5 there are
    # lr 20 and clip 5/20 = 0.25 for the per-token mean that seqmx.rnn.train_epoch minimises.
    "zaremba": Config(batch_size=20, num_steps=20, optimizer="sgd", lr=20.0, clip_theta=0.25,
                      num_epochs=13, decay_after=4, patience=None),
    # Larger minibatches keep both cores busier per token; Adam makes progress in few epochs.
    "fast": Config(batch_size=64, num_steps=35, optimizer="adam", lr=2e-3, clip_theta=0.25,
                   num_epochs=13, decay_after=1, patience=1),
    # Zaremba's optimiser on 35-step windows (40% less CPU per token than 20 steps, measured), with the
    # output layer tied to the embedding: a better model of the same size, so that it passes 114.5
    # before the 13th epoch
    "tied": Config(batch_size=20, num_steps=35, optimizer="sgd", lr=20.0, clip_theta=0.25,
                   num_epochs=13, decay_after=5, patience=None, tied=True),
    # the same with dropout, which lets a model train longer before it overfits
    "tied-dropout": Config(batch_size=20, num_steps=35, optimizer="sgd", lr=20.0, clip_theta=0.25,
                           num_epochs=13, decay_after=6, patience=None, dropout=0.2, tied=True),
}


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (MXNet's engine and OpenMP workers) included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- data -------------------------------------------------------------------------------------

def ptb_stream(split: str) -> list[str]:
    """The words of one PTB split as one stream, every sentence followed by ``<eos>``."""
    # read_ptb gives the sentences without their end marker; the 10k-word models predict it too
    return [w for sentence in data.read_ptb(split) for w in sentence + ["<eos>"]]


def load_ptb() -> tuple[dict[str, list[int]], d2l.Vocab]:
    """Token indices of the three splits, every sentence ending in <eos>; vocabulary from the training split.

    Taught in chapter "A word-level LSTM on Penn Treebank".
    """
    tokens = {s: ptb_stream(s) for s in ("train", "valid", "test")}
    vocab = d2l.Vocab(tokens["train"])  # 9,999 words (<unk> among them) + <eos> = 10,000
    return {s: vocab[t] for s, t in tokens.items()}, vocab


# --- the model ----------------------------------------------------------------------------------

class WordLM(rnn.RNNModel):
    """``seqmx.rnn.RNNModel`` (Embedding -> LSTM -> Dense) with dropout around the LSTM and, if
    ``tied``, one matrix for the input embedding and the output layer (Press & Wolf 2017).

    Taught in chapter "A word-level LSTM on Penn Treebank".
    """

    def __init__(self, rnn_layer, vocab_size: int, embed_size: int, dropout: float = 0.0, tied: bool = False):
        super().__init__(rnn_layer, vocab_size, embed_size=embed_size)
        self.drop = nn.Dropout(dropout)  # active only under autograd.record(train_mode=True)
        if tied:
            # a Dense sharing the embedding's parameter dict finds its weight, (vocab, embed), there
            self.dense = nn.Dense(vocab_size, flatten=False, in_units=embed_size, params=self.embedding.params)

    def hybrid_forward(self, F, inputs, state):
        X = self.drop(self.embedding(inputs.T))               # (num_steps, batch_size, embed_size)
        Y, state = self.rnn(X, state)                          # (num_steps, batch_size, num_hiddens)
        output = self.dense(self.drop(Y)).reshape(-1, self.vocab_size)  # (num_steps * batch_size, vocab)
        return output, state


#: kept for bench/ptb_lstm.py's readers: the model class under its first name
LanguageModel = WordLM


def make_model(vocab_size: int, dropout: float = 0.0, seed: int = 0, tied: bool = False,
               num_hiddens: int = 200, num_layers: int = 2, embed_size: int = 200,
               initialize: bool = True) -> WordLM:
    """Embedding(vocab, 200) -> LSTM(200, 2 layers) -> Dense(vocab), every weight ~ U(-0.1, 0.1), biases 0.

    Taught in chapter "A word-level LSTM on Penn Treebank". With
    ``initialize=False`` the parameters are left for ``load_parameters``.
    """
    rnn.set_seed(seed)
    net = WordLM(grnn.LSTM(num_hiddens, num_layers=num_layers, dropout=dropout), vocab_size, embed_size,
                 dropout, tied)
    if initialize:
        net.initialize(mx.init.Uniform(0.1))  # Gluon's biases keep their own zero initialiser
    net.hybridize()
    return net


def lr_schedule(cfg: Config, epoch: int) -> float:
    """Learning rate of epoch ``epoch`` (1-based): constant, then halved every epoch after ``decay_after``."""
    return cfg.lr * 0.5 ** max(epoch - cfg.decay_after, 0)


# --- evaluation -----------------------------------------------------------------------------------

def eval_iter(corpus: list[int], batch_size: int = EVAL_BATCH, num_steps: int = EVAL_STEPS) -> rnn.SeqDataLoader:
    """Sequential streams without offset: every call predicts the same tokens in the same order."""
    return rnn.SeqDataLoader(corpus, batch_size, num_steps, shuffle=False)


def evaluate(net, corpus: list[int], batch_size: int = EVAL_BATCH, num_steps: int = EVAL_STEPS) -> float:
    """Perplexity of ``net`` on a split (token indices), over ``batch_size`` streams, state carried over.

    Taught in chapter "A word-level LSTM on Penn Treebank".
    """
    return rnn.evaluate_perplexity(net, eval_iter(corpus, batch_size, num_steps))


def token_probs(net, corpus: list[int], batch_size: int = EVAL_BATCH,
                num_steps: int = EVAL_STEPS) -> tuple[onp.ndarray, onp.ndarray]:
    """``(positions, probs)``: the probability the model gives to each token it predicts, and where it is.

    ``positions[i]`` indexes ``corpus``; the streams are those of
    :func:`evaluate`, so ``exp(-mean(log(probs)))`` is its perplexity. The
    first token of each stream and the tail that does not fill a minibatch
    are not predicted. Taught in chapter "A word-level LSTM on Penn Treebank".
    """
    stream_len = len(corpus) // batch_size
    positions, probs, state = [], [], None
    for k, (X, Y) in enumerate(eval_iter(corpus, batch_size, num_steps)):
        if state is None:
            state = net.begin_state(batch_size=X.shape[0])
        logits, state = net(X, state)                          # (num_steps * batch_size, vocab), time-major
        p = npx.softmax(logits).asnumpy()
        y = Y.T.reshape(-1).asnumpy().astype(int)               # time-major targets
        probs.append(p[onp.arange(len(y)), y])
        t = onp.repeat(onp.arange(num_steps), batch_size)       # step of each row
        r = onp.tile(onp.arange(batch_size), num_steps)         # stream of each row
        positions.append(r * stream_len + k * num_steps + t + 1)
    return onp.concatenate(positions), onp.concatenate(probs).astype(onp.float64)


def kn_token_probs(kn, stream: list[str], positions: onp.ndarray | None = None) -> onp.ndarray:
    """P_KN of each token of a split's ``<eos>``-joined word stream, in its sentence's context.

    ``kn`` is a :class:`seqmx.ngram.NGramLM` trained on the PTB sentences;
    ``<eos>`` is its ``</s>`` and every sentence starts after ``<s>``. With
    ``positions``, only those tokens. Taught in chapter "A word-level LSTM on Penn Treebank".
    """
    from seqmx.ngram import BOS, EOS
    contexts, context = [], [BOS]
    for w in stream:  # the context of every token (the last order - 1 words of its sentence so far)
        contexts.append(tuple(context[-(kn.order - 1):]) if kn.order > 1 else ())
        context = [BOS] if w == "<eos>" else context + [w]
    idx = range(len(stream)) if positions is None else positions
    return onp.array([kn.prob(EOS if stream[i] == "<eos>" else stream[i], contexts[i]) for i in idx])


def perplexity(probs: onp.ndarray) -> float:
    """exp of the mean negative log-probability."""
    return float(onp.exp(-onp.mean(onp.log(probs))))


def interpolate(p_lstm: dict, p_kn: dict, grid: onp.ndarray | None = None) -> dict:
    """p = λ p_LSTM + (1 - λ) p_KN per token, λ chosen on ``"valid"``, then applied to every split.

    ``p_lstm`` and ``p_kn`` map a split name to the two models'
    probabilities of the same tokens (:func:`token_probs`,
    :func:`kn_token_probs` at its positions). λ is the grid point (0 to 1 in
    steps of 0.01 by default) of lowest validation perplexity. Returns
    ``lambda`` and, per split, the perplexity of the LSTM, of KN and of the
    mixture. Taught in chapter "A word-level LSTM on Penn Treebank".
    """
    grid = onp.linspace(0, 1, 101) if grid is None else onp.asarray(grid)
    valid = [perplexity(lam * p_lstm["valid"] + (1 - lam) * p_kn["valid"]) for lam in grid]
    lam = float(grid[int(onp.argmin(valid))])
    out = {"lambda": lam}
    for split in p_lstm:
        out[split] = {"lstm": perplexity(p_lstm[split]), "kn": perplexity(p_kn[split]),
                      "mixture": perplexity(lam * p_lstm[split] + (1 - lam) * p_kn[split])}
    return out


# --- training --------------------------------------------------------------------------------------

def train(cfg: Config, corpora: dict[str, list[int]], vocab_size: int, seed: int, max_epochs: int,
          time_budget: float | None, stop_at_target: bool = False, on_epoch=None, net=None,
          eval_batch: int = EVAL_BATCH, max_batches: int | None = None) -> list[dict]:
    """Train epoch by epoch; one row per epoch, passed to ``on_epoch(rows)`` as it is made.

    Taught in chapter "A word-level LSTM on Penn Treebank". Stops
    early on validation (the configuration's patience), before overrunning
    the time budget, or, with ``stop_at_target``, once the best validation
    epoch so far has test perplexity <= 114.5 (the time-to-target
    measurement: the target, not the model, is chosen on the test set).
    ``net`` is trained in place if given (else one is made from ``seed``);
    ``max_batches`` cuts every epoch short (smoke tests). Without a
    ``"test"`` corpus the rows have no test perplexity.
    """
    net = net if net is not None else make_model(vocab_size, cfg.dropout, seed, cfg.tied)
    # the LSTM trains on one flat weight vector (seqmx.rnn.fused_weights): same numbers, faster
    with rnn.fused_weights(net):
        trainer = gluon.Trainer(net.collect_params(), cfg.optimizer, {"learning_rate": cfg.lr})
        train_iter = rnn.SeqDataLoader(corpora["train"], cfg.batch_size, cfg.num_steps, seed=seed)
        if max_batches is not None:
            train_iter = _Head(train_iter, max_batches)
        rows: list[dict] = []
        best, since_best, start, cum_cpu = math.inf, 0, time.perf_counter(), 0.0
        for epoch in range(1, min(cfg.num_epochs, max_epochs) + 1):
            lr = lr_schedule(cfg, epoch)
            trainer.set_learning_rate(lr)
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            stats = rnn.train_epoch(net, train_iter, lr, cfg.clip_theta, trainer)
            valid = evaluate(net, corpora["valid"], eval_batch)
            test = evaluate(net, corpora["test"], eval_batch) if "test" in corpora else math.nan
            cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
            cum_cpu += cpu
            rows.append({"epoch": epoch, "lr": lr, "train": stats["train_ppl"], "valid": valid, "test": test,
                         "cpu": cpu, "wall": wall, "cum_cpu": cum_cpu, "load": os.getloadavg()[0]})
            if on_epoch is not None:
                on_epoch(rows)
            if valid < best:
                best, since_best = valid, 0
            else:
                since_best += 1
            if stop_at_target and min(rows, key=lambda r: r["valid"])["test"] <= TARGET_PPL:
                print(f"the best validation epoch reached test perplexity {TARGET_PPL}: stop")
                break
            if cfg.patience is not None and since_best >= cfg.patience:
                print(f"validation perplexity did not improve for {since_best} epoch(s): stop")
                break
            if time_budget is not None and time.perf_counter() - start + wall > time_budget:
                print(f"another epoch would overrun the {time_budget:.0f} s budget: stop")
                break
    return rows


class _Head:
    """The first ``n`` minibatches of a loader (a :class:`seqmx.rnn.SeqDataLoader` or a
    :class:`seqmx.seq2seq.BucketLoader`); any other attribute is the loader's (``use_random_iter``,
    ``reseed``). For smoke runs."""

    def __init__(self, loader, n: int):
        self.loader, self.n = loader, n

    def __getattr__(self, name: str):
        if name == "loader":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i >= self.n:
                return
            yield batch
