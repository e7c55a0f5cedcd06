"""Long short-term memory (LSTM) from scratch, two of its variants, and a bridge to Gluon's ``rnn.LSTM``.

Taught in chapter "Long short-term memory (LSTM)". The forward functions
(:func:`lstm`, :func:`lstm_peephole`, :func:`lstm_coupled`) have the
signature ``forward_fn(inputs, state, params)`` that
:class:`seqmx.rnn.RNNModelScratch` expects, the ``get_*_params`` functions
the signature ``get_params(vocab_size, num_hiddens, device)`` and
:func:`init_lstm_state` the signature ``init_state(batch_size, num_hiddens,
device)``. The state is a pair ``(H, C)``: the hidden state and the memory
cell, each (batch_size, num_hiddens).

Each variant is one *cell* function, ``cell(X, H, C, gate_params) -> (H, C,
gates)``, that computes a single time step and also returns its gates (so
that they can be inspected and tested); :func:`unroll` runs a cell over all
time steps and adds the output layer.

Parameter lists end with the output layer ``W_hq, b_q``; everything before
it belongs to the cell:

- standard: ``W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c``
- peephole: the standard twelve, then the diagonal peephole weights ``w_ci, w_cf, w_co``
- coupled:  the standard twelve without the input gate's ``W_xi, W_hi, b_i``
"""
from __future__ import annotations

from typing import Callable

import mxnet as mx
from mxnet import np, npx

npx.set_np()


def _normal(shape, device):
    return np.random.normal(scale=0.01, size=shape, ctx=device)


def _gate_params(num_inputs: int, num_hiddens: int, device) -> tuple:
    """Input weights, recurrent weights and bias of one gate (or of the candidate cell)."""
    return (_normal((num_inputs, num_hiddens), device),   # W_x*: (num_inputs, num_hiddens)
            _normal((num_hiddens, num_hiddens), device),  # W_h*: (num_hiddens, num_hiddens)
            np.zeros(num_hiddens, ctx=device))            # b_*:  (num_hiddens,)


def _attach(params: list) -> list:
    for param in params:
        param.attach_grad()
    return params


def get_lstm_params(vocab_size: int, num_hiddens: int, device=None) -> list:
    """The 14 parameters of a scratch LSTM language model, weights ~ N(0, 0.01^2), biases 0.

    Taught in chapter "Long short-term memory (LSTM)". Order: input gate,
    forget gate, output gate, candidate memory cell (three arrays each), then
    the output layer ``W_hq, b_q``.
    """
    device = device or mx.cpu()
    num_inputs = num_outputs = vocab_size
    W_xi, W_hi, b_i = _gate_params(num_inputs, num_hiddens, device)  # input gate
    W_xf, W_hf, b_f = _gate_params(num_inputs, num_hiddens, device)  # forget gate
    W_xo, W_ho, b_o = _gate_params(num_inputs, num_hiddens, device)  # output gate
    W_xc, W_hc, b_c = _gate_params(num_inputs, num_hiddens, device)  # candidate memory cell
    W_hq = _normal((num_hiddens, num_outputs), device)              # hidden -> output logits
    b_q = np.zeros(num_outputs, ctx=device)
    return _attach([W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q])


def init_lstm_state(batch_size: int, num_hiddens: int, device=None) -> tuple:
    """The initial state ``(H, C)``: hidden state and memory cell, both zeros (batch_size, num_hiddens)."""
    device = device or mx.cpu()
    return (np.zeros((batch_size, num_hiddens), ctx=device),
            np.zeros((batch_size, num_hiddens), ctx=device))


def lstm_cell(X, H, C, params: list) -> tuple:
    """One LSTM time step. Returns ``(H_t, C_t, (I_t, F_t, O_t, C_tilde_t))``.

    ``X``: (batch_size, num_inputs); ``H``, ``C``: (batch_size, num_hiddens);
    ``params``: the twelve gate parameters of :func:`get_lstm_params`.
    """
    W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c = params
    I = npx.sigmoid(np.dot(X, W_xi) + np.dot(H, W_hi) + b_i)       # input gate, in (0, 1)
    F = npx.sigmoid(np.dot(X, W_xf) + np.dot(H, W_hf) + b_f)       # forget gate, in (0, 1)
    O = npx.sigmoid(np.dot(X, W_xo) + np.dot(H, W_ho) + b_o)       # output gate, in (0, 1)
    C_tilde = np.tanh(np.dot(X, W_xc) + np.dot(H, W_hc) + b_c)     # candidate memory, in (-1, 1)
    C = F * C + I * C_tilde                                         # memory cell: unbounded
    H = O * np.tanh(C)                                              # hidden state, in (-1, 1)
    return H, C, (I, F, O, C_tilde)


def unroll(cell: Callable, inputs, state: tuple, params: list) -> tuple:
    """Run ``cell`` over every time step and apply the output layer ``W_hq, b_q`` to each H_t.

    ``inputs``: (num_steps, batch_size, vocab_size). Returns the outputs
    (num_steps * batch_size, vocab_size) and the final state ``(H, C)``.
    """
    W_hq, b_q = params[-2:]
    H, C = state
    outputs = []
    for X in inputs:  # X: (batch_size, vocab_size)
        H, C, _ = cell(X, H, C, params[:-2])     # H, C: (batch_size, num_hiddens)
        outputs.append(np.dot(H, W_hq) + b_q)    # (batch_size, vocab_size)
    return np.concatenate(outputs, axis=0), (H, C)


def lstm(inputs, state: tuple, params: list) -> tuple:
    """The scratch LSTM language model's forward pass (``forward_fn`` of ``RNNModelScratch``)."""
    return unroll(lstm_cell, inputs, state, params)


# --- variant 1: peephole connections (Gers and Schmidhuber, 2000) ----------------------------

def get_peephole_lstm_params(vocab_size: int, num_hiddens: int, device=None) -> list:
    """The standard LSTM's parameters plus diagonal peephole weights ``w_ci, w_cf, w_co`` (17 arrays).

    Taught in chapter "Long short-term memory (LSTM)". The peephole weights
    start at zero, so that with the same seed a peephole LSTM starts as
    exactly the same function as the standard LSTM; training decides whether
    the gates should look at the memory cell.
    """
    device = device or mx.cpu()
    params = get_lstm_params(vocab_size, num_hiddens, device)  # same random draws as the standard LSTM
    peepholes = _attach([np.zeros(num_hiddens, ctx=device) for _ in range(3)])  # w_ci, w_cf, w_co
    return params[:-2] + peepholes + params[-2:]


def lstm_peephole_cell(X, H, C, params: list) -> tuple:
    """One peephole LSTM step: the input and forget gates see C_{t-1}, the output gate sees C_t.

    A peephole weight is a vector (a diagonal matrix): cell unit j only
    informs the gates of unit j. Returns ``(H_t, C_t, (I_t, F_t, O_t, C_tilde_t))``.
    """
    W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, w_ci, w_cf, w_co = params
    I = npx.sigmoid(np.dot(X, W_xi) + np.dot(H, W_hi) + w_ci * C + b_i)   # C is C_{t-1} here
    F = npx.sigmoid(np.dot(X, W_xf) + np.dot(H, W_hf) + w_cf * C + b_f)
    C_tilde = np.tanh(np.dot(X, W_xc) + np.dot(H, W_hc) + b_c)
    C = F * C + I * C_tilde                                                 # now C is C_t
    O = npx.sigmoid(np.dot(X, W_xo) + np.dot(H, W_ho) + w_co * C + b_o)   # the output gate sees C_t
    H = O * np.tanh(C)
    return H, C, (I, F, O, C_tilde)


def lstm_peephole(inputs, state: tuple, params: list) -> tuple:
    """Forward pass of the peephole LSTM language model (``forward_fn`` of ``RNNModelScratch``)."""
    return unroll(lstm_peephole_cell, inputs, state, params)


# --- variant 2: coupled input and forget gates ---------------------------------------------------

def get_coupled_lstm_params(vocab_size: int, num_hiddens: int, device=None) -> list:
    """Parameters of an LSTM whose input gate is 1 - F_t: the standard ones without W_xi, W_hi, b_i (11 arrays).

    Taught in chapter "Long short-term memory (LSTM)".
    """
    device = device or mx.cpu()
    num_inputs = num_outputs = vocab_size
    W_xf, W_hf, b_f = _gate_params(num_inputs, num_hiddens, device)  # forget gate
    W_xo, W_ho, b_o = _gate_params(num_inputs, num_hiddens, device)  # output gate
    W_xc, W_hc, b_c = _gate_params(num_inputs, num_hiddens, device)  # candidate memory cell
    W_hq = _normal((num_hiddens, num_outputs), device)
    b_q = np.zeros(num_outputs, ctx=device)
    return _attach([W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q])


def lstm_coupled_cell(X, H, C, params: list) -> tuple:
    """One step of the coupled LSTM: C_t = F_t * C_{t-1} + (1 - F_t) * C_tilde_t.

    What is forgotten is exactly what is replaced by new content, as in the
    GRU's update gate. Returns ``(H_t, C_t, (I_t, F_t, O_t, C_tilde_t))`` with
    ``I_t = 1 - F_t``.
    """
    W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c = params
    F = npx.sigmoid(np.dot(X, W_xf) + np.dot(H, W_hf) + b_f)
    I = 1 - F                                                       # the coupling
    O = npx.sigmoid(np.dot(X, W_xo) + np.dot(H, W_ho) + b_o)
    C_tilde = np.tanh(np.dot(X, W_xc) + np.dot(H, W_hc) + b_c)
    C = F * C + I * C_tilde               # a convex combination: |C_t| <= max(|C_{t-1}|, 1)
    H = O * np.tanh(C)
    return H, C, (I, F, O, C_tilde)


def lstm_coupled(inputs, state: tuple, params: list) -> tuple:
    """Forward pass of the coupled LSTM language model (``forward_fn`` of ``RNNModelScratch``)."""
    return unroll(lstm_coupled_cell, inputs, state, params)


# --- Gluon's fused rnn.LSTM ------------------------------------------------------------------------

def lstm_params_from_gluon(net) -> list:
    """The 14 scratch parameters (order of :func:`get_lstm_params`) copied from a Gluon LSTM model.

    Taught in chapter "Long short-term memory (LSTM)". ``net`` is a
    :class:`seqmx.rnn.RNNModel` around a one-layer, one-direction
    ``rnn.LSTM``. Gluon stacks the four gates' weights in one
    (4 * num_hiddens, num_inputs) matrix in the order input, forget,
    candidate ("c" or "g"), output, stores them transposed (y = x W^T) and
    has two biases, ``i2h_bias`` and ``h2h_bias``, which only ever appear
    summed.
    """
    layer = net.rnn
    assert layer._num_layers == 1 and layer._dir == 1, "one layer, one direction only"
    weights = {name: getattr(layer, name).data() for name in
               ("l0_i2h_weight", "l0_h2h_weight", "l0_i2h_bias", "l0_h2h_bias")}
    h = layer._hidden_size
    rows = {gate: slice(k * h, (k + 1) * h) for k, gate in enumerate("ifco")}  # Gluon's gate order
    params = []
    for gate in "ifoc":  # our order: input, forget, output, candidate
        r = rows[gate]
        params += [weights["l0_i2h_weight"][r].T.copy(),                          # (num_inputs, h)
                   weights["l0_h2h_weight"][r].T.copy(),                          # (h, h)
                   weights["l0_i2h_bias"][r] + weights["l0_h2h_bias"][r]]         # (h,)
    params += [net.dense.weight.data().T.copy(), net.dense.bias.data().copy()]   # (h, vocab), (vocab,)
    return _attach(params)
