"""Comparing recurrent language models: a scratch deep LSTM and one measuring function.

Taught in chapter "Comparing recurrent models". :func:`measure` trains one
model under a fixed configuration and seed and returns one row of the
chapter's table (parameters, training and validation perplexity, tokens per
second). The deep LSTM (:func:`get_deep_lstm_params`,
:func:`init_deep_lstm_state`, :func:`deep_lstm`) stacks the LSTM cell of
:mod:`seqmx.lstm` the way :func:`seqmx.deep.deep_rnn` stacks plain recurrent
layers, and plugs into :class:`seqmx.rnn.RNNModelScratch` once the number of
layers is fixed with :func:`functools.partial`.
"""
from __future__ import annotations

from typing import Callable

import mxnet as mx
from mxnet import gluon, np, npx

from seqmx import lstm, rnn

npx.set_np()


# --- a deep LSTM from scratch --------------------------------------------------------------

def get_deep_lstm_params(vocab_size: int, num_hiddens: int, device=None, num_layers: int = 2) -> list:
    """The twelve gate parameters of every layer, then ``W_hq, b_q``; weights ~ N(0, 0.01^2), biases 0.

    Layer 1 reads the one-hot input (vocab_size wide), every layer above the
    hidden state of the layer below (num_hiddens wide). Each layer's twelve
    arrays are in the order of :func:`seqmx.lstm.get_lstm_params` (input,
    forget, output gate, candidate cell), and with ``num_layers=1`` the list
    is drawn exactly as :func:`seqmx.lstm.get_lstm_params` draws it.
    Taught in chapter "Comparing recurrent models".
    """
    device = device or mx.cpu()
    params, num_inputs = [], vocab_size
    for _ in range(num_layers):
        for _gate in "ifoc":                                           # input, forget, output, candidate
            params.extend(lstm._gate_params(num_inputs, num_hiddens, device))  # W_x*, W_h*, b_*
        num_inputs = num_hiddens                                       # the next layer reads this one's H
    params.append(lstm._normal((num_hiddens, vocab_size), device))     # W_hq: top layer -> logits
    params.append(np.zeros(vocab_size, ctx=device))                    # b_q
    return lstm._attach(params)


def init_deep_lstm_state(batch_size: int, num_hiddens: int, device=None, num_layers: int = 2) -> tuple:
    """A flat tuple ``(H_1, C_1, ..., H_L, C_L)`` of zeros, each (batch_size, num_hiddens).

    Flat, not nested, so that :func:`seqmx.rnn.train_epoch` can detach it
    like any other state. Taught in chapter "Comparing recurrent models".
    """
    device = device or mx.cpu()
    return tuple(np.zeros((batch_size, num_hiddens), ctx=device) for _ in range(2 * num_layers))


def deep_lstm(inputs, state: tuple, params: list) -> tuple:
    """L stacked LSTM layers (L = len(state) // 2) and an output layer on the top one.

    Layer l runs :func:`seqmx.lstm.lstm_cell` over all time steps on the
    hidden states of layer l - 1 (layer 1 on the one-hot ``inputs``,
    (num_steps, batch_size, vocab_size)); only the top layer's H_t reaches
    the output layer. Returns the logits (num_steps * batch_size, vocab_size)
    and the new state ``(H_1, C_1, ..., H_L, C_L)``.
    Taught in chapter "Comparing recurrent models".
    """
    W_hq, b_q = params[-2:]
    Xs, new_state = inputs, []
    for layer in range(len(state) // 2):
        H, C = state[2 * layer], state[2 * layer + 1]
        cell_params = params[12 * layer: 12 * layer + 12]
        outputs = []
        for X in Xs:                                          # X: (batch_size, num_inputs of this layer)
            H, C, _ = lstm.lstm_cell(X, H, C, cell_params)    # H, C: (batch_size, num_hiddens)
            outputs.append(H)
        Xs = np.stack(outputs)                                # (num_steps, batch_size, num_hiddens)
        new_state += [H, C]
    logits = np.dot(Xs, W_hq) + b_q                           # (num_steps, batch_size, vocab_size)
    return logits.reshape(-1, W_hq.shape[1]), tuple(new_state)


# --- one row of the comparison table ------------------------------------------------------------

def measure(make_net: Callable, *, batch_size: int, num_steps: int, lr: float, num_epochs: int,
            seed: int = 0, clip_theta: float | None = 1.0,
            load_data: Callable = rnn.load_data_time_machine) -> dict:
    """Train one model from ``seed`` and return its row of the comparison table.

    Taught in chapter "Comparing recurrent models". ``make_net(vocab_size)``
    builds the model; a Gluon block is initialised with Gluon's default
    initialiser and hybridized here, a scratch model draws its own
    parameters. Before the data and the model are made, every generator is
    seeded with ``seed``, so that all models of one seed see the same
    minibatches (``load_data(batch_size, num_steps, seed=seed)``, The Time
    Machine with its validation split by default) and a repeated call gives
    the same numbers. Training is :func:`seqmx.rnn.train` with SGD and
    gradient clipping at ``clip_theta``.

    Returns a dict with ``parameters`` (trainable scalars), ``train ppl`` (of
    the last epoch, averaged while training), ``valid ppl`` (after the last
    epoch), ``tokens/s`` (training tokens per wall-clock second in the
    fastest epoch: other jobs on a shared machine can only slow an epoch
    down; validation excluded), ``seconds`` (training and validation)
    and, not for the table, ``history`` (a :class:`seqmx.rnn.History`) and
    ``net`` (the trained model).
    """
    rnn.set_seed(seed)
    train_iter, valid_iter, vocab = load_data(batch_size, num_steps, seed=seed)
    net = make_net(len(vocab))
    if isinstance(net, gluon.Block):
        net.initialize()
        net.hybridize()
    history = rnn.train(net, train_iter, valid_iter, lr, num_epochs, clip_theta=clip_theta)
    return {"parameters": rnn.num_params(net),
            "train ppl": history.train_ppl[-1],
            "valid ppl": history.valid_ppl[-1],
            "tokens/s": max(history.tokens_per_sec),
            "seconds": history.seconds,
            "history": history,
            "net": net}
