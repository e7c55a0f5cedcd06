"""Hidden checks of problem set 10, "Bidirectional recurrent neural networks".

Each probe feeds the student's answer fixed and seeded random inputs (padded
batches with random valid lengths, bidirectional layers whose two directions
have different widths, ReLU and tanh, non-zero initial states and biases) and
returns plain values: for an array its shape, its dtype string and its values
as nested lists of floats. ``python -m autograder calibrate`` records what the
reference solution returns. Seeds are fixed here, so the inputs are the same
for the reference and for every student. MXNet is imported inside the probes
only.
"""
from __future__ import annotations

import numpy as onp

from autograder.checks import ProblemChecks, mx_np as _np, plain_array as _plain

CHECKS = ProblemChecks(training_seed=0)

VALUES_WHY = ("float32: the same equations computed in another order (one sequence at a time, or the whole "
              "batch with gathered indices and masks; one input product for all steps or one per step) differ "
              "by ~1e-7 relative per step; 1e-5 relative + 1e-6 absolute allows that over 8 steps, a wrong "
              "formula misses it by far")


def _bi_cases(seed: int, count: int, min_steps: int = 1) -> list[dict]:
    """Random bidirectional layers (forward width h1, backward width h2) and inputs; weights ~ N(0, 1/fan_in)."""
    np = _np()
    rng = onp.random.RandomState(seed)
    cases = []
    for i in range(count):
        T, B, d = rng.randint(min_steps, 9), rng.randint(1, 5), rng.randint(1, 6)
        h1, h2 = rng.randint(1, 7), rng.randint(1, 7)

        def arr(*shape, scale=1.0):
            return np.array(rng.normal(scale=scale, size=shape), dtype="float32")

        params = []
        for h in (h1, h2):
            params += [arr(d, h, scale=1 / onp.sqrt(d)), arr(h, h, scale=1 / onp.sqrt(h)), arr(h, scale=0.3)]
        cases.append(dict(X=arr(T, B, d), state=(arr(B, h1, scale=0.5), arr(B, h2, scale=0.5)), params=params,
                          valid_lens=[int(rng.randint(1, T + 1)) for _ in range(B)],
                          activation=("relu", "tanh")[i % 2], h1=h1, h2=h2))
    return cases


@CHECKS.add(
    "bi_rnn_padded.random", seed=1001, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="the backward direction of sequence i starts at ITS last valid step (not in the padding) and its "
         "outputs are reversed back before [forward, backward] are concatenated; padded rows are 0; the "
         "forward state is taken at each sequence's last valid step, the backward one at step 1")
def probe_bi_rnn_padded(fn, seed: int) -> list:
    out = []
    cases = _bi_cases(seed, 14)
    cases[0]["valid_lens"] = [cases[0]["X"].shape[0]] * cases[0]["X"].shape[1]  # no padding at all
    for case in cases:
        H, (H_fwd, H_bwd) = fn(case["X"], list(case["valid_lens"]), tuple(case["state"]), list(case["params"]),
                               activation=case["activation"])
        out.append({"outputs": _plain(H), "forward_state": _plain(H_fwd), "backward_state": _plain(H_bwd)})
    return out


def _models(seed: int) -> list:
    """Models (X -> outputs, time-major) whose dependence on their inputs the probe measures."""
    from mxnet import npx
    from seqmx import deep
    np = _np()
    rng = onp.random.RandomState(seed)

    def arr(*shape, scale=1.0):
        return np.array(rng.normal(scale=scale, size=shape), dtype="float32")

    models = []
    for case in _bi_cases(seed, 3, min_steps=3):
        params, state, act = case["params"], case["state"], case["activation"]
        phi = np.tanh if act == "tanh" else npx.relu
        h1 = case["h1"]
        models.append((case["X"], lambda X, p=params, s=state, f=phi: deep.bi_rnn_layer(X, s, p, f)[0]))
        models.append((case["X"], lambda X, p=params, s=state, f=phi: deep.rnn_layer(X, s[0], *p[:3], f)[0]))
        models.append((case["X"], lambda X, p=params, s=state, f=phi, h=h1:
                       deep.bi_rnn_layer(X, s, p, f)[0][:, :, h:]))  # the backward direction alone
    X = arr(6, 2, 3)
    W = arr(3, 4)
    models.append((X, lambda X, W=W: np.dot(X, W) + np.dot(np.concatenate([X[1:], np.zeros_like(X[:1])]), W)))
    models.append((X, lambda X: X * 2.0))  # every output depends on its own step only
    return models


@CHECKS.add(
    "dependence.random", seed=1002, rtol=1e-4, atol=1e-6,
    why="float32 gradients summed in another order: 1e-4 relative + 1e-6 absolute; an output that does "
        "not depend on an input gets an exact 0 from autograd",
    hint="row t, column s: the L2 norm of the gradient of the sum of the outputs at step t with respect to "
         "the input at step s (over batch and features), for every t and s; a float (num_steps, num_steps) "
         "array, row = output step")
def probe_dependence(fn, seed: int) -> list:
    out = []
    for X, model in _models(seed):
        D = onp.asarray(fn(model, X.copy()), dtype="float64")
        out.append({"shape": list(D.shape), "values": D.tolist()})
    return out


def _vocab_and_windows():
    from seqmx.rnn import SeqDataLoader, load_corpus_time_machine, load_data_time_machine
    _, valid_tokens = load_corpus_time_machine()
    _, _, vocab = load_data_time_machine(32, 35, use_random_iter=True, seed=0)
    return vocab, SeqDataLoader(vocab[valid_tokens][:3000], 8, 25, shuffle=False)


@CHECKS.add(
    "masked_accuracy_by_position.random", seed=1003, rtol=1e-9, atol=0.0,
    why="ratios of counts of the same positions: exact up to the last bit",
    hint="the masks of deep.masked_accuracy (one random.Random(seed), deep.mask_chars on each window in "
         "order, spaces never masked); 'first' and 'last' look at the neighbours in the ORIGINAL left-to-"
         "right window, also when reverse=True")
def probe_masked_accuracy_by_position(fn, seed: int) -> list:
    """Constant models ('e' is rare first and common last, 't' the other way) and a seeded Gluon GRU."""
    from mxnet.gluon import rnn
    from seqmx.rnn import ConstantModel, RNNModel, set_seed
    vocab, windows = _vocab_and_windows()
    mask_id, space_id = vocab["<unk>"], vocab[" "]
    nets = []
    for letter in "eta":
        logits = onp.zeros(len(vocab))
        logits[vocab[letter]] = 1.0
        nets.append(ConstantModel(logits))
    set_seed(seed)
    gru = RNNModel(rnn.GRU(8, bidirectional=True), len(vocab))
    import mxnet as mx
    gru.initialize(mx.init.Uniform(0.5))
    nets.append(gru)
    out = []
    for k, net in enumerate(nets):
        for reverse, seed in [(False, 1), (True, 1), (k % 2 == 0, 5)]:
            acc = fn(net, windows, mask_id, space_id, reverse=reverse, seed=seed)
            out.append({key: float(acc[key]) for key in ("all", "first", "last")})
    return out


@CHECKS.add(
    "position_accuracy", atol=0.05,
    why=("fixed seeds, but float32 sums taken in another order drift over 3 epochs of Adam; other initial "
         "weights (seed 1 instead of 0) move an accuracy over the ~500 first or last letters by up to 0.03: "
         "0.05 absolute"),
    hint="three models, each after set_seed(0) with fresh time_machine() iterators, trained with "
         "deep.train_masked(net, train_iter, LR, NUM_EPOCHS, MASK_ID, MASK_PROB, skip_ids=(SPACE_ID,), "
         "reverse=...), evaluated on valid_iter with your masked_accuracy_by_position and the same reverse")
def probe_position_accuracy(accuracy) -> dict:
    return {name: {key: float(accuracy[name][key]) for key in ("all", "first", "last")}
            for name in ("left to right", "right to left", "bidirectional")}


@CHECKS.add(
    "gap_outputs.random", seed=1004, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="O_t (t = 1..T-1) reads the forward state at t and the backward state at t+2, the backward "
         "initial state standing for step T+1: never a state that has read X_(t+1); shape (T-1, B, q)")
def probe_gap_outputs(fn, seed: int) -> list:
    np = _np()
    rng = onp.random.RandomState(seed + 1000)
    out = []
    for case in _bi_cases(seed, 12, min_steps=2):
        q = int(rng.randint(1, 5))
        W_hq = np.array(rng.normal(size=(case["h1"] + case["h2"], q)), dtype="float32")
        b_q = np.array(rng.normal(size=q), dtype="float32")
        O = fn(case["X"], tuple(case["state"]), list(case["params"]), W_hq, b_q, activation=case["activation"])
        out.append(_plain(O))
    return out
