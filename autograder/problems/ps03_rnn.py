"""Hidden checks of problem set 3, "Recurrent neural networks".

Each probe feeds the student's answer fixed inputs (the study notes' worked
examples 000 and 004) and seeded random ones, and returns plain values: for
an array its shape, its dtype string and its values as nested lists of
floats. ``python -m autograder calibrate`` records what the reference
solution returns. Seeds are fixed here, so the inputs are the same for the
reference and for every student. MXNet is imported inside the probes only.
"""
from __future__ import annotations

import random

import numpy as onp

from autograder.checks import ProblemChecks, mx_np as _np, plain_array as _plain

CHECKS = ProblemChecks()

# float32 arithmetic: a loop of np.dot, a concatenated [H, X] W_rnn product or Gluon's fused
# kernel give the same values up to rounding in the last bits, about 1e-7 relative per step.
VALUES_WHY = ("float32: the same formula summed in another order (np.dot, a concatenated [H, X] "
              "product, Gluon's fused kernel) differs by ~1e-7 relative per step; 1e-5 relative "
              "+ 1e-6 absolute allows that over 8 steps, a wrong formula misses it by far")


def _note_000_case():
    """Note 000's ReLU network in d2l's row convention, output layer the identity."""
    from seqmx.worked import NOTE_000
    np = _np()
    return dict(X=np.array(NOTE_000["x"]), H0=np.array(NOTE_000["h0"])[0],
                W_xh=np.array(NOTE_000["weight_ih"]).T, W_hh=np.array(NOTE_000["weight_hh"]).T,
                b_h=np.zeros(3), W_hq=np.eye(3), b_q=np.zeros(3), activation="relu")


def _note_004_case():
    """Note 004's tanh network, both time steps."""
    from seqmx.worked import NOTE_004, note_004_inputs, note_004_params
    np = _np()
    W_xh, W_hh, b_h, W_hq, b_q = note_004_params()
    return dict(X=note_004_inputs(), H0=np.array(NOTE_004["H0"]).reshape(1, 2),
                W_xh=W_xh, W_hh=W_hh, b_h=b_h, W_hq=W_hq, b_q=b_q, activation="tanh")


def _random_cases(seed: int, count: int, max_steps: int = 8) -> list[dict]:
    """Random float32 RNNs and inputs; weights ~ N(0, 1/h) keep the state of order one."""
    np = _np()
    rng = onp.random.RandomState(seed)
    cases = []
    for i in range(count):
        T, B, d, h, q = (rng.randint(1, max_steps + 1), rng.randint(1, 5), rng.randint(1, 7),
                         rng.randint(1, 9), rng.randint(1, 7))

        def arr(*shape, scale=1.0):
            return np.array(rng.normal(scale=scale, size=shape), dtype="float32")

        cases.append(dict(X=arr(T, B, d), H0=arr(B, h, scale=0.5),
                          W_xh=arr(d, h, scale=1 / onp.sqrt(d)), W_hh=arr(h, h, scale=1 / onp.sqrt(h)),
                          b_h=arr(h, scale=0.3), W_hq=arr(h, q, scale=1 / onp.sqrt(h)), b_q=arr(q, scale=0.3),
                          activation=("relu", "tanh")[i % 2]))
    return cases


def _call(fn, case: dict, *extra):
    c = case
    return fn(c["X"], *extra, c["H0"], c["W_xh"], c["W_hh"], c["b_h"], c["W_hq"], c["b_q"],
              activation=c["activation"])


@CHECKS.add(
    "rnn_lm_num_params.random", seed=301,
    hint="one output per word that can come next, whatever the input size; with embed_size the "
         "input size is embed_size and the (vocab_size, embed_size) table counts too")
def probe_rnn_lm_num_params(fn, seed: int) -> list:
    rng = random.Random(seed)
    sizes = [(28, 256, None), (28, 256, 32), (10000, 200, None), (10000, 200, 200), (1, 1, None), (2, 3, 1)]
    for i in range(20):
        sizes.append((rng.randint(2, 60000), rng.randint(1, 2048), None if i % 2 else rng.randint(1, 512)))
    out = []
    for vocab_size, num_hiddens, embed_size in sizes:
        result = (fn(vocab_size, num_hiddens) if embed_size is None
                  else fn(vocab_size, num_hiddens, embed_size=embed_size))
        out.append([int(x) for x in result])
    return out


@CHECKS.add(
    "rnn_forward.random", seed=302, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="H_t = act(X_t W_xh + H_{t-1} W_hh + b_h) from H0, O_t = H_t W_hq + b_q; return outputs "
         "stacked as (num_steps, batch_size, q) and the last state (batch_size, h), float32, for "
         "activation 'relu' and 'tanh'")
def probe_rnn_forward(fn, seed: int) -> list:
    cases = [_note_000_case(), _note_004_case()] + _random_cases(seed, 10)
    out = []
    for case in cases:
        outputs, H = _call(fn, case)
        out.append({"outputs": _plain(outputs), "state": _plain(H)})
    return out


@CHECKS.add(
    "input_gradient_norms.random", seed=303, rtol=1e-4, atol=1e-6,
    why="float32 backpropagation through up to 8 steps, summed in another order by an equivalent "
        "formula: 1e-4 relative + 1e-6 absolute",
    hint="differentiate the sum of the LAST step's outputs only (with autograd, through rnn_forward "
         "built from mxnet.np operations) and return one L2 norm of dL/dX_t per time step")
def probe_input_gradient_norms(fn, seed: int) -> list:
    cases = [_note_004_case()] + _random_cases(seed, 10)
    return [[float(g) for g in _call(fn, case)] for case in cases]


@CHECKS.add(
    "many_to_one.random", seed=304, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="sequence i ends at step valid_lens[i] (counting from 1): take its output there, not at "
         "the last step of the padded batch; shape (batch_size, q), float32")
def probe_many_to_one(fn, seed: int) -> list:
    rng = random.Random(seed)
    cases = _random_cases(seed, 10)
    out = []
    for case in cases:
        T, B = case["X"].shape[:2]
        valid_lens = [rng.randint(1, T) for _ in range(B)]
        out.append(_plain(_call(fn, case, valid_lens)))
    # every sequence full length: the last step of every sequence
    case = _random_cases(seed + 1, 1)[0]
    out.append(_plain(_call(fn, case, [case["X"].shape[0]] * case["X"].shape[1])))
    return out


@CHECKS.add(
    "to_gluon_rnn.random", seed=305, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="Gluon stores i2h_weight as (h, d) and h2h_weight as (h, h), the transposes of W_xh and "
         "W_hh, and adds BOTH of its biases: b_h must enter once; set the activation too")
def probe_to_gluon_rnn(fn, seed: int) -> list:
    cases = [_note_000_case()] + _random_cases(seed, 8)
    out = []
    for case in cases:
        layer = fn(case["W_xh"], case["W_hh"], case["b_h"], activation=case["activation"])
        Y, state = layer(case["X"], [case["H0"][None]])  # Y: (T, B, h), state: [(1, B, h)]
        shapes = sorted((name.split("l0_")[-1], [int(s) for s in p.shape])
                        for name, p in layer.collect_params().items())
        out.append({"outputs": _plain(Y), "state": _plain(state[0]), "params": [list(s) for s in shapes]})
    return out
