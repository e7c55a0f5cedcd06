"""Recurrent language models with MXNet: data, scratch RNN, Gluon wrapper, training, prediction.

The pieces here are taught in chapters "RNN from scratch" (one-hot inputs,
parameters, the scratch model, gradient clipping, perplexity, training,
prediction) and "RNN with Gluon" (:class:`RNNModel`). Later chapters (GRU,
LSTM, deep and bidirectional RNNs) pass their own ``get_params``,
``init_state`` and ``forward_fn`` to :class:`RNNModelScratch`, or a Gluon
layer to :class:`RNNModel`, and train with :func:`train`.

Shapes follow d2l: a minibatch ``X`` is (batch_size, num_steps) of token
indices; the model sees it time-major as one-hot (num_steps, batch_size,
vocab_size) and returns logits (num_steps * batch_size, vocab_size).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import d2l.mxnet as d2l
import mxnet as mx
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn
from mxnet.gluon import rnn as grnn

from seqmx import data

npx.set_np()

# Gluon's optimisers update the parameters in groups of four by one operator (multi_sgd_update)
# that walks the largest array of the group once for every array in it: 1.6 ms a step for the
# chapters' LSTM, against 0.5 ms for one update per array. 0 turns the grouping off; it is read
# when an optimiser is made, so setting it here (at import) is enough.
os.environ.setdefault("MXNET_OPTIMIZER_AGGREGATION_SIZE", "0")


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and MXNet's generators (CPU results are then repeatable)."""
    random.seed(seed)
    import numpy as onp
    onp.random.seed(seed)
    mx.random.seed(seed)


# --- data ---------------------------------------------------------------------------

class SeqDataLoader:
    """Minibatches of a token-index corpus, re-drawn every epoch from a seeded generator.

    Taught in chapter "Text data and minibatch sampling". ``use_random_iter``
    chooses :func:`seqmx.data.seq_data_iter_random` over sequential
    partitioning. Each pass gives different (random offset) but reproducible
    minibatches.
    """

    def __init__(self, corpus: list[int], batch_size: int, num_steps: int,
                 use_random_iter: bool = False, seed: int = 0, shuffle: bool = True):
        self.corpus, self.batch_size, self.num_steps = corpus, batch_size, num_steps
        self.use_random_iter = use_random_iter
        self.rng = random.Random(seed)
        self.shuffle = shuffle  # False: a fixed partition with no offset (for evaluation)
        self.sampler = data.seq_data_iter_random if use_random_iter else data.seq_data_iter_sequential

    def __iter__(self):
        rng = self.rng if self.shuffle else None
        if self.use_random_iter and rng is None:
            rng = random.Random(0)
        for X, Y in self.sampler(self.corpus, self.batch_size, self.num_steps, rng):
            yield np.array(X), np.array(Y)  # (batch_size, num_steps) each

    def num_tokens(self) -> int:
        """Tokens predicted in one pass."""
        return sum(int(Y.size) for _, Y in self)


def load_corpus_time_machine(token: str = "char") -> tuple[list[str], list[str]]:
    """Train and validation tokens of The Time Machine (the last 10% held out)."""
    text = data.read_time_machine()
    tokens = data.tokenize_chars(text) if token == "char" else data.tokenize_words(text)
    return data.split_train_valid(tokens, 0.1)


def load_data_time_machine(batch_size: int, num_steps: int, use_random_iter: bool = False,
                           token: str = "char", seed: int = 0):
    """``(train_iter, valid_iter, vocab)`` for The Time Machine, vocabulary from training text only.

    The validation iterator uses sequential partitioning without offset, so
    that every validation token is predicted exactly once per pass, with the
    state carried over as in generation.
    """
    train_tokens, valid_tokens = load_corpus_time_machine(token)
    vocab = d2l.Vocab(train_tokens)
    train_iter = SeqDataLoader(vocab[train_tokens], batch_size, num_steps, use_random_iter, seed)
    valid_iter = SeqDataLoader(vocab[valid_tokens], batch_size, num_steps, False, shuffle=False)
    return train_iter, valid_iter, vocab


def load_data_tang(batch_size: int, num_steps: int, num_train_poems: int | None = None, min_freq: int = 1,
                   use_random_iter: bool = False, seed: int = 0, sep: str = "\n"):
    """``(train_iter, valid_iter, vocab)`` for the Tang quatrains, one character a token.

    Taught in chapter "RNN with Gluon". The poems are joined into one stream,
    each followed by ``sep`` (a newline token: the model learns where a poem
    ends, and generation can start a new one). The last 10% of the poems are
    held out for validation; ``num_train_poems`` keeps only the first poems
    of the training part (to save time). The vocabulary is built from the
    training poems; characters seen fewer than ``min_freq`` times there, and
    unseen validation characters, become ``<unk>``.
    """
    poems = data.read_tang_quatrains()
    train_poems, valid_poems = data.split_train_valid(poems, 0.1)
    train_poems = train_poems[:num_train_poems]
    train_tokens = [ch for poem in train_poems for ch in list(poem) + [sep]]
    valid_tokens = [ch for poem in valid_poems for ch in list(poem) + [sep]]
    vocab = d2l.Vocab(train_tokens, min_freq=min_freq)
    train_iter = SeqDataLoader(vocab[train_tokens], batch_size, num_steps, use_random_iter, seed)
    valid_iter = SeqDataLoader(vocab[valid_tokens], batch_size, num_steps, False, shuffle=False)
    return train_iter, valid_iter, vocab


# --- the scratch RNN (chapter "RNN from scratch") --------------------------------------

def get_rnn_params(vocab_size: int, num_hiddens: int, device=None) -> list:
    """W_xh, W_hh, b_h, W_hq, b_q with gradients attached, weights ~ N(0, 0.01^2)."""
    device = device or mx.cpu()
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return np.random.normal(scale=0.01, size=shape, ctx=device)

    W_xh = normal((num_inputs, num_hiddens))   # input -> hidden
    W_hh = normal((num_hiddens, num_hiddens))  # hidden -> hidden: the recurrence
    b_h = np.zeros(num_hiddens, ctx=device)     # hidden bias
    W_hq = normal((num_hiddens, num_outputs))  # hidden -> output logits
    b_q = np.zeros(num_outputs, ctx=device)     # output bias
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.attach_grad()
    return params


def init_rnn_state(batch_size: int, num_hiddens: int, device=None) -> tuple:
    """The initial hidden state: a tuple holding H of zeros (batch_size, num_hiddens)."""
    return (np.zeros((batch_size, num_hiddens), ctx=device or mx.cpu()),)


def rnn(inputs, state: tuple, params: list, activation: Callable = np.tanh):
    """H_t = activation(X_t W_xh + H_{t-1} W_hh + b_h); O_t = H_t W_hq + b_q, for every step.

    ``inputs``: (num_steps, batch_size, vocab_size). Returns the outputs
    (num_steps * batch_size, vocab_size) and the new state ``(H,)``.
    """
    W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:  # X: (batch_size, vocab_size)
        H = activation(np.dot(X, W_xh) + np.dot(H, W_hh) + b_h)  # (batch_size, num_hiddens)
        outputs.append(np.dot(H, W_hq) + b_q)                      # (batch_size, vocab_size)
    return np.concatenate(outputs, axis=0), (H,)


class RNNModelScratch:
    """A recurrent language model from parameter arrays and a step function.

    ``get_params(vocab_size, num_hiddens, device)`` makes the parameters,
    ``init_state(batch_size, num_hiddens, device)`` the initial state and
    ``forward_fn(inputs, state, params)`` runs all time steps.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, device=None,
                 get_params: Callable = get_rnn_params, init_state: Callable = init_rnn_state,
                 forward_fn: Callable = rnn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.device = device or mx.cpu()
        self.params = get_params(vocab_size, num_hiddens, self.device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        X = npx.one_hot(X.T, self.vocab_size)  # (num_steps, batch_size, vocab_size)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size: int, ctx=None):
        return self.init_state(batch_size, self.num_hiddens, ctx or self.device)

    def parameters(self) -> list:
        return self.params


# --- the Gluon model (chapter "RNN with Gluon") -----------------------------------------

class RNNModel(nn.HybridBlock):
    """A Gluon recurrent layer (``rnn.RNN``, ``rnn.GRU``, ``rnn.LSTM``) plus a dense output layer.

    Inputs are one-hot vectors, as in the scratch model; with ``embed_size``
    they are rows of a learned ``nn.Embedding(vocab_size, embed_size)``
    instead, which is the same linear map (one-hot times a matrix) without
    the (num_steps * batch_size, vocab_size) one-hot product, and pays off
    for large vocabularies (chapter "RNN with Gluon", Tang poems).

    Beware: ``rnn.RNN(num_hiddens)`` is a *ReLU* RNN (Gluon's default
    activation); ``rnn.RNN(num_hiddens, activation="tanh")`` is the layer of
    the scratch model :func:`rnn`.
    """

    def __init__(self, rnn_layer, vocab_size: int, *, embed_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_size) if embed_size else None
        self.dense = nn.Dense(vocab_size, flatten=False)

    def hybrid_forward(self, F, inputs, state):
        if self.embedding is None:
            X = F.npx.one_hot(inputs.T, self.vocab_size)      # (num_steps, batch_size, vocab_size)
        else:
            X = self.embedding(inputs.T)                       # (num_steps, batch_size, embed_size)
        Y, state = self.rnn(X, state)                          # Y: (num_steps, batch_size, num_hiddens*dirs)
        output = self.dense(Y).reshape(-1, self.vocab_size)   # (num_steps * batch_size, vocab_size)
        return output, state

    def begin_state(self, batch_size: int, ctx=None):
        return self.rnn.begin_state(batch_size=batch_size, ctx=ctx or mx.cpu())

    def hybridize(self, active: bool = True, **kwargs):
        """Hybridize with static memory by default: the cached graph then keeps its arrays from call
        to call instead of allocating (and page-faulting) them anew at every minibatch."""
        kwargs.setdefault("static_alloc", True)
        kwargs.setdefault("static_shape", True)
        super().hybridize(active, **kwargs)

    def parameters(self) -> list:
        return [p.data() for p in self.collect_params().values()]


# --- fused weights: how train() runs Gluon's layers (chapter "RNN with Gluon") ----------------

class FusedRNN(nn.HybridBlock):
    """A Gluon recurrent layer whose weights live in one flat Parameter, the vector ``npx.rnn`` reads.

    ``rnn.LSTM`` and its siblings keep one Parameter per matrix and bias
    (``l0_i2h_weight``, ``l0_h2h_weight``, ...). The fused kernel wants them
    as one vector, so Gluon 1.9 concatenates them on every forward pass and
    splits the gradient back on every backward pass: two copies of every
    weight per minibatch, between a tenth and a quarter of a training step
    of a 256-unit LSTM in our runs (chapter "Long short-term memory (LSTM)"
    times it).
    This block holds that vector itself, in the kernel's order (all
    weights, then all biases; layer by layer, forward direction first), and
    calls the kernel directly. :func:`fused_weights` puts it in a model's
    place for training and copies the trained values back into the named
    Parameters afterwards.
    """

    def __init__(self, layer: grnn.rnn_layer._RNNLayer):
        super().__init__(prefix=layer.prefix + "fused_")
        object.__setattr__(self, "layer", layer)  # not a child: its Parameters must not be collected
        projection = layer._projection_size is not None
        order = [f"{d}{i}_{g}_{t}" for t in ("weight", "bias") for i in range(layer._num_layers)
                 for d in "lr"[:layer._dir] for g in ("i2h", "h2h", "h2r")
                 if g != "h2r" or (projection and t == "weight")]
        named = [getattr(layer, name) for name in order]
        data = [p.data() for p in named]
        offsets = [0, *itertools.accumulate(d.size for d in data)]
        where = {id(p): (offsets[k], offsets[k + 1]) for k, p in enumerate(named)}
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(offsets[-1],), dtype=data[0].dtype,
                                          init=mx.init.Zero())
        self.weight.initialize(ctx=data[0].ctx)
        self.weight.set_data(np.concatenate([d.reshape(-1) for d in data]))
        self.named = [(p, where[id(p)]) for p in layer.collect_params().values()]  # Gluon's order
        # grad_clipping sums the squares piece by piece in Gluon's order: the norm, and so the
        # whole training run, is then bit for bit the one of the unfused layer
        self.weight.fused_segments = [span for _, span in self.named]

    def begin_state(self, *args, **kwargs):
        return self.layer.begin_state(*args, **kwargs)

    def hybrid_forward(self, F, inputs, states, weight):
        layer = self.layer
        states = [states] if not isinstance(states, (list, tuple)) else list(states)
        if layer._layout == "NTC":
            inputs = F.np.swapaxes(inputs, 0, 1)              # (num_steps, batch_size, num_inputs)
        out = F.npx.rnn(inputs, weight, *states, state_size=layer._hidden_size,
                        projection_size=layer._projection_size, num_layers=layer._num_layers,
                        bidirectional=layer._dir == 2, p=layer._dropout, state_outputs=True,
                        mode=layer._mode, lstm_state_clip_min=layer._lstm_state_clip_min,
                        lstm_state_clip_max=layer._lstm_state_clip_max,
                        lstm_state_clip_nan=layer._lstm_state_clip_nan)
        outputs = F.np.swapaxes(out[0], 0, 1) if layer._layout == "NTC" else out[0]
        return outputs, list(out[1:])

    def unfuse(self) -> None:
        """Copy the flat vector back into the layer's named Parameters."""
        flat = self.weight.data()
        for p, (start, end) in self.named:
            p.set_data(flat[start:end].reshape(p.shape))


def _fusable_layers(block):
    """(parent, attribute, layer) for each Gluon recurrent layer under ``block`` that can be fused."""
    for name, child in list(block._children.items()):
        if isinstance(child, grnn.rnn_layer._RNNLayer):
            params = list(child.collect_params().values())
            if (not child._use_sequence_length and getattr(block, name, None) is child
                    and all(p._data is not None and p.grad_req == "write" and len(p.list_ctx()) == 1
                            for p in params)):
                yield block, name, child
        else:
            yield from _fusable_layers(child)


def _set_child(parent, name: str, block) -> None:
    parent._children[name] = block
    object.__setattr__(parent, name, block)  # Block.__setattr__ refuses to change a child's type


def _clear_cached_graphs(block) -> None:
    if isinstance(block, gluon.HybridBlock):
        block._clear_cached_op()
    for child in block._children.values():
        _clear_cached_graphs(child)


@contextlib.contextmanager
def fused_weights(net, warm_up=None):
    """Inside the ``with``, ``net``'s Gluon recurrent layers run as :class:`FusedRNN`; on exit the
    trained weights are copied back and the layers put back.

    Make the ``gluon.Trainer`` inside the ``with``: ``net.collect_params()``
    then lists each layer's one flat weight instead of its named pieces.
    Training gives the same numbers as the unfused layers, bit for bit
    (tested), only faster. A model whose shapes are still deferred is run
    once first, outside ``autograd.record`` (so no dropout draws), which
    draws its initial weights exactly as its first training step would:
    ``warm_up()`` if given (an encoder-decoder, chapter "Sequence to
    sequence"), else a language model's (1, 1) minibatch of token 0.
    Anything other than a Gluon block passes through unchanged.
    """
    swaps = []
    if isinstance(net, gluon.Block):
        if any(p._data is None for p in net.collect_params().values()):
            if warm_up is not None:
                warm_up()
            else:  # finishes deferred initialisation
                net(np.zeros((1, 1)), net.begin_state(batch_size=1))
        for parent, name, layer in list(_fusable_layers(net)):
            fused = FusedRNN(layer)
            _set_child(parent, name, fused)
            swaps.append((parent, name, layer, fused))
        _clear_cached_graphs(net)
    try:
        yield net
    finally:
        for parent, name, layer, fused in swaps:
            fused.unfuse()
            _set_child(parent, name, layer)
        if swaps:
            _clear_cached_graphs(net)


# --- training (chapter "RNN from scratch") -------------------------------------------------

def grad_clipping(net, theta: float | None):
    """Scale all gradients so that their joint L2 norm is at most ``theta``; return the norm before.

    g <- min(theta / ||g||, 1) g, over every parameter's gradient at once.
    Everything stays on the device: the norm comes back as a 0-d array, and
    the scale is applied whether or not it is below 1 (multiplying by
    exactly 1 changes nothing). Turning the norm into a Python number
    (``float(norm)``) would make Python wait for the whole backward pass at
    every step; the training loop reads all the norms once, at the end of
    the epoch (chapter "RNN from scratch").
    """
    if isinstance(net, gluon.Block):
        params = [p for p in net.collect_params().values() if p.grad_req != "null"]
        grads = [p.grad() for p in params]
        # a fused layer's flat gradient (see FusedRNN) is summed in its named pieces, in their order
        pieces = []
        for p, g in zip(params, grads):
            spans = getattr(p, "fused_segments", None)
            pieces += [g[a:b] for a, b in spans] if spans else [g]
    else:
        grads = pieces = [p.grad for p in net.params]
    # one operator for all the sums of squares (MXNet's multi_sum_sq works on classic NDArrays)
    sum_sq = mx.nd.multi_sum_sq(*[g.as_nd_ndarray() for g in pieces], num_arrays=len(pieces))
    norm = sum_sq.sum().sqrt().as_np_ndarray().reshape(())
    if theta is not None:
        scale = np.minimum(theta / norm, 1.0)
        for g in grads:
            g *= scale
    return norm


def sgd(params: list, lr: float, batch_size: int = 1) -> None:
    """Minibatch stochastic gradient descent on parameter arrays, in place."""
    for param in params:
        param[:] = param - lr * param.grad / batch_size


def _detach(state):
    return [s.detach() for s in state] if isinstance(state, (list, tuple)) else state.detach()


class ConstantModel:
    """A language model that ignores its input and always predicts softmax(``logits``).

    Taught in chapter "RNN from scratch" as a yardstick: with ``logits`` all
    equal it is the uniform model, whose perplexity is exactly ``len(logits)``
    (the vocabulary size); with the log unigram frequencies it is the unigram
    model. Same interface as the other models (``begin_state``, ``__call__``).
    """

    def __init__(self, logits):
        self.logits = np.array(logits, dtype="float32")  # (vocab_size,)
        self.params: list = []

    def __call__(self, X, state):
        num_rows = X.shape[0] * X.shape[1]  # one prediction per token of X (batch_size, num_steps)
        return np.broadcast_to(self.logits, (num_rows, self.logits.shape[0])), state

    def begin_state(self, batch_size: int, ctx=None):
        return ()

    def parameters(self) -> list:
        return []


def evaluate_perplexity(net, data_iter: SeqDataLoader) -> float:
    """exp(mean cross-entropy) over every token of ``data_iter``, state carried across minibatches."""
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    total, count, state = 0.0, 0, None
    for X, Y in data_iter:
        if state is None:
            state = net.begin_state(batch_size=X.shape[0])
        y_hat, state = net(X, state)
        total += float(loss(y_hat, Y.T.reshape(-1)).sum())
        count += Y.size
    return math.exp(total / count) if total / count < 700 else math.inf  # exp overflows past ~709


def train_epoch(net, train_iter: SeqDataLoader, lr: float, clip_theta: float | None = 1.0,
                trainer: gluon.Trainer | None = None, detach: bool = True) -> dict:
    """One pass over ``train_iter``: returns training perplexity, tokens/s and gradient norms.

    With sequential partitioning the state is carried from one minibatch to
    the next and, when ``detach`` is true, cut from the previous minibatch's
    graph (truncated BPTT); with random sampling it is reset every minibatch.
    In MXNet ``detach=False`` gives the same result: ``backward()`` frees the
    recorded graph, so the carried state has no history left to
    differentiate (measured in chapter "RNN from scratch"). ``train_loss`` is
    the mean cross-entropy per token, in nats.
    """
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    state, total, count, norms = None, 0.0, 0, []
    start = time.perf_counter()
    for X, Y in train_iter:
        if state is None or train_iter.use_random_iter:
            state = net.begin_state(batch_size=X.shape[0])
        elif detach:
            state = _detach(state)
        y = Y.T.reshape(-1)  # time-major, to match the outputs
        with autograd.record():
            y_hat, state = net(X, state)
            l = loss(y_hat, y).mean()
        l.backward()
        norms.append(grad_clipping(net, clip_theta))
        if trainer is not None:
            trainer.step(1)
        else:
            sgd(net.params, lr)
        # the sum stays on the device: float(l) here would make Python wait for every step
        total = total + l * y.size
        count += y.size
    total = float(total)  # waits for the last step
    norms = np.stack(norms).asnumpy().tolist() if norms else []
    seconds = time.perf_counter() - start
    ppl = math.exp(total / count) if total / count < 700 else math.inf  # exp(>709) overflows a float
    return {"train_ppl": ppl, "tokens_per_sec": count / seconds, "grad_norms": norms, "seconds": seconds,
            "train_loss": total / count}


@dataclass
class History:
    """Per-epoch training and validation perplexity, and throughput."""
    train_ppl: list = field(default_factory=list)
    valid_ppl: list = field(default_factory=list)
    tokens_per_sec: list = field(default_factory=list)
    grad_norms: list = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"train perplexity {self.train_ppl[-1]:.2f}, validation perplexity {self.valid_ppl[-1]:.2f}, "
                f"{sum(self.tokens_per_sec) / len(self.tokens_per_sec):,.0f} tokens/s, {self.seconds:.1f} s")


def train(net, train_iter: SeqDataLoader, valid_iter: SeqDataLoader | None, lr: float, num_epochs: int,
          clip_theta: float | None = 1.0, detach: bool = True, verbose_every: int = 0,
          vocab=None, prefixes: tuple = (), optimizer: str = "sgd") -> History:
    """Train a language model, recording training and validation perplexity each epoch.

    Gluon models are updated by a ``gluon.Trainer`` (``optimizer``, SGD by
    default; "adam" helps large-vocabulary models such as the Tang poems of
    chapter "RNN with Gluon"), scratch models by :func:`sgd`. A model whose
    loss overflows stops early with perplexity inf. Gluon's recurrent layers
    train inside :func:`fused_weights`: the same numbers, less copying.
    """
    if not isinstance(net, gluon.Block) and optimizer != "sgd":
        raise ValueError(f"scratch models are trained with sgd(), not {optimizer!r}")
    history = History()
    start = time.perf_counter()
    with fused_weights(net):  # Gluon's recurrent layers train on one flat weight vector each
        trainer = None
        if isinstance(net, gluon.Block):
            trainer = gluon.Trainer(net.collect_params(), optimizer, {"learning_rate": lr})
        for epoch in range(num_epochs):
            stats = train_epoch(net, train_iter, lr, clip_theta, trainer, detach)
            history.train_ppl.append(stats["train_ppl"])
            history.tokens_per_sec.append(stats["tokens_per_sec"])
            history.grad_norms.extend(stats["grad_norms"])
            finite = math.isfinite(stats["train_ppl"])
            history.valid_ppl.append(evaluate_perplexity(net, valid_iter) if valid_iter is not None and finite
                                     else math.inf)
            if verbose_every and (epoch + 1) % verbose_every == 0:
                print(f"epoch {epoch + 1}: train ppl {stats['train_ppl']:.2f}, valid ppl {history.valid_ppl[-1]:.2f}")
                for prefix in prefixes:
                    print("   ", predict(prefix, 40, net, vocab))
            if not finite:
                break
    history.seconds = time.perf_counter() - start
    return history


def predict(prefix: str | list, num_preds: int, net, vocab, sample: bool = False,
            rng: random.Random | None = None) -> str:
    """Continue ``prefix`` by ``num_preds`` tokens: greedy (argmax) or sampled from the softmax.

    A string prefix is read character by character; a list is read as tokens.
    """
    tokens = list(prefix)
    state = net.begin_state(batch_size=1)
    outputs = [vocab[tokens[0]]]

    def last():
        return np.array([outputs[-1]]).reshape(1, 1)

    for y in tokens[1:]:  # warm-up: feed the prefix, keep the state
        _, state = net(last(), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        y, state = net(last(), state)
        if sample:
            probs = npx.softmax(y).asnumpy().reshape(-1)
            outputs.append((rng or random).choices(range(len(probs)), weights=probs)[0])
        else:
            outputs.append(int(y.argmax(axis=1).reshape(1)))
    sep = "" if isinstance(prefix, str) else " "
    return sep.join(vocab.to_tokens(i) for i in outputs)


def num_params(net) -> int:
    """Number of trainable scalars of a scratch or Gluon model."""
    return sum(int(p.size) for p in net.parameters())
