"""Hidden checks of problem set 9, "Deep recurrent neural networks".

Each probe feeds the student's answer seeded random stacks of recurrent
layers (1 to 4 layers, widths that differ from layer to layer where the task
allows it, ReLU and tanh, non-zero initial states and biases) and returns
plain values: for an array its shape, its dtype string and its values as
nested lists of floats. ``python -m autograder calibrate`` records what the
reference solution returns. Seeds are fixed here, so the inputs are the same
for the reference and for every student. MXNet is imported inside the probes
only.
"""
from __future__ import annotations

import random

import numpy as onp

from autograder.checks import ProblemChecks, mx_np as _np, plain_array as _plain

CHECKS = ProblemChecks(training_seed=0)

TRAINED_WHY = ("fixed seeds, but float32 sums taken in another order drift over 139 SGD steps (one epoch); "
               "other initial weights (seed 1 instead of 0) move it by less than 1%: 5% relative")

# float32 arithmetic: the library's rnn_layer (one matrix product for the input term of all steps), a
# loop over time outside the layers (the notes' order) or Gluon's fused kernel give the same values up
# to rounding in the last bits, about 1e-7 relative per operation.
VALUES_WHY = ("float32: the same equations computed in another order (layers outside or inside the loop "
              "over time, one input product for all steps or one per step) differ by ~1e-7 relative per "
              "step; 1e-5 relative + 1e-6 absolute allows that over 7 steps and 4 layers, a wrong formula "
              "misses it by far")
GRADS_WHY = ("float32 backpropagation through up to 7 steps and 3 layers, summed in another order by an "
             "equivalent forward pass: 1e-4 relative + 1e-5 absolute (gradients are of order 0.1 to 10)")


def _stack_cases(seed: int, count: int, equal_widths: bool = False, max_layers: int = 3) -> list[dict]:
    """Random stacks: X, per-layer (W_xh, W_hh, b_h) and states; weights ~ N(0, 1/fan_in) keep states of order one.

    ``equal_widths``: every layer has the width of layer 1 (what a residual connection needs).
    """
    np = _np()
    rng = onp.random.RandomState(seed)
    cases = []
    for i in range(count):
        L, T, B, d = rng.randint(1, max_layers + 1), rng.randint(1, 8), rng.randint(1, 5), rng.randint(1, 7)
        widths = [rng.randint(1, 9) for _ in range(L)]
        if equal_widths:
            widths = [widths[0]] * L

        def arr(*shape, scale=1.0):
            return np.array(rng.normal(scale=scale, size=shape), dtype="float32")

        layers, num_inputs = [], d
        for h in widths:
            layers.append((arr(num_inputs, h, scale=1 / onp.sqrt(num_inputs)), arr(h, h, scale=1 / onp.sqrt(h)),
                           arr(h, scale=0.3)))
            num_inputs = h
        cases.append(dict(X=arr(T, B, d), state=tuple(arr(B, h, scale=0.5) for h in widths), layers=layers,
                          activation=("relu", "tanh")[i % 2]))
    return cases


def _forward(fn, case: dict):
    return fn(case["X"], tuple(case["state"]), [tuple(layer) for layer in case["layers"]],
              activation=case["activation"])


def _values(fn, cases: list[dict]) -> list:
    out = []
    for case in cases:
        Y, state = _forward(fn, case)
        out.append({"outputs": _plain(Y), "state": [_plain(H) for H in state]})
    return out


@CHECKS.add(
    "stacked_rnn.random", seed=901, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="layer 1 reads X, every layer above reads the states the layer below has just computed (at the "
         "same step); each layer starts from its own entry of state and uses its own weights; return the "
         "TOP layer's states at every step, (num_steps, batch_size, h_L), and a tuple with every layer's "
         "last state, float32, for 'relu' and 'tanh'")
def probe_stacked_rnn(fn, seed: int) -> list:
    return _values(fn, _stack_cases(seed, 14))


@CHECKS.add(
    "stacked_rnn.grads", seed=902, seed_name="stacked_rnn_grads", rtol=1e-4, atol=1e-5, why=GRADS_WHY,
    hint="autograd must reach the input and every layer's weights through your function: use mxnet.np "
         "operations only (no .asnumpy(), no NumPy, nothing detached), and get the forward values right "
         "first")
def probe_stacked_rnn_grads(fn, seed: int) -> list:
    """Gradients of sum(G * Y) + sum_l sum(g_l * H_l) with respect to X and every parameter."""
    from mxnet import autograd
    np = _np()
    rng = onp.random.RandomState(seed + 1000)
    out = []
    for case in _stack_cases(seed, 10):
        X = case["X"].copy()
        layers = [tuple(p.copy() for p in layer) for layer in case["layers"]]
        for a in [X] + [p for layer in layers for p in layer]:
            a.attach_grad()
        T, B = X.shape[:2]
        G = np.array(rng.normal(size=(T, B, layers[-1][0].shape[1])), dtype="float32")
        g = [np.array(rng.normal(size=H.shape), dtype="float32") for H in case["state"]]
        with autograd.record():
            Y, state = fn(X, tuple(case["state"]), layers, activation=case["activation"])
            loss = (Y * G).sum()
            for H, weights in zip(state, g):
                loss = loss + (H * weights).sum()
        loss.backward()
        out.append({"X": _plain(X.grad), "layers": [[_plain(p.grad) for p in layer] for layer in layers]})
    return out


@CHECKS.add(
    "deep_num_params.random", seed=903,
    hint="per layer: gates x (inputs x h + h x h + h + h), two biases as Gluon has them; gates = 1 for an "
         "RNN, 3 for a GRU (reset, update AND the candidate state), 4 for an LSTM; layer l reads the "
         "width of layer l-1 (layer 1 reads num_inputs); plus the dense layer on the top layer")
def probe_deep_num_params(fn, seed: int) -> list:
    rng = random.Random(seed)
    cases = [(28, [256, 256], 28, "rnn"), (28, [256, 256], 28, "lstm"), (28, [32, 32, 32], 28, "gru"),
             (10000, [200, 200], 10000, "lstm"), (28, [256], 28, "rnn"), (1, [1], 1, "gru"),
             (5, [3, 7], 2, "rnn"), (5, [3, 7, 4], 2, "gru"), (5, [3, 7, 4], 2, "lstm"), (28, [64, 128], 0, "lstm")]
    for i in range(30):
        widths = [rng.randint(1, 1024) for _ in range(rng.randint(1, 5))]
        cases.append((rng.randint(1, 50000), widths, rng.randint(1, 50000), ("rnn", "gru", "lstm")[i % 3]))
    return [int(fn(d, list(widths), q, cell=cell)) for d, widths, q, cell in cases]


@CHECKS.add(
    "residual_stacked_rnn.random", seed=904, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="layers 2..L add their input to their states before passing them up (layer 1 does not); the "
         "recurrence of a layer and its final state use its own H, before the addition; with one layer "
         "the result is stacked_rnn's")
def probe_residual_stacked_rnn(fn, seed: int) -> list:
    cases = _stack_cases(seed, 14, equal_widths=True, max_layers=4)
    return _values(fn, cases)


CHECKS.value(
    "valid_ppl_plain", float, rtol=0.05, why=TRAINED_WHY,
    hint="forward_fn=deep.deep_rnn, NUM_HIDDENS hidden units, two layers, lr=LR, NUM_EPOCHS epochs, "
         "set_seed(0) and fresh time_machine() iterators; the last entry of history.valid_ppl")


CHECKS.value(
    "valid_ppl_residual", float, rtol=0.05, why=TRAINED_WHY,
    hint="the same set-up as the plain model, with residual_lm: params[3l:3l+3] are layer l+1's, the last "
         "two the output layer applied to the residual stack's top outputs; logits flattened to "
         "(num_steps * batch_size, vocab_size)")


@CHECKS.add(
    "residual_lm.train_steps", seed=906, seed_name="train_steps", rtol=0.0, atol=1e-4,
    why="the values are relative differences (|a - b| / (|b| + 0.01)) between parameters trained by the "
        "student's residual_lm and by its own stack wrapped as described, reference 0: float32 sums taken "
        "in another order (the output layer applied after flattening, the layers sliced another way) "
        "differ by ~1e-6 relative after 6 SGD steps, and clipping is continuous: at most 1e-4. A "
        "batch-major order of the logits, or the plain stack, is at least 800 times that off",
    hint="residual_lm(inputs, state, params): params[3l:3l+3] are layer l+1's (W_xh, W_hh, b_h), the "
         "last two the output layer, applied to the residual stack's top outputs; logits "
         "(num_steps * batch_size, vocab_size) in time-major order (row t * batch_size + b), as "
         "deep.deep_rnn returns them; the new state from the stack")
def probe_residual_lm_train_steps(fn, seed: int) -> list:
    """How far ``residual_lm`` trains tiny two-layer models from where its own stack should take them.

    Vocabulary 7, 5 hidden units per layer, the chapter's ``deep.get_deep_rnn_params`` and
    ``deep.init_deep_rnn_state`` (two layers), weights N(0, 0.5^2) from a seeded NumPy generator;
    minibatches of 3 x 4 tokens by sequential partitioning (a ``SeqDataLoader`` of 50 seeded
    tokens: 3 minibatches an epoch); one run of 1 epoch (3 SGD steps) at lr 1 and one of 2 epochs
    (6 steps) at lr 2, clipping at norm 1 (``train``'s default). Two models start from the same
    weights and see the same minibatches: one whose ``forward_fn`` is the student's ``residual_lm``,
    and one whose ``forward_fn`` wraps the student's own ``residual_stacked_rnn`` (part 3a, graded
    by its own check) as the task describes (``params[3l:3l+3]`` layer l+1, the output layer on the
    top outputs, logits in ``deep.deep_rnn``'s time-major order). Recorded: for each run and each
    of the eight parameters, the largest relative difference between the two after training, and
    the training perplexities' relative differences. So what residual_lm adds around the stack is
    graded here (every step's update shows: which slice is which layer, the output layer, the order
    of the logits against ``train``'s time-major labels), and a wrong stack is not graded twice.
    """
    import functools

    from seqmx import deep
    from seqmx.rnn import RNNModelScratch, SeqDataLoader, train
    np = _np()
    import sys
    stack = ((getattr(fn, "__globals__", None) or {}).get("residual_stacked_rnn")    # where residual_lm looks
             or getattr(sys.modules.get("__main__"), "residual_stacked_rnn", None))  # the notebook's namespace
    if not callable(stack):
        return "residual_stacked_rnn is not defined"

    def as_described(inputs, state, params):
        Y, new_state = stack(inputs, state, [params[3 * l: 3 * l + 3] for l in range(len(state))])
        W_hq, b_q = params[-2:]
        return (np.dot(Y, W_hq) + b_q).reshape(-1, W_hq.shape[1]), new_state

    rng = onp.random.RandomState(seed)
    V, h, B, T = 7, 5, 3, 4
    corpus = [int(t) for t in rng.randint(0, V, size=50)]
    out = []
    for i, (lr, num_epochs) in enumerate(((1.0, 1), (2.0, 2))):
        weights = None
        runs = []
        for forward_fn in (fn, as_described):
            net = RNNModelScratch(V, h, None, get_params=functools.partial(deep.get_deep_rnn_params, num_layers=2),
                                  init_state=functools.partial(deep.init_deep_rnn_state, num_layers=2),
                                  forward_fn=forward_fn)
            if weights is None:
                weights = [rng.normal(scale=0.5, size=p.shape) for p in net.params]
            for p, w in zip(net.params, weights):
                p[:] = np.array(w, dtype="float32")
            history = train(net, SeqDataLoader(corpus, B, T, seed=seed + i), None, lr, num_epochs)
            runs.append(([p.asnumpy().astype("float64") for p in net.params], list(history.train_ppl)))
        (mine, ppl_mine), (described, ppl_described) = runs
        out.append({"params": [float(onp.max(onp.abs(a - b) / (onp.abs(b) + 1e-2))) if a.shape == b.shape
                               else "shape " + str(a.shape) for a, b in zip(mine, described)],
                    "train_ppl": [abs(a - b) / b for a, b in zip(ppl_mine, ppl_described)]})
    return out


def _lstm_cases(seed: int, count: int) -> list[dict]:
    """Random deep LSTMs of one width h: 12 gate parameters per layer, Gluon's state [H0, C0]."""
    np = _np()
    rng = onp.random.RandomState(seed)
    cases = []
    for _ in range(count):
        L, T, B, d, h = (rng.randint(1, 4), rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 6),
                         rng.randint(1, 7))

        def arr(*shape, scale=1.0):
            return np.array(rng.normal(scale=scale, size=shape), dtype="float32")

        layers = []
        for layer in range(L):
            num_inputs = d if layer == 0 else h
            params = []
            for _gate in range(4):  # input, forget, output gates, candidate cell
                params += [arr(num_inputs, h, scale=1 / onp.sqrt(num_inputs)), arr(h, h, scale=1 / onp.sqrt(h)),
                           arr(h, scale=0.5)]
            layers.append(params)
        cases.append(dict(X=arr(T, B, d), state=[arr(L, B, h, scale=0.5), arr(L, B, h)], layers=layers))
    return cases


@CHECKS.add(
    "stacked_lstm.random", seed=905, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="layer l starts from H0[l-1] and C0[l-1] and reads the hidden states H (not the memory cells) of "
         "layer l-1; return the top layer's H at every step and [H, C], each (num_layers, batch_size, h) "
         "with row l-1 for layer l")
def probe_stacked_lstm(fn, seed: int) -> list:
    out = []
    for case in _lstm_cases(seed, 12):
        Y, state = fn(case["X"], list(case["state"]), [list(p) for p in case["layers"]])
        out.append({"outputs": _plain(Y), "state": [_plain(s) for s in state]})
    return out
