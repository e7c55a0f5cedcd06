"""The scratch RNN, GRU and LSTM with their gates fused: as few, and as large, matrix products as the arithmetic allows.

Taught in chapter "Long short-term memory (LSTM)", section "Exercise: run
time of LSTM, GRU and RNN". Each function here is a drop-in ``forward_fn``
for :class:`seqmx.rnn.RNNModelScratch` with the SAME signature and the SAME
parameter list as the scratch forward it replaces, so::

    net = RNNModelScratch(len(vocab), num_hiddens, device,
                          lstm.get_lstm_params, lstm.init_lstm_state, lstm_fused)

trains the very same model as ``lstm.lstm`` does (same parameters, same
checkpoints), only faster. Four changes, none of which alters the
arithmetic (only the order of float32 additions, and oneDNN's
element-wise functions, so results agree to float32 rounding):

1. the gate blocks are concatenated once per forward call, inside the
   recorded graph (``np.concatenate`` passes each block's gradient back to
   the original array), e.g. ``W_x = [W_xi | W_xf | W_xo | W_xc]``
   (vocab_size, 4 * num_hiddens);
2. the input projection is hoisted out of the time loop: ONE product
   (num_steps * batch_size, vocab_size) @ (vocab_size, G * num_hiddens) for
   all steps, with the biases (one ``FullyConnected`` operator);
3. per step ONE product ``H @ W_h`` (num_hiddens, G * num_hiddens) for every
   gate whose recurrent input is H, then one split into the gates; the output
   layer is one product over all steps;
4. the products, sigmoids and tanhs go through MXNet's oneDNN operators
   (``FullyConnected``, ``Activation``) instead of ``np.dot``, ``np.tanh`` and
   ``npx.sigmoid``, which are several times slower on these small arrays
   here (see :func:`_dense`, :func:`_tanh`).

Training tokens/s at the benchmark's size (bench/model_speed.py: vocabulary
28, 256 hidden, batch 32 x 35 steps, 2 threads) rose from about 24k to 44k
(RNN), 8k to 16k (GRU) and 8k to 15k (LSTM) when this module was written;
the benchmark's report has the current figures.

What can be fused in the GRU depends on where the reset gate acts. In d2l's
form (``reset_after=False``), ``H~ = tanh(X W_xh + (R * H) W_hh + b_h)``: the
candidate's product needs R of the same step, so only the update and reset
gates' recurrent blocks are fused, ``H @ [W_hz | W_hr]``, and ``(R * H) @
W_hh`` stays a second product per step (all three input blocks are fused).
In the cuDNN/Gluon form (``reset_after=True``), ``H~ = tanh(X W_xh + b_xh + R *
(H W_hh + b_hh))``: all three recurrent blocks are one product.
"""
from __future__ import annotations

from typing import Callable

import mxnet as mx
from mxnet import np, npx

from .gru import _gate_params

npx.set_np()


def _split(x, num_outputs: int, axis: int = 0) -> list:
    """``np.split(x, num_outputs, axis)`` of a 2-D ``x`` as one MXNet ``SliceChannel`` operator.

    The split axis is first made an axis of its own, ``num_outputs`` long
    (a reshape, no copy), and squeezed away. Measured while writing this
    module (MXNet 1.9.1, one thread): cutting a (32, 1024) array into four
    column blocks took about 0.56 ms with ``np.split`` and 0.23 ms with
    ``SliceChannel`` on the columns directly, but 0.05 ms this way; and
    ``np.split``'s 35-way cut of the hoisted input product, with its
    backward, cost more than the products it saved.
    """
    if num_outputs == 1:
        return [x]
    n, m = x.shape
    shape = (num_outputs, n // num_outputs, m) if axis == 0 else (n, num_outputs, m // num_outputs)
    parts = mx.nd.split(x.reshape(shape).as_nd_ndarray(), num_outputs=num_outputs, axis=axis, squeeze_axis=True)
    return [part.as_np_ndarray() for part in parts]


def _dense(X, W_T, b=None):
    """X W + b as one ``FullyConnected`` operator; ``W_T`` is W transposed, (m, k) for X (n, k), b (m,).

    The same products as ``np.dot(X, W) + b``, but MXNet runs
    ``FullyConnected`` with oneDNN, and ``np.dot`` with OpenBLAS: for one
    LSTM step's (32, 256) @ (256, 1024) at 2 threads, forward and backward,
    about 0.47 ms against 1.8 ms here. And the bias's gradient is one column
    sum: the backward of MXNet 1.9's broadcasting ``+`` over (num_steps *
    batch_size, G * num_hiddens) rows took longer than a whole step.
    Transpose a weight once per forward call, outside the time loop.
    """
    return npx.fully_connected(X, W_T, b, no_bias=b is None, num_hidden=W_T.shape[0])


def _sigmoid(x):
    """``npx.sigmoid`` as oneDNN's element-wise operator (``Activation``): same values to 1 ulp, faster here."""
    return npx.activation(x, act_type="sigmoid")


def _tanh(x):
    """``np.tanh`` as oneDNN's ``Activation``: about 30 us instead of 150 us for (32, 256) at 2 threads here."""
    return npx.activation(x, act_type="tanh")


def _input_projection(inputs, W_x, b) -> list:
    """X W_x + b for all time steps at once, then one (batch_size, G * num_hiddens) array per step.

    ``inputs``: (num_steps, batch_size, num_inputs). One product and one
    split (whose backward is one concatenation), instead of num_steps
    products.
    """
    XW = _dense(inputs.reshape(-1, inputs.shape[-1]), W_x.T, b)  # (num_steps * batch_size, G * num_hiddens)
    return _split(XW, inputs.shape[0])                        # num_steps x (batch_size, G * num_hiddens)


def _output_layer(Hs: list, W_hq, b_q):
    """The logits of every step in one product: (num_steps * batch_size, vocab_size), rows in time order."""
    return _dense(np.concatenate(Hs, axis=0), W_hq.T, b_q)


def rnn_fused(inputs, state: tuple, params: list, activation: Callable = np.tanh) -> tuple:
    """:func:`seqmx.rnn.rnn` with the input product hoisted out of the loop and one output product.

    Taught in chapter "Long short-term memory (LSTM)", section "Exercise: run
    time of LSTM, GRU and RNN". Same signature and parameters
    ``[W_xh, W_hh, b_h, W_hq, b_q]`` as :func:`seqmx.rnn.rnn`. One block (G = 1),
    so there is nothing to concatenate: per step one product H @ W_hh.
    """
    W_xh, W_hh, b_h, W_hq, b_q = params
    W_hh_T = W_hh.T  # (num_hiddens, num_hiddens), once for all steps
    activation = _tanh if activation is np.tanh else activation
    (H,) = state
    Hs = []
    for XW in _input_projection(inputs, W_xh, b_h):  # XW: (batch_size, num_hiddens), X_t W_xh + b_h
        H = activation(XW + _dense(H, W_hh_T))         # (batch_size, num_hiddens)
        Hs.append(H)
    return _output_layer(Hs, W_hq, b_q), (H,)


def gru_fused(inputs, state: tuple, params: list, reset_after: bool = False) -> tuple:
    """:func:`seqmx.gru.gru` with fused gate blocks (see the module's docstring for what fuses).

    Taught in chapter "Long short-term memory (LSTM)", section "Exercise: run
    time of LSTM, GRU and RNN". Same signature and parameters
    ``[W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h(, b_hh), W_hq, b_q]``
    as :func:`seqmx.gru.gru`. d2l's form: per step the products
    H @ [W_hz | W_hr] (num_hiddens, 2 * num_hiddens) and (R * H) @ W_hh;
    ``reset_after=True``: one product H @ [W_hz | W_hr | W_hh].
    """
    gates = _gate_params(params, reset_after)
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h = gates[:9]
    W_hq, b_q = params[-2:]
    (H,) = state
    Hs = []
    if reset_after:  # cuDNN / Gluon: R scales H W_hh + b_hh, so all three recurrent blocks are one product
        W_x = np.concatenate([W_xz, W_xr, W_xh], axis=1)  # (num_inputs, 3 * num_hiddens): z | r | candidate
        W_h_T = np.concatenate([W_hz, W_hr, W_hh], axis=1).T  # (3 * num_hiddens, num_hiddens), transposed
        b_x = np.concatenate([b_z, b_r, b_h])             # (3 * num_hiddens,)
        b_hh = np.concatenate([np.zeros_like(b_z), np.zeros_like(b_r), gates[9]])  # only the candidate's
        for XW in _input_projection(inputs, W_x, b_x):  # XW: (batch_size, 3 * num_hiddens)
            XW_z, XW_r, XW_h = _split(XW, 3, axis=1)
            HW_z, HW_r, HW_h = _split(_dense(H, W_h_T, b_hh), 3, axis=1)  # each (batch_size, num_hiddens)
            Z = _sigmoid(XW_z + HW_z)         # update gate
            R = _sigmoid(XW_r + HW_r)         # reset gate
            H_tilde = _tanh(XW_h + R * HW_h)  # candidate state
            H = Z * H + (1 - Z) * H_tilde
            Hs.append(H)
    else:            # Cho et al. / d2l: the candidate's product needs this step's R, so it stays separate
        W_x_zr = np.concatenate([W_xz, W_xr], axis=1)   # (num_inputs, 2 * num_hiddens): z | r
        W_h_zr_T = np.concatenate([W_hz, W_hr], axis=1).T  # (2 * num_hiddens, num_hiddens), transposed
        W_hh_T = W_hh.T                                     # (num_hiddens, num_hiddens)
        b_zr = np.concatenate([b_z, b_r])               # (2 * num_hiddens,)
        steps = zip(_input_projection(inputs, W_x_zr, b_zr), _input_projection(inputs, W_xh, b_h))
        for XW_zr, XW_h in steps:  # (batch_size, 2 * num_hiddens), (batch_size, num_hiddens)
            Z, R = _split(_sigmoid(XW_zr + _dense(H, W_h_zr_T)), 2, axis=1)  # update, reset gates
            H_tilde = _tanh(XW_h + _dense(R * H, W_hh_T))                       # candidate state
            H = Z * H + (1 - Z) * H_tilde  # (batch_size, num_hiddens)
            Hs.append(H)
    return _output_layer(Hs, W_hq, b_q), (H,)


def lstm_fused(inputs, state: tuple, params: list) -> tuple:
    """:func:`seqmx.lstm.lstm` with all four gate blocks in one product per step.

    Taught in chapter "Long short-term memory (LSTM)", section "Exercise: run
    time of LSTM, GRU and RNN". Same signature and parameters
    ``[W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q]``
    as :func:`seqmx.lstm.lstm`. Per step: one product H @ [W_hi | W_hf |
    W_ho | W_hc] (num_hiddens, 4 * num_hiddens), one split of its
    (batch_size, 4 * num_hiddens) result into the four blocks, then the
    element-wise update of :func:`seqmx.lstm.lstm_cell`.
    """
    W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q = params
    W_x = np.concatenate([W_xi, W_xf, W_xo, W_xc], axis=1)  # (num_inputs, 4 * num_hiddens): i | f | o | c
    W_h_T = np.concatenate([W_hi, W_hf, W_ho, W_hc], axis=1).T  # (4 * num_hiddens, num_hiddens), transposed
    b = np.concatenate([b_i, b_f, b_o, b_c])                 # (4 * num_hiddens,)
    H, C = state
    Hs = []
    for XW in _input_projection(inputs, W_x, b):  # XW: (batch_size, 4 * num_hiddens)
        I, F, O, C_tilde = _split(XW + _dense(H, W_h_T), 4, axis=1)  # each (batch_size, num_hiddens)
        I, F, O = _sigmoid(I), _sigmoid(F), _sigmoid(O)                # input, forget, output gates
        C = F * C + I * _tanh(C_tilde)                                 # memory cell
        H = O * _tanh(C)                                               # hidden state, (batch_size, num_hiddens)
        Hs.append(H)
    return _output_layer(Hs, W_hq, b_q), (H, C)
