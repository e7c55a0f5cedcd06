"""A long-range dependency task on which gating decides: remember the first symbol.

Taught in chapter "Gated recurrent units (GRU)" (section "A task where
gating decides"). A sequence of ``gap + 1`` symbols is drawn uniformly from
an alphabet of ``num_symbols``; after reading all of them the model must
name the *first* one, ``gap`` steps back, while every later symbol is a
distractor drawn from the same alphabet. Guessing gives ``1 / num_symbols``.

The models are Gluon's fused ``rnn.RNN`` (tanh), ``rnn.GRU`` and
``rnn.LSTM`` of the same width, each followed by a dense layer on the last
hidden state (many-to-one). :func:`state_gradient_norms` measures, on this
task, what :func:`seqmx.bptt.state_gradient_norms` measures for the scratch
RNN in chapter "Backpropagation through time": the norm of the gradient of
the last step's loss with respect to the state after every step.

Shapes: a minibatch ``X`` is (batch_size, gap + 1) of symbol indices and the
labels ``y`` are (batch_size,), as NumPy arrays (the generator) or MXNet
arrays (the models).
"""
from __future__ import annotations

import math
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn
from mxnet.gluon import rnn as gluon_rnn

from seqmx.rnn import grad_clipping

npx.set_np()

CELLS = ("RNN", "GRU", "LSTM")
NUM_BLOCKS = {"RNN": 1, "GRU": 3, "LSTM": 4}  # weight blocks per layer: candidate, plus one per gate


def first_symbol_batch(batch_size: int, gap: int, num_symbols: int = 8,
                       rng: onp.random.Generator | None = None) -> tuple[onp.ndarray, onp.ndarray]:
    """``(X, y)``: ``batch_size`` sequences of ``gap + 1`` uniform symbols, and their first symbols.

    Taught in chapter "Gated recurrent units (GRU)". ``X`` is (batch_size,
    gap + 1), ``y = X[:, 0]`` is (batch_size,); both int64 NumPy arrays.
    """
    rng = rng if rng is not None else onp.random.default_rng()
    X = rng.integers(0, num_symbols, size=(batch_size, gap + 1))
    return X, X[:, 0].copy()


def held_out(gap: int, num_test: int = 1000, num_symbols: int = 8) -> tuple[onp.ndarray, onp.ndarray]:
    """The test sequences for ``gap``: :func:`first_symbol_batch` from a generator seeded by ``(gap, 2024)``.

    Taught in chapter "Gated recurrent units (GRU)". The same for every model
    and training seed, and drawn from a stream of their own (training streams
    are seeded by the integer ``seed``).
    """
    return first_symbol_batch(num_test, gap, num_symbols, onp.random.default_rng([gap, 2024]))


def chance_accuracy(num_symbols: int = 8) -> float:
    """The accuracy of guessing (or of always naming one symbol): ``1 / num_symbols``.

    Taught in chapter "Gated recurrent units (GRU)". The first symbol is
    uniform and independent of the others, so no model that has lost it can
    do better.
    """
    return 1 / num_symbols


def chance_loss(num_symbols: int = 8) -> float:
    """The cross-entropy of the uniform guess, ``ln(num_symbols)``, in nats.

    Taught in chapter "Gated recurrent units (GRU)": the loss of a model that
    has learned nothing but the (uniform) label frequencies.
    """
    return math.log(num_symbols)


class LastStepClassifier(nn.HybridBlock):
    """A Gluon recurrent layer on one-hot symbols and a dense layer on its last hidden state.

    Taught in chapter "Gated recurrent units (GRU)". ``net(X, state)`` takes
    ``X`` (batch_size, num_steps) and returns logits (batch_size,
    num_symbols) for the symbol the model names after the last step.
    """

    def __init__(self, layer, num_symbols: int, **kwargs):
        super().__init__(**kwargs)
        self.num_symbols = num_symbols
        self.rnn = layer                                            # rnn.RNN, rnn.GRU or rnn.LSTM
        self.dense = nn.Dense(num_symbols, in_units=layer._hidden_size)  # last H_T -> logits

    def hybrid_forward(self, F, X, state):
        inputs = F.npx.one_hot(X.T, self.num_symbols)   # (num_steps, batch_size, num_symbols)
        _, state = self.rnn(inputs, state)              # state[0]: H_T, (1, batch_size, num_hiddens)
        return self.dense(F.np.squeeze(state[0], axis=0))  # (batch_size, num_symbols)

    def begin_state(self, batch_size: int) -> list:
        return self.rnn.begin_state(batch_size=batch_size)


def make_model(cell: str, num_hiddens: int = 32, num_symbols: int = 8,
               keep_bias: float = 0.0) -> LastStepClassifier:
    """A fresh, initialised and hybridized :class:`LastStepClassifier` around Gluon's ``cell``.

    Taught in chapter "Gated recurrent units (GRU)". ``cell`` is "RNN" (tanh,
    not Gluon's ReLU default), "GRU" or "LSTM"; Gluon's default
    initialisation (weights uniform in [-0.07, 0.07], biases zero), except
    that ``keep_bias`` is the initial bias of the gate that keeps the state:
    the GRU's update gate Z, the LSTM's forget gate F (both are rows h..2h
    of Gluon's stacked biases, whose gate orders are r, z, n and i, f, c, o).
    That gate then starts at sigmoid(keep_bias) instead of 1/2, and the
    LSTM's input gate I at sigmoid(-keep_bias), so that, like the GRU's
    1 - Z, it writes little at first (the "chrono" initialisation of Tallec
    and Ollivier, 2018, with one time scale for all units). Seed
    ``mx.random`` first for a repeatable draw.
    """
    layers = {"RNN": lambda: gluon_rnn.RNN(num_hiddens, activation="tanh", input_size=num_symbols),
              "GRU": lambda: gluon_rnn.GRU(num_hiddens, input_size=num_symbols),
              "LSTM": lambda: gluon_rnn.LSTM(num_hiddens, input_size=num_symbols)}
    if cell not in layers:
        raise ValueError(f"cell must be one of {CELLS}, not {cell!r}")
    net = LastStepClassifier(layers[cell](), num_symbols)
    net.initialize()
    if keep_bias:
        if cell == "RNN":
            raise ValueError("a plain RNN has no gate to keep its state: keep_bias must be 0")
        bias = net.rnn.l0_i2h_bias.data()                 # (3h,) or (4h,), zeros
        bias[num_hiddens:2 * num_hiddens] = keep_bias     # the update (GRU) or forget (LSTM) gate
        if cell == "LSTM":
            bias[:num_hiddens] = -keep_bias               # input gate: write as little as the GRU's 1 - Z
    net.hybridize()
    return net


def num_params_by_hand(cell: str, num_hiddens: int, num_symbols: int = 8) -> int:
    """Parameters of :func:`make_model`'s model, counted from the equations.

    Taught in chapter "Gated recurrent units (GRU)". Each of the cell's
    blocks (1 for the RNN, 3 for the GRU, 4 for the LSTM) has d*h input
    weights, h*h recurrent weights and Gluon's two biases of h; the dense
    layer has h*q + q, with d = q = num_symbols.
    """
    d, h, q = num_symbols, num_hiddens, num_symbols
    return NUM_BLOCKS[cell] * (d * h + h * h + 2 * h) + h * q + q


def num_params(net) -> int:
    """Number of scalars in ``net``'s parameters."""
    return sum(int(p.data().size) for p in net.collect_params().values())


def train_step(net, trainer: gluon.Trainer, X, y, clip_theta: float | None = 1.0) -> float:
    """One update on the minibatch ``(X, y)``: mean cross-entropy, backward, clip, step. Returns the loss.

    Taught in chapter "Gated recurrent units (GRU)". ``X`` and ``y`` may be
    NumPy or MXNet arrays; the gradient's global norm is clipped to
    ``clip_theta`` with :func:`seqmx.rnn.grad_clipping`.
    """
    X, y = np.array(X), np.array(y)
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(X, net.begin_state(X.shape[0])), y).mean()
    loss.backward()
    grad_clipping(net, clip_theta)
    trainer.step(1)
    return float(loss)


def accuracy(net, X, y) -> float:
    """Share of the sequences ``X`` whose first symbol ``y`` the model names (argmax of its logits)."""
    X, y = np.array(X), np.array(y)
    y_hat = net(X, net.begin_state(X.shape[0])).argmax(axis=1)  # (batch_size,)
    return float((y_hat.astype(y.dtype) == y).mean())


def train_first_symbol(cell: str, gap: int, num_updates: int, num_hiddens: int = 32, batch_size: int = 64,
                       lr: float = 0.01, clip_theta: float | None = 1.0, seed: int = 0,
                       num_symbols: int = 8, keep_bias: float = 0.0, num_test: int = 1000) -> dict:
    """Train a fresh ``cell`` model on the first-symbol task with ``gap``, and test it on held-out sequences.

    Taught in chapter "Gated recurrent units (GRU)". Adam with learning rate
    ``lr``, ``num_updates`` minibatches of ``batch_size`` fresh sequences
    (every one is new, so the training loss is a held-out estimate too),
    gradient clipping at ``clip_theta``, the gate biases of :func:`make_model`
    (``keep_bias``). ``seed`` fixes the initial weights (``mx.random``,
    ``np.random``) and the training sequences; the accuracy is measured on
    the ``num_test`` sequences of :func:`held_out`. Returns the model, the
    training losses, the test accuracy and the seconds taken.
    """
    mx.random.seed(seed)
    onp.random.seed(seed)
    rng = onp.random.default_rng(seed)
    net = make_model(cell, num_hiddens, num_symbols, keep_bias)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": lr})
    start = time.perf_counter()
    losses = [train_step(net, trainer, *first_symbol_batch(batch_size, gap, num_symbols, rng), clip_theta)
              for _ in range(num_updates)]
    seconds = time.perf_counter() - start
    return {"net": net, "losses": losses, "accuracy": accuracy(net, *held_out(gap, num_test, num_symbols)),
            "seconds": seconds}


def state_gradient_norms(net, X, y) -> onp.ndarray:
    """||dL_T/ds_t|| for t = 1..T: how much of the last step's loss gradient reaches the state after step t.

    Taught in chapter "Gated recurrent units (GRU)", the measure of
    :func:`seqmx.bptt.state_gradient_norms` for Gluon's fused layers. The
    state ``s_t`` is what step t passes to step t + 1: H_t for the RNN and
    the GRU, the pair (H_t, C_t) for the LSTM (its norm is that of both
    together). The fused operator hides the states between steps, so the
    layer is run one step at a time, which computes the same function, and
    a zero probe is added to every state (as in :mod:`seqmx.bptt`): its
    gradient is dL/ds_t. L is the mean cross-entropy over the minibatch;
    the norm is the Frobenius norm over the minibatch. Returns a NumPy array
    of length T, index t-1 for step t.
    """
    X, y = np.array(X), np.array(y)
    inputs = npx.one_hot(X.T, net.num_symbols)  # (num_steps, batch_size, num_symbols)
    state = net.begin_state(X.shape[0])          # [H] or [H, C], each (1, batch_size, num_hiddens)
    probes = [[np.zeros_like(s) for s in state] for _ in range(inputs.shape[0])]
    for step in probes:
        for z in step:
            z.attach_grad()
    with autograd.record():
        for t in range(inputs.shape[0]):
            _, state = net.rnn(inputs[t:t + 1], state)              # one step of the fused layer
            state = [s + z for s, z in zip(state, probes[t])]       # s_t: the probe changes nothing
        logits = net.dense(state[0][0])                             # (batch_size, num_symbols)
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(logits, y).mean()
    loss.backward()
    return onp.array([math.sqrt(sum(float((z.grad ** 2).sum()) for z in step)) for step in probes])
