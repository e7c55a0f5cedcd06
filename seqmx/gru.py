"""Gated recurrent units (GRU) from scratch, in both the d2l and the cuDNN/Gluon form.

Taught in chapter "Gated recurrent units (GRU)". The functions plug into
:class:`seqmx.rnn.RNNModelScratch` exactly like :func:`seqmx.rnn.get_rnn_params`,
:func:`seqmx.rnn.init_rnn_state` and :func:`seqmx.rnn.rnn`::

    net = RNNModelScratch(len(vocab), num_hiddens, device,
                          get_gru_params, init_gru_state, gru)

Two GRUs are in use, differing only in the candidate state:

- ``reset_after=False`` (Cho et al. 2014, d2l, the notes): the reset gate
  scales the state *before* the hidden matrix product,
  ``H~ = tanh(X W_xh + (R * H) W_hh + b_h)``;
- ``reset_after=True`` (cuDNN, and so Gluon's ``rnn.GRU``): the reset gate
  scales the product, which has a bias of its own,
  ``H~ = tanh(X W_xh + b_xh + R * (H W_hh + b_hh))``.

Parameters are a flat list, as in d2l:
``[W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]``, with one
more vector ``b_hh`` after ``b_h`` when ``reset_after=True`` (then ``b_h`` is
the input-side bias ``b_xh``). Shapes: ``W_x*`` (num_inputs, num_hiddens),
``W_h*`` (num_hiddens, num_hiddens), biases (num_hiddens,), ``W_hq``
(num_hiddens, vocab_size), ``b_q`` (vocab_size,).
"""
from __future__ import annotations

import mxnet as mx
from mxnet import np, npx

npx.set_np()

NUM_GATE_PARAMS = {False: 9, True: 10}  # parameters before W_hq, b_q, per variant


def get_gru_params(vocab_size: int, num_hiddens: int, device=None, reset_after: bool = False) -> list:
    """GRU language-model parameters with gradients attached; weights ~ N(0, 0.01^2), biases 0.

    Taught in chapter "Gated recurrent units (GRU)". One-hot inputs and
    logits over the vocabulary, so num_inputs = num_outputs = vocab_size.
    ``reset_after=True`` adds the bias ``b_hh`` of the hidden product (Gluon's
    ``h2h_bias`` of the candidate), giving the parameter list of Gluon's GRU.
    """
    device = device or mx.cpu()
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return np.random.normal(scale=0.01, size=shape, ctx=device)

    def three():
        return (normal((num_inputs, num_hiddens)),   # input -> hidden
                normal((num_hiddens, num_hiddens)),  # hidden -> hidden
                np.zeros(num_hiddens, ctx=device))   # bias

    W_xz, W_hz, b_z = three()  # update gate
    W_xr, W_hr, b_r = three()  # reset gate
    W_xh, W_hh, b_h = three()  # candidate state
    params = [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h]
    if reset_after:
        params.append(np.zeros(num_hiddens, ctx=device))  # b_hh: bias inside R * (H W_hh + b_hh)
    W_hq = normal((num_hiddens, num_outputs))  # hidden -> output logits
    b_q = np.zeros(num_outputs, ctx=device)
    params += [W_hq, b_q]
    for param in params:
        param.attach_grad()
    return params


def init_gru_state(batch_size: int, num_hiddens: int, device=None) -> tuple:
    """The initial state: a tuple holding H of zeros (batch_size, num_hiddens).

    Taught in chapter "Gated recurrent units (GRU)"; like the plain RNN, a GRU
    carries one state tensor (an LSTM carries two).
    """
    return (np.zeros((batch_size, num_hiddens), ctx=device or mx.cpu()),)


def _gate_params(params: list, reset_after: bool) -> list:
    """The parameters before the output layer, checked against the variant."""
    n = NUM_GATE_PARAMS[reset_after]
    if len(params) != n + 2:
        raise ValueError(f"reset_after={reset_after} needs {n + 2} parameters, got {len(params)} "
                         f"(make them with get_gru_params(..., reset_after={reset_after}))")
    return params[:n]


def gru_step(X, H, params: list, reset_after: bool = False) -> tuple:
    """One GRU time step: returns the new state H_t and the gates ``(R, Z, H_tilde)``.

    Taught in chapter "Gated recurrent units (GRU)". ``X``: (batch_size,
    num_inputs), ``H``: (batch_size, num_hiddens); the gates and H_t are
    (batch_size, num_hiddens). ``params`` may include the output layer, which
    is ignored here.
    """
    gates = _gate_params(params, reset_after)
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h = gates[:9]
    Z = npx.sigmoid(np.dot(X, W_xz) + np.dot(H, W_hz) + b_z)  # update gate, in (0, 1)
    R = npx.sigmoid(np.dot(X, W_xr) + np.dot(H, W_hr) + b_r)  # reset gate, in (0, 1)
    if reset_after:  # cuDNN / Gluon: reset the product H W_hh (+ its own bias b_hh)
        b_hh = gates[9]
        H_tilde = np.tanh(np.dot(X, W_xh) + b_h + R * (np.dot(H, W_hh) + b_hh))
    else:            # Cho et al. / d2l: reset the state, then multiply
        H_tilde = np.tanh(np.dot(X, W_xh) + np.dot(R * H, W_hh) + b_h)
    H = Z * H + (1 - Z) * H_tilde  # keep the old state where Z ~ 1, take the candidate where Z ~ 0
    return H, (R, Z, H_tilde)


def gru(inputs, state: tuple, params: list, reset_after: bool = False):
    """Run a GRU over all time steps and map every state to logits.

    Taught in chapter "Gated recurrent units (GRU)". ``inputs``: (num_steps,
    batch_size, num_inputs). Returns the outputs (num_steps * batch_size,
    vocab_size) and the new state ``(H,)``, as :func:`seqmx.rnn.rnn` does.
    For :class:`seqmx.rnn.RNNModelScratch` with ``reset_after=True``, pass
    ``functools.partial(gru, reset_after=True)``.
    """
    W_hq, b_q = params[-2:]
    (H,) = state
    outputs = []
    for X in inputs:  # X: (batch_size, num_inputs)
        H, _ = gru_step(X, H, params, reset_after)  # (batch_size, num_hiddens)
        outputs.append(np.dot(H, W_hq) + b_q)        # (batch_size, vocab_size)
    return np.concatenate(outputs, axis=0), (H,)


def gru_params_from_gluon(net) -> list:
    """Scratch ``reset_after=True`` parameters equal to a trained :class:`seqmx.rnn.RNNModel` GRU.

    Taught in chapter "Gated recurrent units (GRU)". ``net.rnn`` must be a
    one-layer, one-direction ``gluon.rnn.GRU``. Gluon stores each weight as
    (3 * num_hiddens, num_inputs) with the gates stacked in the order reset,
    update, new (candidate), and multiplies ``x W^T``; scratch weights are the
    transposed slices. The separate input and hidden biases of the two gates
    only ever appear summed, so b_r = b_ir + b_hr and b_z = b_iz + b_hz; the
    candidate keeps both (b_xh = b_in, b_hh = b_hn). Returns copies with
    gradients attached, in the order of :func:`get_gru_params`.
    """
    layer = net.rnn
    if layer._num_layers != 1 or layer._dir != 1 or layer._mode != "gru":
        raise ValueError("expected a one-layer, unidirectional gluon.rnn.GRU")
    h = layer._hidden_size
    W_i, W_h = layer.l0_i2h_weight.data(), layer.l0_h2h_weight.data()  # (3h, num_inputs), (3h, h): rows r | z | n
    b_i, b_h = layer.l0_i2h_bias.data(), layer.l0_h2h_bias.data()      # (3h,) each
    r, z, n = slice(0, h), slice(h, 2 * h), slice(2 * h, 3 * h)
    params = [W_i[z].T, W_h[z].T, b_i[z] + b_h[z],   # update gate
              W_i[r].T, W_h[r].T, b_i[r] + b_h[r],   # reset gate
              W_i[n].T, W_h[n].T, b_i[n], b_h[n],    # candidate: b_xh, b_hh
              net.dense.weight.data().T, net.dense.bias.data()]  # (h, vocab_size), (vocab_size,)
    params = [param.copy() for param in params]
    for param in params:
        param.attach_grad()
    return params


def force_gates(params: list, reset=None, update=None, reset_after: bool = False, bias: float = 100.0) -> list:
    """A copy of GRU parameters whose reset and/or update gate is saturated at 0 or 1.

    Taught in chapter "Gated recurrent units (GRU)" (the ideal-gate exercise).
    ``reset``/``update`` is 0, 1 or None (leave the gate as it is), or a list
    with one such value per hidden unit, since a gate acts unit by unit. A
    forced unit's weights are zeroed and its bias set to -bias or +bias, so
    the gate equals sigmoid(-+bias) whatever X and H are; in float32
    sigmoid(100) is exactly 1 and sigmoid(-100) exactly 0. This is what
    training would have to learn to give the gates these values, with finite
    but large biases.
    """
    params = [param.copy() for param in params]
    _gate_params(params, reset_after)  # checks the variant
    num_hiddens = params[2].shape[0]
    for value, (iw, ib) in ((update, (0, 2)), (reset, (3, 5))):  # W_x*, W_h*, b_* start at iw
        value = value.tolist() if hasattr(value, "tolist") else value  # NumPy or MXNet arrays of 0/1
        values = list(value) if isinstance(value, (list, tuple)) else [value] * num_hiddens
        if len(values) != num_hiddens or any(v is not None and v not in (0, 1) for v in values):
            raise ValueError(f"a gate is forced to 0, 1 or None, for all {num_hiddens} units at once or "
                             f"one value per unit, not {value!r}")
        if all(v is None for v in values):
            continue
        keep = np.array([v is None for v in values], dtype=params[ib].dtype)  # 1: the learned gate stays
        target = np.array([0 if v is None else (bias if v == 1 else -bias) for v in values],
                          dtype=params[ib].dtype)
        params[iw] = params[iw] * keep          # W_x*: no dependence on the input for forced units
        params[iw + 1] = params[iw + 1] * keep  # W_h*: no dependence on the state
        params[ib] = params[ib] * keep + target
    return params


def gru_with_gate_schedule(inputs, H, params: list, schedule: list, reset_after: bool = False) -> list:
    """Run GRU steps with some gates forced, step by step; return the state after every step.

    Taught in chapter "Gated recurrent units (GRU)" (the ideal-gate exercise).
    ``inputs``: (num_steps, batch_size, num_inputs), ``H``: (batch_size,
    num_hiddens). ``schedule[t]`` is a pair ``(reset, update)`` for step t,
    each 0, 1 or None (the learned gate), as in :func:`force_gates`.
    """
    if len(schedule) != len(inputs):
        raise ValueError(f"{len(inputs)} steps but a schedule of {len(schedule)}")
    states = []
    for X, (reset, update) in zip(inputs, schedule):  # X: (batch_size, num_inputs)
        forced = reset is not None or update is not None
        step_params = force_gates(params, reset, update, reset_after) if forced else params
        H, _ = gru_step(X, H, step_params, reset_after)  # (batch_size, num_hiddens)
        states.append(H)
    return states
