"""Deep (stacked) and bidirectional recurrent networks, from scratch and checked against Gluon.

Taught in chapters "Deep recurrent neural networks" (:func:`rnn_layer`,
:func:`get_deep_rnn_params`, :func:`init_deep_rnn_state`, :func:`deep_rnn`,
:func:`gluon_rnn_params`, :func:`layer_params_from_gluon`,
:func:`deep_params_from_gluon`) and "Bidirectional recurrent neural networks"
(:func:`get_bi_rnn_params`, :func:`init_bi_rnn_state`, :func:`bi_rnn_layer`,
:func:`bi_params_from_gluon`, :func:`mask_chars`, :func:`train_masked`,
:func:`masked_accuracy`).

The deep model plugs into :class:`seqmx.rnn.RNNModelScratch` like the
one-layer RNN: ``get_params(vocab_size, num_hiddens, device)``,
``init_state(batch_size, num_hiddens, device)`` and
``forward_fn(inputs, state, params)``; the number of layers is fixed with
:func:`functools.partial`.

Shapes are time-major as in :mod:`seqmx.rnn`: ``inputs`` is
(num_steps, batch_size, num_inputs).
"""
from __future__ import annotations

import math
import random
import re
import time
from typing import Callable

import mxnet as mx
from mxnet import autograd, gluon, np, npx

npx.set_np()


def _normal(shape, device):
    return np.random.normal(scale=0.01, size=shape, ctx=device)


# --- one recurrent layer, the building block of both chapters ----------------------------

def rnn_layer(inputs, H, W_xh, W_hh, b_h, activation: Callable = np.tanh):
    """Run one recurrent layer over all time steps and return every hidden state.

    H_t = activation(X_t W_xh + H_{t-1} W_hh + b_h) for t = 1, ..., num_steps.
    ``inputs``: (num_steps, batch_size, num_inputs), ``H``: (batch_size,
    num_hiddens). Returns the hidden states (num_steps, batch_size,
    num_hiddens), which are the next layer's inputs, and the last H.
    Taught in chapter "Deep recurrent neural networks".
    """
    # The input term does not depend on H: compute it for all steps in one matrix product.
    XW = np.dot(inputs, W_xh) + b_h  # (num_steps, batch_size, num_hiddens)
    outputs = []
    for XW_t in XW:  # XW_t: (batch_size, num_hiddens)
        H = activation(XW_t + np.dot(H, W_hh))  # (batch_size, num_hiddens)
        outputs.append(H)
    return np.stack(outputs), H  # (num_steps, batch_size, num_hiddens), (batch_size, num_hiddens)


# --- deep RNN (chapter "Deep recurrent neural networks") ----------------------------------

def get_deep_rnn_params(vocab_size: int, num_hiddens: int, device=None, num_layers: int = 2) -> list:
    """[W_xh_1, W_hh_1, b_h_1, ..., W_xh_L, W_hh_L, b_h_L, W_hq, b_q], gradients attached.

    Layer 1 reads the one-hot input (vocab_size wide); every layer above reads
    the hidden state of the layer below (num_hiddens wide), so only W_xh_1
    differs in shape. For ``num_layers=2`` this is the notes' list
    ``W_xh_1, W_hh_1, b_h_1, W_xh_2, W_hh_2, b_h_2, W_hq, b_q``.
    Taught in chapter "Deep recurrent neural networks".
    """
    device = device or mx.cpu()
    params = []
    num_inputs = vocab_size
    for _ in range(num_layers):
        params.append(_normal((num_inputs, num_hiddens), device))   # W_xh_l: input (or layer below) -> hidden
        params.append(_normal((num_hiddens, num_hiddens), device))  # W_hh_l: the recurrence of layer l
        params.append(np.zeros(num_hiddens, ctx=device))            # b_h_l
        num_inputs = num_hiddens                                    # the next layer reads this one's H
    params.append(_normal((num_hiddens, vocab_size), device))       # W_hq: top hidden layer -> logits
    params.append(np.zeros(vocab_size, ctx=device))                 # b_q
    for param in params:
        param.attach_grad()
    return params


def init_deep_rnn_state(batch_size: int, num_hiddens: int, device=None, num_layers: int = 2) -> tuple:
    """One zero hidden state (batch_size, num_hiddens) per layer: ``(H_1, ..., H_L)``.

    Taught in chapter "Deep recurrent neural networks".
    """
    device = device or mx.cpu()
    return tuple(np.zeros((batch_size, num_hiddens), ctx=device) for _ in range(num_layers))


def deep_rnn(inputs, state: tuple, params: list, activation: Callable = np.tanh):
    """A stack of L recurrent layers and an output layer on the top one.

    H_t^(1) = activation(X_t W_xh^(1) + H_{t-1}^(1) W_hh^(1) + b_h^(1)),
    H_t^(l) = activation(H_t^(l-1) W_xh^(l) + H_{t-1}^(l) W_hh^(l) + b_h^(l)),
    O_t = H_t^(L) W_hq + b_q.
    The number of layers is ``len(state)``. ``inputs``: (num_steps,
    batch_size, vocab_size). Returns the logits (num_steps * batch_size,
    vocab_size) and the new state ``(H_1, ..., H_L)``.
    Taught in chapter "Deep recurrent neural networks".
    """
    W_hq, b_q = params[-2:]
    Hs, new_state = inputs, []
    for layer, H in enumerate(state):
        W_xh, W_hh, b_h = params[3 * layer: 3 * layer + 3]
        # Layer l runs over the whole sequence of layer l-1's hidden states.
        Hs, H = rnn_layer(Hs, H, W_xh, W_hh, b_h, activation)  # Hs: (num_steps, batch_size, num_hiddens)
        new_state.append(H)
    outputs = np.dot(Hs, W_hq) + b_q  # (num_steps, batch_size, vocab_size)
    return outputs.reshape(-1, W_hq.shape[1]), tuple(new_state)


def gluon_rnn_params(block) -> dict:
    """A Gluon recurrent layer's parameters keyed by name without the block prefix (``l0_i2h_weight``).

    Gluon names the forward direction of layer k ``l{k}`` and the backward
    direction ``r{k}``. Taught in chapter "Deep recurrent neural networks".
    """
    out = {}
    for name, param in block.collect_params().items():
        match = re.search(r"([lr]\d+_(?:i2h|h2h)_(?:weight|bias))$", name)
        if match:
            out[match.group(1)] = param
    return out


def layer_params_from_gluon(params: dict, prefix: str) -> list:
    """[W_xh, W_hh, b_h] of Gluon layer ``prefix`` (``l0``, ``r0``, ``l1``, ...), as scratch arrays.

    ``params`` is :func:`gluon_rnn_params` of an initialised layer (run one
    forward pass first if its input size was left to deferred initialisation).
    Gluon stores weights as (num_hiddens, num_inputs), so they are
    transposed, and it has two biases (input-to-hidden and hidden-to-hidden)
    where the equations have one: b_h is their sum.
    Taught in chapter "Deep recurrent neural networks".
    """
    W_xh = params[f"{prefix}_i2h_weight"].data().T.copy()                   # (num_inputs, num_hiddens)
    W_hh = params[f"{prefix}_h2h_weight"].data().T.copy()                   # (num_hiddens, num_hiddens)
    b_h = params[f"{prefix}_i2h_bias"].data() + params[f"{prefix}_h2h_bias"].data()  # (num_hiddens,)
    return [W_xh, W_hh, b_h]


def deep_params_from_gluon(net) -> list:
    """The scratch parameter list of :func:`deep_rnn` holding the weights of a Gluon ``RNNModel``.

    ``net`` is a :class:`seqmx.rnn.RNNModel` around ``rnn.RNN(num_hiddens,
    num_layers=L)``; its layer ``l{k}`` becomes scratch layer k+1 and its
    dense layer becomes W_hq, b_q. Gradients are attached, so the copy can be
    trained or differentiated. Taught in chapter "Deep recurrent neural networks".
    """
    params = gluon_rnn_params(net.rnn)
    if "r0_i2h_weight" in params:
        raise ValueError("a bidirectional layer: use bi_params_from_gluon for each of its layers")
    num_layers = len({name.split("_")[0] for name in params})  # l0, l1, ...
    out = []
    for layer in range(num_layers):
        out.extend(layer_params_from_gluon(params, f"l{layer}"))
    out.append(net.dense.weight.data().T.copy())  # W_hq: (num_hiddens, vocab_size)
    out.append(net.dense.bias.data().copy())      # b_q: (vocab_size,)
    for param in out:
        param.attach_grad()
    return out


# --- bidirectional RNN (chapter "Bidirectional recurrent neural networks") ----------------

def get_bi_rnn_params(num_inputs: int, num_hiddens_fwd: int, num_hiddens_bwd: int | None = None,
                      device=None) -> list:
    """[W_xh_f, W_hh_f, b_h_f, W_xh_b, W_hh_b, b_h_b] of one bidirectional layer, gradients attached.

    The two directions are independent layers that read the same input, so
    they may have different widths (``num_hiddens_bwd`` defaults to
    ``num_hiddens_fwd``). Taught in chapter "Bidirectional recurrent neural networks".
    """
    device = device or mx.cpu()
    num_hiddens_bwd = num_hiddens_fwd if num_hiddens_bwd is None else num_hiddens_bwd
    params = []
    for h in (num_hiddens_fwd, num_hiddens_bwd):
        params.append(_normal((num_inputs, h), device))  # W_xh of this direction
        params.append(_normal((h, h), device))           # W_hh of this direction
        params.append(np.zeros(h, ctx=device))           # b_h of this direction
    for param in params:
        param.attach_grad()
    return params


def init_bi_rnn_state(batch_size: int, num_hiddens_fwd: int, num_hiddens_bwd: int | None = None,
                      device=None) -> tuple:
    """Zero states ``(H_fwd, H_bwd)``: (batch_size, num_hiddens_fwd) and (batch_size, num_hiddens_bwd).

    Taught in chapter "Bidirectional recurrent neural networks".
    """
    device = device or mx.cpu()
    num_hiddens_bwd = num_hiddens_fwd if num_hiddens_bwd is None else num_hiddens_bwd
    return (np.zeros((batch_size, num_hiddens_fwd), ctx=device),
            np.zeros((batch_size, num_hiddens_bwd), ctx=device))


def bi_rnn_layer(inputs, state: tuple, params: list, activation: Callable = np.tanh):
    """One bidirectional layer: a forward RNN, a backward RNN, hidden states concatenated.

    fwd: H_t = activation(X_t W_xh_f + H_{t-1} W_hh_f + b_h_f), t = 1, ..., T;
    bwd: H_t = activation(X_t W_xh_b + H_{t+1} W_hh_b + b_h_b), t = T, ..., 1;
    H_t = [fwd H_t, bwd H_t].
    ``inputs``: (num_steps, batch_size, num_inputs). Returns the hidden states
    (num_steps, batch_size, num_hiddens_fwd + num_hiddens_bwd) and the final
    states ``(H_fwd at step T, H_bwd at step 1)``, as Gluon's
    ``rnn.RNN(bidirectional=True)`` does. Stack calls for more layers.
    Taught in chapter "Bidirectional recurrent neural networks".
    """
    H_fwd, H_bwd = state
    Hs_fwd, H_fwd = rnn_layer(inputs, H_fwd, *params[:3], activation)  # (T, n, h_fwd)
    # The backward direction is an ordinary RNN run on the time-reversed sequence;
    # flipping its outputs back puts the state that has read X_t, ..., X_T at step t.
    Hs_bwd, H_bwd = rnn_layer(np.flip(inputs, axis=0), H_bwd, *params[3:], activation)
    Hs_bwd = np.flip(Hs_bwd, axis=0)                                     # (T, n, h_bwd)
    return np.concatenate([Hs_fwd, Hs_bwd], axis=2), (H_fwd, H_bwd)      # (T, n, h_fwd + h_bwd)


def bi_params_from_gluon(gluon_layer, layer: int = 0) -> list:
    """The 6 scratch parameters of :func:`bi_rnn_layer` copied from layer ``layer`` of a Gluon
    ``rnn.RNN(..., bidirectional=True)`` (``l{layer}`` is forward, ``r{layer}`` backward).

    Taught in chapter "Bidirectional recurrent neural networks".
    """
    params = gluon_rnn_params(gluon_layer)
    out = layer_params_from_gluon(params, f"l{layer}") + layer_params_from_gluon(params, f"r{layer}")
    for param in out:
        param.attach_grad()
    return out


# --- a task where both directions help: restoring masked characters -----------------------

def mask_chars(X, mask_id: int, mask_prob: float, rng: random.Random, skip_ids=()):
    """Hide a random ``mask_prob`` share of the tokens of ``X`` behind ``mask_id``.

    ``X``: (batch_size, num_steps) token indices. Tokens in ``skip_ids`` (for
    example the space) are never masked. Returns the masked input and a 0/1
    weight array of the same shape marking the hidden positions, which are
    the only ones scored. Taught in chapter "Bidirectional recurrent neural networks".
    """
    import numpy as onp
    X_np = X.asnumpy().astype("int64")
    draws = onp.array([[rng.random() for _ in range(X_np.shape[1])] for _ in range(X_np.shape[0])])
    weights = (draws < mask_prob) & ~onp.isin(X_np, list(skip_ids))
    masked = onp.where(weights, mask_id, X_np)
    return np.array(masked, dtype=X.dtype), np.array(weights.astype("float32"))


def _masked_batches(data_iter, mask_id, mask_prob, rng, skip_ids, reverse):
    for X, _ in data_iter:  # Y is the next-token target; here the target is X itself
        X_masked, weights = mask_chars(X, mask_id, mask_prob, rng, skip_ids)
        if reverse:  # a unidirectional model that reads right to left
            X, X_masked, weights = (np.flip(a, axis=1) for a in (X, X_masked, weights))
        yield X_masked, X, weights


def train_masked(net, train_iter, lr: float, num_epochs: int, mask_id: int, mask_prob: float = 0.15,
                 skip_ids=(), reverse: bool = False, clip_theta: float = 1.0, seed: int = 0) -> dict:
    """Train a :class:`seqmx.rnn.RNNModel` to restore masked tokens (loss on masked positions only).

    The state is reset for every minibatch (each window is one example).
    ``reverse=True`` feeds every window right to left. Returns the training
    loss per epoch and the seconds taken. Taught in chapter
    "Bidirectional recurrent neural networks".
    """
    from seqmx.rnn import grad_clipping
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": lr})
    rng, losses, start = random.Random(seed), [], time.perf_counter()
    for _ in range(num_epochs):
        total, count = 0.0, 0.0
        for X_masked, X, weights in _masked_batches(train_iter, mask_id, mask_prob, rng, skip_ids, reverse):
            state = net.begin_state(batch_size=X.shape[0])
            w = weights.T.reshape(-1)  # time-major, like the outputs
            with autograd.record():
                y_hat, _ = net(X_masked, state)  # (num_steps * batch_size, vocab_size)
                l = (loss(y_hat, X.T.reshape(-1)) * w).sum() / max(float(w.sum()), 1.0)
            l.backward()
            grad_clipping(net, clip_theta)
            trainer.step(1)
            total += float(l) * float(w.sum())
            count += float(w.sum())
        losses.append(total / count)
    return {"loss": losses, "seconds": time.perf_counter() - start}


def masked_accuracy(net, data_iter, mask_id: int, mask_prob: float = 0.15, skip_ids=(),
                    reverse: bool = False, seed: int = 1) -> float:
    """Share of masked tokens the model restores exactly (argmax), on seeded masks.

    Taught in chapter "Bidirectional recurrent neural networks".
    """
    rng, correct, count = random.Random(seed), 0.0, 0.0
    for X_masked, X, weights in _masked_batches(data_iter, mask_id, mask_prob, rng, skip_ids, reverse):
        y_hat, _ = net(X_masked, net.begin_state(batch_size=X.shape[0]))
        hits = (y_hat.argmax(axis=1).astype(X.dtype) == X.T.reshape(-1)).astype("float32")
        w = weights.T.reshape(-1)
        correct += float((hits * w).sum())
        count += float(w.sum())
    return correct / count if count else math.nan
