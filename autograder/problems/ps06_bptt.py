"""Hidden checks of problem set 6, "Backpropagation through time".

Each probe feeds the student's answer fixed and seeded random inputs and
returns plain values; ``python -m autograder calibrate`` records what the
reference solution returns. Seeds are fixed here, so the inputs are the same
for the reference and for every student. Probes pass copies of their inputs
(so that a function that modifies its arguments cannot change later cases)
and report, where the task demands it, whether the inputs were left alone.
"""
from __future__ import annotations

import math
import random

import numpy as np

from autograder.checks import ProblemChecks

CHECKS = ProblemChecks(training_seed=0)

SORT_OF_EXACT = "the same arithmetic up to the order of sums and matrix products: 1e-8 relative, 1e-10 absolute"


def _array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


# --- part 1 ------------------------------------------------------------------------------

@CHECKS.add(
    "clip_by_global_norm.random", seed=601, rtol=1e-5, atol=1e-9,
    why="float32 gradients: a norm summed in float32 instead of float64 differs by ~1e-6 relative",
    hint="one norm over every entry of every array (sqrt of the sum of all squares), one common factor "
         "min(theta / norm, 1) for all arrays, new arrays of the same shape and dtype, inputs untouched, "
         "norm returned before clipping (and a zero gradient left as it is)")
def probe_clip_by_global_norm(fn, seed: int) -> list:
    """Norm, clipped values, shapes, dtypes and untouched inputs, for random gradient lists."""
    rng = np.random.default_rng(seed)
    out = []
    for case in range(14):
        shapes = [tuple(int(n) for n in rng.integers(1, 6, size=rng.integers(1, 3)))
                  for _ in range(rng.integers(1, 5))]
        dtype = ("float32", "float64")[case % 2]
        scale = 10.0 ** rng.uniform(-2, 1.5)  # global norms from ~0.01 to ~100: below and above theta
        grads = [(rng.normal(size=s) * scale).astype(dtype) for s in shapes]
        if case == 0:
            grads = [np.zeros(s, dtype=dtype) for s in shapes]  # a zero gradient stays zero
        theta = float(rng.choice([0.1, 1.0, 5.0]))
        before = [g.copy() for g in grads]
        clipped, norm = fn(grads, theta)
        clipped = [np.asarray(c) for c in clipped]
        out.append({
            "norm": float(norm),
            "clipped": [c.astype(np.float64).tolist() for c in clipped],
            "shapes": [list(c.shape) for c in clipped],
            "dtypes": [str(c.dtype) for c in clipped],
            "inputs_unchanged": all(np.array_equal(g, b) for g, b in zip(grads, before)),
        })
    return out


# --- part 2 ------------------------------------------------------------------------------

@CHECKS.add(
    "state_grads.random", seed=602, rtol=1e-8, atol=1e-10, why=SORT_OF_EXACT,
    hint="row t-1 is dL/dh_t = W_qh^T dL/do_t + W_hh^T dL/dh_(t+1): check the transposes, and that "
         "the power (T-i) goes with the output T+t-i (the output k steps ahead gets the k-th power)")
def probe_state_grads(fn, seed: int) -> list:
    """dL/dh_t for random linear RNNs whose W_hh shrinks or grows the gradient."""
    rng = np.random.default_rng(seed)
    out = []
    for case in range(12):
        h, q, T = (int(n) for n in (rng.integers(1, 7), rng.integers(1, 6), rng.integers(1, 13)))
        gain = (0.5, 0.9, 1.0, 1.3)[case % 4]  # about the spectral radius of W_hh
        W_hh = rng.normal(size=(h, h)) * gain / math.sqrt(h)
        W_qh = rng.normal(size=(q, h))
        dL_do = rng.normal(size=(T, q))
        if case % 3 == 0:
            dL_do[:-1] = 0  # the loss of the last step only
        grads = _array(fn(W_hh.copy(), W_qh.copy(), dL_do.copy()))
        out.append({"shape": list(grads.shape), "values": grads.tolist()})
    return out


# --- part 3 ------------------------------------------------------------------------------

def _linear_rnn_loss(rng, T=5, d=2, h=3, q=2):
    """f(W_hh) = sum_t g_t . o_t of a small linear RNN with fixed W_hx, W_qh, inputs and g."""
    W_hx, W_qh = rng.normal(size=(h, d)), rng.normal(size=(q, h))
    X, G = rng.normal(size=(T, d)), rng.normal(size=(T, q))

    def f(W_hh):
        state, total = np.zeros(h), 0.0
        for t in range(T):
            state = W_hx @ X[t] + W_hh @ state
            total += float(G[t] @ (W_qh @ state))
        return total
    return f, (h, h)


@CHECKS.add(
    "numerical_grad.random", seed=603, rtol=1e-7, atol=1e-9,
    why="the same evaluations of f: only the rounding of the final quotient may differ",
    hint="a central difference (f(x + eps e_j) - f(x - eps e_j)) / (2 eps) with the absolute step eps "
         "for every entry of an array of any shape, and x restored to its values afterwards")
def probe_numerical_grad(fn, seed: int) -> list:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(2, 3))
    functions = [
        (lambda x: float(np.sum(x ** 2)), (4,)),
        (lambda x: float(np.sum(np.sin(x) * np.arange(1, x.size + 1).reshape(x.shape))), (2, 3)),
        (lambda x: float(np.log(np.sum(np.exp(x)))), (5,)),                  # log-sum-exp: softmax
        (lambda x: float(np.sum(np.tanh(c @ x) ** 2)), (3, 2)),               # a tanh layer
        (lambda x: float(np.prod(x)), (3,)),
        _linear_rnn_loss(rng),
    ]
    out = []
    for f, shape in functions:
        for eps in (1e-3, 1e-5):
            x = rng.normal(size=shape)
            before = x.copy()
            grad = _array(fn(f, x, eps))
            out.append({"shape": list(grad.shape), "values": grad.tolist(),
                        "x_restored": bool(np.array_equal(x, before))})
    return out


# --- part 4 ------------------------------------------------------------------------------

FIXED_SEQUENCES = [  # (values, factor, baseline)
    ([10.0, 8.0, 9.5, 11.5, 14.0, 17.0], 2.0, math.inf),   # slow climb: 17 > 2 * 8, no single jump of 2x
    ([10.0, 8.0, 9.5, 11.5, 14.0, 15.9], 2.0, math.inf),
    ([100.0], 2.0, 28.0),                                   # worse than twice the baseline at once
    ([40.0, 30.0, 25.0], 2.0, 28.0),
    ([5.0, 4.0, math.inf], 10.0, math.inf),
    ([5.0, 4.0, math.nan, 3.0], 2.0, math.inf),
    ([math.nan], 2.0, math.inf),
    ([3.0, 3.5, 2.0, 5.0], 3.0, math.inf),
]


def _random_sequences(seed: int, count: int = 40) -> list:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        values = [rng.uniform(5, 50)]
        baseline = math.inf if rng.random() < 0.5 else values[0] * rng.uniform(0.2, 3)
        for _ in range(rng.randint(0, 14)):
            values.append(values[-1] * rng.uniform(0.8, 1.15))
        if rng.random() < 0.3:
            values[rng.randrange(len(values))] *= rng.uniform(1.5, 5)  # a spike
        if rng.random() < 0.15:
            values[rng.randrange(len(values))] = rng.choice([math.nan, math.inf])
        factor = rng.choice([1.5, 2.0, 3.0, 10.0])
        cases.append((values, factor, baseline))
    return cases


@CHECKS.add(
    "is_divergent.random", seed=604,
    hint="nan and inf count as divergence; compare each value with factor times the smallest of the "
         "baseline and the values before it (not just the previous value), strictly greater")
def probe_is_divergent(fn, seed: int) -> list:
    return [bool(fn(list(values), factor, baseline))
            for values, factor, baseline in FIXED_SEQUENCES + _random_sequences(seed)]


@CHECKS.add(
    "diverged",
    hint="three models, each after set_seed(0) with fresh time_machine() iterators; apply "
         "is_divergent(history.train_ppl, 2.0, len(vocab)) to each; only the one without clipping at LR "
         "should have diverged")
def probe_diverged(flags) -> dict:
    return {name: bool(flags[name]) for name in ("clipped", "unclipped", "small_lr")}


CHECKS.value(
    "valid_ppl_clipped", float, rtol=0.05,
    why="fixed seeds, but float32 sums taken in another order drift over 417 SGD steps (3 epochs of 139 "
        "minibatches) at a large learning rate; other seeds move it by about 1.5%: 5% relative",
    hint="lr=LR, clip_theta=THETA, NUM_HIDDENS hidden units, NUM_EPOCHS epochs, set_seed(0) and fresh "
         "time_machine() iterators; the last entry of history.valid_ppl")


CHECKS.value(
    "valid_ppl_small_lr", float, rtol=0.05,
    why="fixed seeds, but float32 sums taken in another order drift over 417 SGD steps: 5% relative",
    hint="lr=SMALL_LR, clip_theta=None, NUM_HIDDENS hidden units, NUM_EPOCHS epochs, set_seed(0) and "
         "fresh time_machine() iterators; the last entry of history.valid_ppl")


# --- part 5 ------------------------------------------------------------------------------

@CHECKS.add(
    "truncated_grad_W_hh.random", seed=605, rtol=1e-8, atol=1e-10, why=SORT_OF_EXACT,
    hint="the gradient into h_t stops at the cuts after steps k, 2k, ...; step t still contributes "
         "dL/dh_t h_(t-1)^T even when h_(t-1) was detached; k=None (and k >= T) is full BPTT")
def probe_truncated_grad_W_hh(fn, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for case in range(10):
        d, h, q, T = (int(n) for n in (rng.integers(1, 4), rng.integers(1, 6), rng.integers(1, 4),
                                       rng.integers(2, 13)))
        W_hx, W_qh = rng.normal(size=(h, d)), rng.normal(size=(q, h))
        W_hh = rng.normal(size=(h, h)) * (0.6, 1.0, 1.2)[case % 3] / math.sqrt(h)
        X, G = rng.normal(size=(T, d)), rng.normal(size=(T, q))
        row = []
        for k in (1, 2, 3, 5, T, None):
            grad = _array(fn(W_hx.copy(), W_hh.copy(), W_qh.copy(), X.copy(), G.copy(), k))
            row.append({"shape": list(grad.shape), "values": grad.tolist()})
        out.append(row)
    return out
