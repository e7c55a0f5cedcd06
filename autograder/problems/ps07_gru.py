"""Hidden checks of problem set 7, "Gated recurrent units (GRU)".

Each probe feeds the student's answer fixed and seeded random inputs and
returns plain values: for an array its shape, its dtype string and its values
as nested lists of floats. Step functions (parts 1 and 4) are run over
several time steps under ``autograd.record()``; the loss is a fixed random
projection of every state, so the probe also returns the gradients with
respect to the inputs, the initial state and every parameter.
``python -m autograder calibrate`` records what the reference solution
returns. Seeds are fixed here, so the inputs are the same for the reference
and for every student. MXNet is imported inside the probes only.
"""
from __future__ import annotations

import random

import numpy as onp

from autograder.checks import ProblemChecks, mx_np as _np, plain_array as _plain

CHECKS = ProblemChecks()

STEP_WHY = ("float32: the same formula evaluated in another order (one fused product or three, slices "
            "copied into the library's gru_step) differs by ~1e-7 relative per operation; 1e-4 relative "
            "+ 1e-5 absolute allows that over 6 steps forward and back, a wrong formula misses it by far")


def _arrays(rng, shapes: list, scales: list) -> list:
    np = _np()
    return [np.array(rng.normal(scale=s, size=shape), dtype="float32") for shape, s in zip(shapes, scales)]


def _states_and_grads(step, X, H0, params: list, proj) -> dict:
    """Run ``H = step(X[t], H, params)`` over every step; states, and gradients of sum(proj * states)."""
    from mxnet import autograd
    np = _np()
    X, H0, params = X.copy(), H0.copy(), [p.copy() for p in params]  # the student's code gets fresh arrays
    for a in [X, H0, *params]:
        a.attach_grad()
    with autograd.record():
        H, states = H0, []
        for t in range(X.shape[0]):
            H = step(X[t], H, params)
            states.append(H)
        Y = np.stack(states)                   # (num_steps, batch_size, num_hiddens)
        loss = (Y * proj).sum()
    loss.backward()
    return {"states": _plain(Y), "grad_X": _plain(X.grad), "grad_H0": _plain(H0.grad),
            "grad_params": [_plain(p.grad) for p in params]}


def _step_cases(seed: int, count: int, shapes_of) -> list:
    """Random step-function cases: sizes, inputs, initial state, parameters, projection of the states."""
    rng = onp.random.RandomState(seed)
    cases = []
    for i in range(count):
        T, B, d, h = rng.randint(1, 7), rng.randint(1, 5), rng.randint(1, 7), rng.randint(1, 8)
        if i == 0:
            d = h = 4  # square weights: a missing transpose does not fail on shapes here
        shapes, scales = shapes_of(d, h)
        X, H0, proj = _arrays(rng, [(T, B, d), (B, h), (T, B, h)], [1.0, 0.5, 1.0])
        cases.append((X, H0, _arrays(rng, shapes, scales), proj))
    return cases


# --- part 1 ---------------------------------------------------------------------------------------

def _fused_shapes(d: int, h: int):
    """Gluon's fused GRU arrays; weights ~ N(0, 1/fan_in) keep the gates away from saturation."""
    return [(3 * h, d), (3 * h, h), (3 * h,), (3 * h,)], [d ** -0.5, h ** -0.5, 0.5, 0.5]


@CHECKS.add(
    "gru_step_fused.random", seed=701, rtol=1e-4, atol=1e-5, why=STEP_WHY,
    hint="Gluon stacks the blocks as reset, update, new (not update first, as d2l's parameter list) "
         "and multiplies by the transposed weights; the reset gate multiplies H W_hn^T + b_hn, bias "
         "included; H_t keeps the old state where z is 1; use mxnet.np operations only, so that "
         "autograd can follow them")
def probe_gru_step_fused(fn, seed: int) -> list:
    return [_states_and_grads(lambda X, H, p: fn(X, H, *p), *case)
            for case in _step_cases(seed, 8, _fused_shapes)]


# --- part 2 ---------------------------------------------------------------------------------------

FIXED_SCHEDULES = [  # (num_steps, copy_steps, num_hiddens)
    (5, [2], 4), (6, [0], 3), (6, [5], 3), (1, [0], 2),   # one group: the notes' exercise, at the edges too
    (7, [1, 4], 6), (5, [3, 4], 4),                        # two groups (the chapter's exercise)
    (8, [0, 3, 7], 6), (6, [1, 2, 3], 9),                  # three groups
]


def _random_schedules(seed: int, count: int) -> list:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        k = rng.randint(1, 3)
        T = rng.randint(k, 9)
        cases.append((T, sorted(rng.sample(range(T), k)), k * rng.randint(1, 3)))
    return cases


@CHECKS.add(
    "copy_schedule.random", seed=702, rtol=1e-6, atol=1e-7,
    why="forced gates are exactly 0 or 1 in float32, so every right schedule gives the same bits; "
        "the tolerance only absorbs the sign of zeros",
    hint="at t_g the units of group g must take the candidate (Z = 0 there, Z = 1 on the units that "
         "already hold their input) and the candidate must not see the old state: in the notes' form "
         "every unit's reset gate feeds every candidate; after t_1, Z = 1 wherever nothing is written; "
         "one group or several, both forms")
def probe_copy_schedule(fn, seed: int) -> list:
    """The final state of GRUs run with the student's schedule, in both forms, from random weights."""
    from seqmx.gru import gru_with_gate_schedule
    rng = onp.random.RandomState(seed)
    out = []
    for T, copy_steps, h in FIXED_SCHEDULES + _random_schedules(seed, 8):
        schedule = fn(T, list(copy_steps), h)
        for reset_after in (False, True):
            d, B = 4, 3
            shapes = [(d, h), (h, h), (h,)] * 3 + [(h,)] * reset_after + [(h, d), (d,)]  # z, r, candidate, out
            params = _arrays(rng, shapes, [1.0] * len(shapes))  # generic weights and non-zero biases
            X, H0 = _arrays(rng, [(T, B, d), (B, h)], [1.0, 1.0])
            states = gru_with_gate_schedule(X, H0, params, schedule, reset_after)
            out.append(_plain(states[-1]))
    return out


# --- part 3 ---------------------------------------------------------------------------------------

@CHECKS.add(
    "gru_num_params.random", seed=703,
    hint="three blocks of input weights, hidden weights and a bias, plus the output layer over the "
         "vocabulary; reset_after adds only the bias inside the reset gate's product; Gluon keeps two "
         "full bias vectors of 3h")
def probe_gru_num_params(fn, seed: int) -> list:
    rng = random.Random(seed)
    sizes = [(28, 256), (1, 1), (10000, 200), (3, 7)] + [(rng.randint(2, 60000), rng.randint(1, 2048))
                                                         for _ in range(12)]
    return [[int(fn(v, h, variant)) for variant in ("reset_before", "reset_after", "gluon")] for v, h in sizes]


# --- part 4 ---------------------------------------------------------------------------------------

def _mgu_shapes(d: int, h: int):
    return [(d, h), (h, h), (h,), (d, h), (h, h), (h,)], [d ** -0.5, h ** -0.5, 0.5] * 2


@CHECKS.add(
    "mgu_step.random", seed=704, rtol=1e-4, atol=1e-5, why=STEP_WHY,
    hint="one gate F: it scales H before W_hh in the candidate, and H_t = (1 - F) * H_{t-1} + "
         "F * candidate (the opposite of the GRU's Z); mxnet.np operations only, for autograd")
def probe_mgu_step(fn, seed: int) -> list:
    return [_states_and_grads(lambda X, H, p: fn(X, H, list(p)), *case)
            for case in _step_cases(seed, 8, _mgu_shapes)]
