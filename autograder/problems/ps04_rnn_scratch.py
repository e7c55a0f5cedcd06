"""Hidden checks of problem set 4, "An RNN language model from scratch".

Each probe feeds the student's answer fixed and seeded random inputs and
returns plain values: for an array its shape, its dtype string and its values
as nested lists of floats; for generated text the string itself.
``python -m autograder calibrate`` records what the reference solution
returns. Seeds are fixed here, so the inputs (and the untrained random
networks that generate text) are the same for the reference and for every
student. MXNet is imported inside the probes only.
"""
from __future__ import annotations

import math
import random

import numpy as onp

from autograder.checks import ProblemChecks, mx_npx, plain_array as _plain

CHECKS = ProblemChecks(training_seed=0)

FLOAT32_WHY = ("float32: the same values reached by another route (a lookup or a one-hot product, gradients "
               "accumulated in another order) differ by ~1e-7 relative; 1e-6 relative + 1e-6 absolute")


def _vocab():
    """The character vocabulary of The Time Machine, as the notebook's (training part of the book)."""
    import d2l.mxnet as d2l

    from seqmx.rnn import load_corpus_time_machine
    return d2l.Vocab(load_corpus_time_machine("char")[0])


def _random_net(vocab_size: int, num_hiddens: int, seed: int, scale: float = 0.5):
    """An untrained scratch tanh RNN with weights N(0, scale^2) drawn by NumPy: sharp, arbitrary predictions."""
    from seqmx.rnn import RNNModelScratch
    np, _ = mx_npx()
    rng = onp.random.RandomState(seed)
    net = RNNModelScratch(vocab_size, num_hiddens)
    for p in net.params:
        p[:] = np.array(rng.normal(scale=scale, size=p.shape), dtype="float32")
    return net


# --- part 1 ------------------------------------------------------------------------------

@CHECKS.add(
    "input_layer.random", seed=401, rtol=1e-6, atol=1e-6, why=FLOAT32_WHY,
    hint="row X[b, t] of W_xh goes to position [t, b] of a (num_steps, batch_size, num_hiddens) float32 "
         "result (time-major: transpose X), built with mxnet.np operations so that autograd reaches W_xh")
def probe_input_layer(fn, seed: int) -> list:
    """Outputs and dL/dW_xh for L = sum(G * input_layer(X, W_xh)), G a fixed random (T, B, h) array."""
    from mxnet import autograd
    np, _ = mx_npx()
    rng = onp.random.RandomState(seed)
    out = []
    for case in range(12):
        B, T, V, h = rng.randint(1, 6), rng.randint(1, 9), rng.randint(2, 30), rng.randint(1, 9)
        if case == 0:
            B, T, V, h = 2, 3, 4, 3
        idx = rng.randint(0, V, size=(B, T))
        idx[0, 0] = idx[-1, -1]  # at least one repeated token: its row's gradient adds up
        X = np.array(idx, dtype=("float32", "int32")[case % 2])  # the loaders yield float32 indices
        W = np.array(rng.normal(size=(V, h)), dtype="float32")
        G = np.array(rng.normal(size=(T, B, h)), dtype="float32")
        W.attach_grad()
        with autograd.record():
            Y = fn(X, W)
            L = (Y * G).sum()
        L.backward()
        out.append({"outputs": _plain(Y), "grad_W_xh": _plain(W.grad)})
    return out


# --- part 2 ------------------------------------------------------------------------------

FIXED_LOSSES = [  # (batch_losses, batch_tokens)
    ([math.log(28)] * 3, [1120, 1120, 1120]),     # the uniform model over 28 characters
    ([math.log(4), math.log(16)], [10, 10]),
    ([1.0, 3.0], [1000, 10]),                     # a small last minibatch weighs little
    ([2.5], [7]),
    ([0.0, 0.0], [5, 5]),                         # a perfect model: perplexity 1
    ([800.0, 2.0], [100, 100]),                   # a diverged model: the mean loss is 401 nats
    ([1500.0, 1400.0], [35, 35]),                 # exp overflows: inf
]


@CHECKS.add(
    "perplexity.random", seed=402, rtol=1e-9,
    why="float64 sums taken in another order: 1e-9 relative",
    hint="weight each minibatch's mean loss by its number of tokens, take the mean over all tokens, then "
         "exp of that (not the mean of per-minibatch perplexities); math.inf when exp would overflow")
def probe_perplexity(fn, seed: int) -> list:
    rng = random.Random(seed)
    cases = list(FIXED_LOSSES)
    for _ in range(30):
        n = rng.randint(1, 20)
        cases.append(([rng.uniform(0.3, 5.0) for _ in range(n)], [rng.randint(1, 2000) for _ in range(n)]))
    values = [float(fn(list(losses), list(tokens))) for losses, tokens in cases]
    return [v if math.isfinite(v) else repr(v) for v in values]  # "inf": JSON has no infinity


# --- part 3 ------------------------------------------------------------------------------

@CHECKS.add(
    "sampling_probs.random", seed=403, rtol=1e-4, atol=1e-7,
    why="a softmax computed in float32 from logits / temperature of a few hundred loses ~1e-5 in the "
        "exponent: 1e-4 relative + 1e-7 absolute; a wrong formula is off by far more",
    hint="divide the logits by the temperature (not multiply), subtract the largest before exp, normalise "
         "to sum 1; return one probability per logit")
def probe_sampling_probs(fn, seed: int) -> list:
    rng = onp.random.RandomState(seed)
    cases = [(onp.zeros(5), 1.0), (onp.array([1.0, 2.0, 3.0]), 1.0), (onp.array([1.0, 2.0, 3.0]), 10.0),
             (onp.array([300.0, 299.0, -300.0], dtype="float32"), 0.05),   # e^6000 would overflow
             (onp.array([-500.0, -501.0]), 0.5)]                            # e^-1000 would underflow to 0/0
    for case in range(20):
        V = rng.randint(2, 60)
        scale = (1.0, 5.0, 30.0)[case % 3]
        cases.append((rng.normal(scale=scale, size=V).astype(("float32", "float64")[case % 2]),
                      float(rng.choice([0.05, 0.25, 0.5, 1.0, 2.0, 10.0]))))
    out = []
    for logits, temperature in cases:
        probs = onp.asarray(fn(logits.copy(), temperature))
        out.append({"shape": [int(s) for s in probs.shape], "values": probs.astype("float64").tolist()})
    return out


@CHECKS.add(
    "predict_sampled.random", seed=404,
    why="exact: the same probabilities and the same seeded generator give the same draws (a draw could "
        "flip only if it fell within float32 rounding of a cumulative probability: about 1e-4 over all "
        "cases)",
    hint="warm up on the whole prefix from begin_state(batch_size=1) without drawing; then for every new "
         "token exactly one rng.choice(len(probs), p=sampling_probs(logits, temperature)), fed back as "
         "the next input; return prefix + generated characters")
def probe_predict_sampled(fn, seed: int) -> list:
    """Text generated with seeded NumPy generators by random networks and constant models."""
    from seqmx.rnn import ConstantModel
    vocab = _vocab()
    rng = onp.random.RandomState(seed)
    cases = []
    for i in range(6):  # (net, prefix, num_preds, generator seed, temperature)
        net = _random_net(len(vocab), int(rng.randint(8, 40)), seed + i)
        cases.append((net, ("time traveller", "the ", "a", "it was")[i % 4], int(rng.randint(5, 40)),
                      int(rng.randint(0, 10_000)), (0.5, 1.0, 2.0)[i % 3]))
    for i in range(3):
        cases.append((ConstantModel(rng.normal(scale=2.0, size=len(vocab))), ("xy", "q", "hello")[i], 30,
                      int(rng.randint(0, 10_000)), (1.0, 0.7, 1.5)[i]))
    return [fn(prefix, num_preds, net, vocab, onp.random.default_rng(seed), temperature=temperature)
            for net, prefix, num_preds, seed, temperature in cases]


# --- part 4 ------------------------------------------------------------------------------

def _gradients(net) -> list:
    from mxnet import gluon
    if isinstance(net, gluon.Block):
        return [p.grad() for p in net.collect_params().values() if p.grad_req != "null"]
    return [p.grad for p in net.params]


def _parameters(net) -> list:
    from mxnet import gluon
    if isinstance(net, gluon.Block):
        return [p.data() for p in net.collect_params().values()]
    return list(net.params)


@CHECKS.add(
    "clip_grad_value.random", seed=405, rtol=1e-5, atol=1e-6,
    why="clipping itself is exact, but the gradients it clips come from float32 matrix products whose "
        "last bits depend on the BLAS kernel of the machine: 1e-5 relative + 1e-6 absolute; the fraction "
        "is a ratio of counts",
    hint="clip the arrays the optimizer reads (p.grad of a scratch model, p.grad() of a Gluon parameter) "
         "in place, e.g. g[:] = ...; count the entries with |g| > theta over all gradients before "
         "clipping and divide by the number of all entries; leave the parameters alone")
def probe_clip_grad_value(fn, seed: int) -> list:
    """Clipped gradients and fractions for a scratch and a Gluon model, fresh gradients for each theta."""
    from mxnet import autograd, gluon
    from mxnet.gluon import rnn

    from seqmx.rnn import RNNModel, set_seed
    np, _ = mx_npx()
    rng = onp.random.RandomState(seed)
    V, h, B, T = 9, 6, 3, 4
    X = np.array(rng.randint(0, V, size=(B, T)))
    Y = np.array(rng.randint(0, V, size=(B, T)))
    set_seed(seed)
    scratch = _random_net(V, h, seed, scale=0.8)
    gluon_net = RNNModel(rnn.RNN(h, activation="tanh"), V)
    gluon_net.initialize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    out = []
    for net in (scratch, gluon_net):
        for theta in (0.01, 0.1, 0.5, 2.0, 1e6):
            with autograd.record():
                y_hat, _ = net(X, net.begin_state(batch_size=B))
                l = loss(y_hat, Y.T.reshape(-1)).sum()  # a sum: gradients of all sizes around theta
            l.backward()
            before = [p.copy() for p in _parameters(net)]
            fraction = fn(net, theta)
            out.append({"fraction": float(fraction), "grads": [_plain(g) for g in _gradients(net)],
                        "params_unchanged": all(bool((p == b).all()) for p, b in zip(_parameters(net), before))})
    return out


CHECKS.value(
    "valid_ppl_value_clipped", float, rtol=0.05,
    why="fixed seeds, but float32 sums taken in another order (another BLAS kernel, a summed loss divided "
        "by the token count) drift over 417 SGD steps (3 epochs of 139 minibatches) at lr 5; such changes, "
        "or other seeds, moved it by up to 1.5% here: 5% relative",
    hint="the mean (not summed) loss per token against Y.T.reshape(-1), backward, clip_grad_value, then "
         "sgd(net.params, lr), every minibatch; the state begun at each epoch's first minibatch and "
         "carried over within the epoch")


@CHECKS.add(
    "train_value_clipped.steps", seed=407, seed_name="train_steps", rtol=1e-4, atol=1e-6,
    why="float32: the same loss and gradients reached by another route (the mean taken by hand, outputs "
        "and labels transposed together, a summed loss divided by the token count) differ by ~1e-6 "
        "relative after 6 steps (0 on this machine); clipping is continuous, so such differences stay "
        "small: 1e-4 relative + 1e-6 absolute. A summed loss, a state reset every minibatch, no "
        "clipping or labels in the wrong order move the parameters by 3,700 to 126,000 times that",
    hint="every minibatch: the state begun at the epoch's first minibatch and otherwise carried over "
         "(detached); the mean (not summed) cross-entropy per token of the outputs against "
         "Y.T.reshape(-1) under autograd.record(); backward(); clip_grad_value(net, theta); "
         "sgd(net.params, lr); return one training perplexity per epoch")
def probe_train_value_clipped(fn, seed: int) -> list:
    """Parameters of tiny seeded scratch RNNs after the student's loop trained them on a tiny corpus.

    Vocabulary 7, 5 hidden units, minibatches of 3 x 4 tokens by sequential partitioning (a
    ``SeqDataLoader`` of 50 seeded tokens: 3 minibatches an epoch, a seeded offset each epoch);
    one run of 1 epoch (3 SGD steps) and one of 2 epochs (6 steps), theta clipping 16-53% of the
    entries at each step. Every step's update shows in the parameters: the loss (mean, not sum:
    a sum scales the gradient by 12 before clipping), the labels' order (Y.T vs Y), the state
    carried from minibatch to minibatch and begun afresh at each epoch, the clipping. The list the
    loop returns is recorded only by its length (one entry per epoch): its values come from the
    student's ``perplexity``, graded in part 2.
    """
    from seqmx.rnn import SeqDataLoader
    rng = onp.random.RandomState(seed)
    V, h, B, T = 7, 5, 3, 4
    corpus = [int(t) for t in rng.randint(0, V, size=50)]
    out = []
    for i, (lr, theta, num_epochs) in enumerate(((1.0, 0.05, 1), (2.0, 0.02, 2))):
        net = _random_net(V, h, seed + i, scale=0.3)
        train_iter = SeqDataLoader(corpus, B, T, seed=seed + i)
        history = fn(net, train_iter, lr, theta, num_epochs)
        out.append({"params": [_plain(p) for p in net.params], "epochs_reported": len(list(history))})
    return out


# --- part 5 ------------------------------------------------------------------------------

@CHECKS.add(
    "beam_search.random", seed=406, rtol=1e-5, atol=1e-4,
    why="log-probabilities from a float32 log-softmax summed over up to 25 steps: 1e-5 relative + 1e-4 "
        "absolute; the text is exact (two beams within that tolerance of each other are unlikely)",
    hint="score = sum of log-softmax values of the generated tokens; keep the beam_size best extensions "
         "over all beams together; each kept extension continues from the state of the beam it extends; "
         "return the prefix plus the best beam's characters and its score")
def probe_beam_search(fn, seed: int) -> list:
    vocab = _vocab()
    rng = onp.random.RandomState(seed)
    out = []
    for i in range(8):
        net = _random_net(len(vocab), int(rng.randint(8, 40)), seed + i)
        prefix = ("time traveller", "the ", "a", "it was")[i % 4]
        num_preds, beam_size = int(rng.randint(3, 25)), (1, 2, 3, 4, 5)[i % 5]
        text, log_prob = fn(prefix, num_preds, net, vocab, beam_size)
        out.append({"text": str(text), "log_prob": float(log_prob)})
    return out
