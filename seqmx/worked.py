"""The study notes' worked examples: their numbers, kept in one place.

Chapters "Text data and minibatch sampling" and "Recurrent neural networks"
reproduce these examples, and ``tests/test_samplers.py`` and
``tests/test_rnn_worked_examples.py`` check them; all of them import the
numbers from here instead of copying them. The values are exactly as printed
in the notes (``/work/shared/seeds``), rounded as the notes round them.

MXNet is imported inside the helpers only, so that reading the constants is cheap.
"""
from __future__ import annotations

# --- note 001, section 6.3: the two samplers on list(range(30)), batch_size=2, num_steps=6 ----------
# The notes print NDArrays of floats; the values are integers. Each entry is one minibatch (X, Y).

#: Sequential partitioning ("相邻采样", d2l's ``data_iter_consecutive``), as printed in note 001 §6.3.
NOTE_001_SEQUENTIAL = [
    ([[0, 1, 2, 3, 4, 5], [15, 16, 17, 18, 19, 20]],
     [[1, 2, 3, 4, 5, 6], [16, 17, 18, 19, 20, 21]]),
    ([[6, 7, 8, 9, 10, 11], [21, 22, 23, 24, 25, 26]],
     [[7, 8, 9, 10, 11, 12], [22, 23, 24, 25, 26, 27]]),
]

#: Random sampling ("随机采样", d2l's ``data_iter_random``), as printed in note 001 §6.3.
#: It came from an unseeded ``random.shuffle``: one draw among many, not reproducible.
NOTE_001_RANDOM = [
    ([[0, 1, 2, 3, 4, 5], [18, 19, 20, 21, 22, 23]],
     [[1, 2, 3, 4, 5, 6], [19, 20, 21, 22, 23, 24]]),
    ([[6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17]],
     [[7, 8, 9, 10, 11, 12], [13, 14, 15, 16, 17, 18]]),
]

# --- note 004: a tanh RNN with a 2-unit state, scalar input and scalar output ----------------------
# The note writes one weight matrix W_rnn = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]] that multiplies the
# concatenation [state, input]; its first two rows act on the state (W_hh), the last on the input (W_xh).
# Row-vector convention, as in d2l: H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h), O_t = H_t W_hq + b_q.

NOTE_004 = {
    "W_rnn": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],  # (num_hiddens + num_inputs, num_hiddens)
    "W_xh": [[0.5, 0.6]],                           # (num_inputs=1, num_hiddens=2): last row of W_rnn
    "W_hh": [[0.1, 0.2], [0.3, 0.4]],               # (num_hiddens, num_hiddens): first rows of W_rnn
    "b_h": [0.1, -0.1],                             # (num_hiddens,)
    "W_hq": [[1.0], [2.0]],                         # (num_hiddens, num_outputs=1)
    "b_q": [0.1],                                   # (num_outputs,)
    "X": [1.0, 2.0],                                # the input sequence, one scalar per time step
    "H0": [0.0, 0.0],                               # the initial state
    # What the note prints for the first time step (it shows no numbers for the second):
    "printed_step1": {"before_activation": [0.6, 0.5], "state": [0.537, 0.462], "output": 1.56},
    "printed_decimals": {"before_activation": 1, "state": 3, "output": 2},
}

# --- note 000: a ReLU RNN in PyTorch (input_size=1, hidden_size=3, bias=False), h0 of ones ---------
# PyTorch's convention (and Gluon's): weight_ih is (hidden, input), h_t = relu(x_t W_ih^T + h_{t-1} W_hh^T).
# Weights, inputs and outputs are printed with 4 decimals; the note's own comment calls weight_ih
# "shape(1,3)", but the printed matrix, like PyTorch's parameter, is (3, 1).

NOTE_000 = {
    "weight_ih": [[0.4389], [0.3772], [-0.3647]],   # (hidden_size=3, input_size=1)
    "weight_hh": [[0.3091, -0.0224, 0.4010],        # (hidden_size, hidden_size)
                  [-0.1867, -0.5099, 0.4860],
                  [0.4007, 0.2936, 0.1126]],
    "h0": [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]],     # (num_layers=1, batch_size=2, hidden_size=3)
    "x": [[[0.1416], [0.6004]],                      # (num_steps=5, batch_size=2, input_size=1)
          [[-1.1653], [-2.1373]],
          [[1.3519], [-0.7998]],
          [[-0.2477], [0.1398]],
          [[0.2404], [0.3897]]],
    "printed_output": [[[0.7498, 0.0000, 0.7552], [0.9512, 0.0159, 0.5879]],   # (5, 2, 3)
                       [[0.0232, 0.0000, 0.8105], [0.0000, 0.0000, 1.2314]],
                       [[0.9255, 0.8995, 0.0000], [0.1428, 0.2968, 0.4304]],
                       [[0.1572, 0.0000, 0.7252], [0.2714, 0.0839, 0.1419]],
                       [[0.4449, 0.4138, 0.0570], [0.3099, 0.1225, 0.0073]]],
    "printed_hidden": [[[0.4449, 0.4138, 0.0570], [0.3099, 0.1225, 0.0073]]],  # (1, 2, 3)
    # The note's hand computation of the second step (pre-activations), from the rounded first state:
    "hand_step2_before_relu": [[0.0232, -0.2125, 0.8104], [-0.4085, -0.7062, 1.2314]],
    "printed_decimals": 4,
}


def note_004_params():
    """Note 004's weights as MXNet arrays in :func:`seqmx.rnn.rnn`'s order [W_xh, W_hh, b_h, W_hq, b_q].

    Taught in chapter "Recurrent neural networks".
    """
    from mxnet import np
    return [np.array(NOTE_004[k]) for k in ("W_xh", "W_hh", "b_h", "W_hq", "b_q")]


def note_004_inputs():
    """Note 004's input sequence, time-major: (num_steps=2, batch_size=1, num_inputs=1)."""
    from mxnet import np
    return np.array(NOTE_004["X"]).reshape(-1, 1, 1)


def gluon_rnn_with_weights(i2h_weight, h2h_weight, activation: str = "relu", i2h_bias=None, h2h_bias=None):
    """A one-layer Gluon ``rnn.RNN`` whose parameters are set to the given (hidden, input) matrices.

    Gluon, like PyTorch, computes H_t = act(X_t W_i2h^T + b_i2h + H_{t-1} W_h2h^T + b_h2h): two
    bias vectors, zero here unless given (PyTorch's ``bias=False``). The parameters are found by
    their names in ``collect_params()``, which end in ``l0_i2h_weight``, ``l0_h2h_weight``,
    ``l0_i2h_bias`` and ``l0_h2h_bias`` after a prefix such as ``rnn0_``. Taught in chapter
    "Recurrent neural networks".
    """
    import numpy as onp
    from mxnet import np
    from mxnet.gluon import rnn

    i2h_weight = onp.asarray(i2h_weight, dtype="float32")  # (num_hiddens, num_inputs)
    h2h_weight = onp.asarray(h2h_weight, dtype="float32")  # (num_hiddens, num_hiddens)
    num_hiddens, num_inputs = i2h_weight.shape
    layer = rnn.RNN(num_hiddens, activation=activation, input_size=num_inputs)
    layer.initialize()
    values = {"l0_i2h_weight": i2h_weight, "l0_h2h_weight": h2h_weight,
              "l0_i2h_bias": onp.zeros(num_hiddens) if i2h_bias is None else i2h_bias,
              "l0_h2h_bias": onp.zeros(num_hiddens) if h2h_bias is None else h2h_bias}
    for name, param in layer.collect_params().items():
        suffix = next(s for s in values if name.endswith(s))
        if param.shape != onp.shape(values[suffix]):
            raise ValueError(f"{name}: expected shape {param.shape}, got {onp.shape(values[suffix])}")
        param.set_data(np.array(values[suffix], dtype="float32"))
    return layer


def rounds_to(value, printed, decimals: int) -> bool:
    """Whether ``value`` rounded to ``decimals`` decimals equals the ``printed`` number(s).

    This is "agrees to the note's printed precision". The rounding is done in
    float64, so that a float32 0.6 (0.60000002...) still rounds to 0.6.
    """
    import numpy as onp
    value = onp.asarray(value, dtype="float64")
    return bool(onp.allclose(onp.round(value, decimals), onp.asarray(printed, dtype="float64"),
                             rtol=0, atol=1e-12))
