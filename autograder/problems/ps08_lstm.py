"""Hidden checks of problem set 8, "Long short-term memory (LSTM)".

Each probe feeds the student's answer fixed and seeded random inputs and
returns plain values: for an array its shape, its dtype string and its values
as nested lists of floats. Cell functions (parts 1 and 2) are run over
several time steps under ``autograd.record()``; the loss is a fixed random
projection of every hidden state and memory cell, so the probe also returns
the gradients with respect to the inputs, the initial state and every
parameter. ``python -m autograder calibrate`` records what the reference
solution returns, and the validation perplexities of its two trained models.
Seeds are fixed here, so the inputs are the same for the reference and for
every student. MXNet is imported inside the probes only.
"""
from __future__ import annotations

import random

import numpy as onp

from autograder.checks import ProblemChecks, mx_np as _np, plain_array as _plain

CHECKS = ProblemChecks(training_seed=0)

STEP_WHY = ("float32: the same formula evaluated in another order (one product for four blocks or one per "
            "block, slices copied into the library's cells) differs by ~1e-7 relative per operation; 1e-4 "
            "relative + 1e-5 absolute allows that over 6 steps forward and back, a wrong formula misses it by far")
TRAINED_WHY = ("fixed seeds: repeated runs give the same digits and equivalent code gives the same weights; the "
               "5% band covers float32 sums taken in another order over 2 epochs (~150 SGD steps at lr 8); other "
               "seeds move the perplexity by up to 8%, a forget bias of 2 instead of 1 by 13%")


def _arrays(rng, shapes: list, scales: list) -> list:
    np = _np()
    return [np.array(rng.normal(scale=s, size=shape), dtype="float32") for shape, s in zip(shapes, scales)]


def _run_cell(step, X, H0, C0, params: list, proj_H, proj_C) -> dict:
    """Run ``H, C, gates = step(X[t], H, C, params)`` over every step, under autograd.

    Returns the hidden states, memory cells (and gates, if the step returns them) and the
    gradients of sum(proj_H * H_t) + sum(proj_C * C_t) over all steps.
    """
    from mxnet import autograd
    np = _np()
    X, H0, C0, params = X.copy(), H0.copy(), C0.copy(), [p.copy() for p in params]  # fresh arrays
    for a in [X, H0, C0, *params]:
        a.attach_grad()
    with autograd.record():
        H, C, Hs, Cs, gates = H0, C0, [], [], []
        for t in range(X.shape[0]):
            H, C, *rest = step(X[t], H, C, params)
            Hs.append(H)
            Cs.append(C)
            if rest:
                gates.append(np.stack(list(rest[0])))  # (4, batch_size, h): I, F, O, C_tilde
        Hs, Cs = np.stack(Hs), np.stack(Cs)            # (num_steps, batch_size, h)
        loss = (Hs * proj_H).sum() + (Cs * proj_C).sum()
    loss.backward()
    out = {"H": _plain(Hs), "C": _plain(Cs), "grad_X": _plain(X.grad), "grad_H0": _plain(H0.grad),
           "grad_C0": _plain(C0.grad), "grad_params": [_plain(p.grad) for p in params]}
    if gates:
        out["gates"] = _plain(np.stack(gates))
    return out


def _cell_cases(seed: int, count: int, shapes_of) -> list:
    """Random cases: inputs, initial hidden state and cell, parameters, projections of H and C."""
    rng = onp.random.RandomState(seed)
    cases = []
    for i in range(count):
        T, B, d, h = rng.randint(1, 7), rng.randint(1, 5), rng.randint(1, 7), rng.randint(1, 8)
        if i == 0:
            d = h = 4  # square weights: a missing transpose does not fail on shapes here
        shapes, scales = shapes_of(d, h)
        X, H0, C0, proj_H, proj_C = _arrays(rng, [(T, B, d), (B, h), (B, h), (T, B, h), (T, B, h)],
                                            [1.0, 0.5, 1.0, 1.0, 1.0])
        cases.append((X, H0, C0, _arrays(rng, shapes, scales), proj_H, proj_C))
    return cases


# --- part 1 ---------------------------------------------------------------------------------------

def _fused_shapes(d: int, h: int):
    """Gluon's fused LSTM arrays; weights ~ N(0, 1/fan_in) keep the gates away from saturation."""
    return [(4 * h, d), (4 * h, h), (4 * h,), (4 * h,)], [d ** -0.5, h ** -0.5, 0.5, 0.5]


@CHECKS.add(
    "lstm_step_fused.random", seed=801, rtol=1e-4, atol=1e-5, why=STEP_WHY,
    hint="Gluon's blocks are input, forget, candidate, output (the candidate third, not last as in "
         "d2l's equations), stored transposed, with both biases added to every block; return (H_t, C_t) "
         "with H_t = O * tanh(C_t); use mxnet.np operations only, so that autograd can follow them")
def probe_lstm_step_fused(fn, seed: int) -> list:
    return [_run_cell(lambda X, H, C, p: fn(X, H, C, *p), *case)
            for case in _cell_cases(seed, 8, _fused_shapes)]


# --- part 2 ---------------------------------------------------------------------------------------

def _cifg_shapes(d: int, h: int):
    """The coupled LSTM's nine arrays, then peepholes w_cf, w_co of order one (so that they matter)."""
    return [(d, h), (h, h), (h,)] * 3 + [(h,), (h,)], [d ** -0.5, h ** -0.5, 0.5] * 3 + [1.0, 1.0]


@CHECKS.add(
    "cifg_peephole_cell.random", seed=802, rtol=1e-4, atol=1e-5, why=STEP_WHY,
    hint="F sees the old cell C_{t-1}, O the new cell C_t; I = 1 - F multiplies the candidate and F the "
         "old cell; H_t = O * tanh(C_t); return (H, C, (I, F, O, C_tilde)); mxnet.np operations only")
def probe_cifg_peephole_cell(fn, seed: int) -> list:
    return [_run_cell(lambda X, H, C, p: fn(X, H, C, list(p)), *case)
            for case in _cell_cases(seed, 8, _cifg_shapes)]


# --- part 3 ---------------------------------------------------------------------------------------

VARIANTS = ("standard", "peephole", "coupled", "cifg_peephole", "gluon")


@CHECKS.add(
    "lstm_num_params.random", seed=803,
    hint="a block is an input matrix, a hidden matrix and a bias; count the blocks of each variant, one "
         "peephole vector per gate that has one (which gates does the coupled LSTM have?), Gluon's second "
         "bias per block, and the output layer over the vocabulary")
def probe_lstm_num_params(fn, seed: int) -> list:
    rng = random.Random(seed)
    sizes = [(28, 128), (1, 1), (10000, 200), (3, 7)] + [(rng.randint(2, 60000), rng.randint(1, 2048))
                                                         for _ in range(12)]
    return [[int(fn(v, h, variant)) for variant in VARIANTS] for v, h in sizes]


# --- part 4 ---------------------------------------------------------------------------------------

@CHECKS.add(
    "set_forget_bias.random", seed=804, rtol=1e-6, atol=1e-6,
    why="a subtraction and an addition in float32: 1e-6 covers their rounding",
    hint="the forget block is the second of i | f | c | o; Gluon ADDS i2h_bias and h2h_bias, and a given "
         "layer may have non-zero values in both: make their sum equal value on the forget rows only")
def probe_set_forget_bias(fn, seed: int) -> list:
    """Summed biases and outputs of random layers (both biases non-zero) after the student's call."""
    from mxnet.gluon import rnn
    rng = onp.random.RandomState(seed)
    out = []
    for value in (1.0, 0.0, -2.5, 3.0, 1.0, 0.5):
        d, h, T, B = rng.randint(1, 6), rng.randint(1, 7), rng.randint(1, 5), rng.randint(1, 4)
        layer = rnn.LSTM(h, input_size=d)
        layer.initialize()
        for param in layer.collect_params().values():  # as if trained: every weight and bias non-zero
            param.set_data(_arrays(rng, [param.shape], [0.7])[0])
        X, H0, C0 = _arrays(rng, [(T, B, d), (1, B, h), (1, B, h)], [1.0, 0.5, 0.5])
        fn(layer, value)
        Y, (H, C) = layer(X, [H0, C0])
        out.append({"summed_bias": _plain(layer.l0_i2h_bias.data() + layer.l0_h2h_bias.data()),
                    "outputs": _plain(Y), "C": _plain(C)})
    return out


CHECKS.value(
    "valid_ppl_forget_bias_0", float, rtol=0.05, why=TRAINED_WHY,
    hint="set_seed(0), fresh time_machine() iterators, RNNModel(rnn.LSTM(NUM_HIDDENS, "
         "input_size=len(vocab)), len(vocab)), initialize(), then the forget bias, hybridize(), "
         "train(net, train_iter, valid_iter, LR, NUM_EPOCHS); the last entry of history.valid_ppl")


CHECKS.value(
    "valid_ppl_forget_bias_1", float, rtol=0.05, why=TRAINED_WHY,
    hint="as for the other model, with set_forget_bias(net.rnn, 1.0) after initialize(): the forget gate's "
         "total bias must be 1, not 2")


# --- part 5 ---------------------------------------------------------------------------------------

@CHECKS.add(
    "lstm_step_backward.random", seed=805, rtol=1e-8, atol=1e-10,
    why="float64, the same derivatives summed in another order: 1e-8 relative + 1e-10 absolute",
    hint="dL/dC_t collects dC and the path through H_t = O * tanh(C_t), which brings a factor O * (1 - "
         "tanh(C_t)^2); then each gate's pre-activation gradient uses sigma' = s (1 - s) or tanh' = 1 - c^2, "
         "and dC_prev = dL/dC_t * F")
def probe_lstm_step_backward(fn, seed: int) -> list:
    rng = onp.random.default_rng(seed)
    out = []
    for case in range(10):
        d, h, B = (int(n) for n in (rng.integers(1, 6), rng.integers(1, 7), rng.integers(1, 5)))
        params = [rng.normal(size=s) * sc for s, sc in zip([(d, h), (h, h), (h,)] * 4,
                                                           [d ** -0.5, h ** -0.5, 0.5] * 4)]
        X, H, dH, dC = rng.normal(size=(B, d)), rng.normal(size=(B, h)), rng.normal(size=(B, h)), rng.normal(size=(B, h))
        C = rng.normal(size=(B, h)) * (0.5, 2.0)[case % 2]  # small and large cells: tanh' far from 1 too
        if case == 0:
            dC = onp.zeros((B, h))  # the loss through H_t only
        grads = fn(X.copy(), H.copy(), C.copy(), [p.copy() for p in params], dH.copy(), dC.copy())
        out.append([_plain(onp.asarray(g, dtype="float64")) for g in grads])
    return out
