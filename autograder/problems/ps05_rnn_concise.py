"""Hidden checks of problem set 5, "RNN with Gluon".

Each probe feeds the student's answer fixed and seeded random inputs (model
sizes, Gluon models with random weights, token minibatches) and returns plain
values: for an array its shape, its dtype string and its values as nested
lists of floats; for a model's structure its shapes, parameter count and
yes/no properties. ``python -m autograder calibrate`` records what the
reference solution returns. Seeds are fixed here, so the inputs are the same
for the reference and for every student. MXNet is imported inside the probes
only.
"""
from __future__ import annotations

import random

import numpy as onp

from autograder.checks import ProblemChecks, mx_npx, plain_array as _plain

CHECKS = ProblemChecks(training_seed=0)

VALUES_WHY = ("float32: the same formula computed by Gluon's fused kernel or a Python loop of np.dot, or "
              "traced into a graph, differs by ~1e-7 relative per step; 1e-5 relative + 1e-6 absolute")

SCRATCH_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")


# --- part 1 ------------------------------------------------------------------------------

@CHECKS.add(
    "gluon_lm_num_params.random", seed=501,
    hint="per layer and gate block: an input and a recurrent weight matrix and TWO bias vectors (i2h and "
         "h2h); gru has 3 gate blocks, lstm 4; a layer above the first reads num_hiddens inputs; count "
         "the embedding table and the dense layer's weight and bias")
def probe_gluon_lm_num_params(fn, seed: int) -> list:
    rng = random.Random(seed)
    cases = [("rnn", 28, 256, None, 1), ("gru", 28, 256, None, 1), ("lstm", 28, 256, None, 1),
             ("gru", 4000, 256, 128, 1), ("rnn", 30, 16, 8, 2), ("lstm", 10000, 200, 200, 2),
             ("gru", 1, 1, None, 1), ("lstm", 2, 3, 1, 3)]
    for _ in range(24):
        cases.append((rng.choice(["rnn", "gru", "lstm"]), rng.randint(2, 20000), rng.randint(1, 1024),
                      rng.choice([None, rng.randint(1, 512)]), rng.randint(1, 4)))
    out = []
    for cell, vocab_size, num_hiddens, embed_size, num_layers in cases:
        kwargs = {} if embed_size is None else {"embed_size": embed_size}
        if num_layers != 1:
            kwargs["num_layers"] = num_layers
        out.append(int(fn(cell, vocab_size, num_hiddens, **kwargs)))
    return out


# --- part 2 ------------------------------------------------------------------------------

@CHECKS.add(
    "gluon_to_scratch.random", seed=502, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="the layer's i2h_weight and h2h_weight are W_xh and W_hh transposed, the dense weight is W_hq "
         "transposed; the layer adds both of its biases at every step; return five mxnet arrays in the "
         "order W_xh, W_hh, b_h, W_hq, b_q")
def probe_gluon_to_scratch(fn, seed: int) -> list:
    """The scratch parameters and what seqmx.rnn.rnn computes with them, for Gluon models with random weights."""
    from mxnet.gluon import rnn

    from seqmx.rnn import RNNModel, rnn as rnn_scratch
    np, npx = mx_npx()
    rng = onp.random.RandomState(seed)
    out = []
    for case in range(8):
        V, h, B, T = rng.randint(2, 30), rng.randint(1, 12), rng.randint(1, 5), rng.randint(1, 8)
        net = RNNModel(rnn.RNN(h, activation="tanh"), V)
        net.initialize()
        X = np.array(rng.randint(0, V, size=(B, T)))
        net(X, net.begin_state(batch_size=B))  # the first call fixes the input size
        for p in net.collect_params().values():  # every weight and BOTH biases random
            p.set_data(np.array(rng.normal(scale=0.5, size=p.shape), dtype="float32"))
        H0 = np.array(rng.normal(scale=0.5, size=(B, h)), dtype="float32")
        params = list(fn(net))
        outputs, (H,) = rnn_scratch(npx.one_hot(X.T, V), (H0,), params)
        out.append({"params": [_plain(p) for p in params], "outputs": _plain(outputs), "state": _plain(H)})
    return out


# --- part 3 ------------------------------------------------------------------------------

@CHECKS.add(
    "TiedRNNModel.structure", seed=503,
    hint="subclass RNNModel; self.embedding of shape (vocab_size, num_hiddens) and self.rnn the layer "
         "passed in; logits = Y E^T + b with E the embedding's own matrix (one parameter, counted "
         "once) and a separate bias of zeros; it must also work hybridized")
def probe_tied_structure(cls, seed: int) -> list:
    """Output and state shapes, parameter count, and whether the output weight is the embedding."""
    from mxnet.gluon import rnn

    from seqmx.rnn import num_params, set_seed
    np, npx = mx_npx()
    rng = onp.random.RandomState(seed)
    layers = [lambda h: rnn.RNN(h, activation="tanh"), lambda h: rnn.GRU(h), lambda h: rnn.LSTM(h),
              lambda h: rnn.GRU(h, num_layers=2), lambda h: rnn.RNN(h, activation="relu")]
    out = []
    for case, make_layer in enumerate(layers):
        V, h, B, T = rng.randint(5, 40), rng.randint(2, 24), rng.randint(1, 5), rng.randint(1, 8)
        set_seed(seed + case)
        net = cls(make_layer(h), V, h)
        net.initialize()
        X = np.array(rng.randint(0, V, size=(B, T)))
        y, state = net(X, net.begin_state(batch_size=B))
        # the logits minus Y E^T must be one bias row repeated (zero at the start) if the weight is E
        E = net.embedding.weight.data()  # (V, h)
        Y, _ = net.rnn(net.embedding(X.T), net.begin_state(batch_size=B))  # (T, B, h)
        rest = (y - np.dot(Y, E.T).reshape(-1, V)).asnumpy()  # (T * B, V)
        net.hybridize()
        y_hybrid, _ = net(X, net.begin_state(batch_size=B))
        out.append({
            "outputs_shape": [int(s) for s in y.shape],
            "state_shapes": [[int(s) for s in a.shape] for a in state],
            "num_params": int(num_params(net)),
            "output_weight_is_embedding": bool(onp.abs(rest - rest[:1]).max() < 1e-5),
            "output_bias_zero_at_start": bool(onp.abs(rest[:1]).max() < 1e-6),
            "hybridized_same_outputs": bool(float(abs(y_hybrid - y).max()) < 1e-5),
        })
    return out


@CHECKS.add(
    "TiedRNNModel.train_steps", seed=505, seed_name="train_steps", rtol=1e-4, atol=1e-6,
    why="float32: the same tied model written another way (the weight registered on the block and "
        "multiplied in hybrid_forward, parameters created in another order) gives the same gradients up "
        "to the order of float32 sums, ~1e-6 relative after 6 SGD steps; 1e-4 relative + 1e-6 absolute. "
        "An output layer that does not train E with the gradient of its own use moves them far more",
    hint="the output layer must use the embedding's own weight parameter, so that every training step "
         "updates E by the gradients of both its uses (the lookup and the output), once; a copy of E, or "
         "E used through stop_gradient/detach, trains a different model")
def probe_tied_train_steps(cls, seed: int) -> list:
    """A tiny tied model trained a few minibatches by ``seqmx.rnn.train``: its weights and outputs afterwards.

    Vocabulary 7, 5 hidden units (a tanh ``rnn.RNN``), minibatches of 3 x 4 tokens by sequential
    partitioning (a ``SeqDataLoader`` of 50 seeded tokens: 3 minibatches an epoch); the embedding
    and the layer's weights set from a seeded NumPy generator (by name, whatever order the class
    creates its parameters in), every other parameter (the output bias) zero; hybridized, as the
    task asks; one run of 1 epoch (3 SGD steps) at lr 1 and one of 2 epochs (6 steps) at lr 2, at
    clipping norm 0.5. Recorded: the embedding matrix, the layer's weights, the logits of a fixed
    minibatch and the training perplexity of each epoch. The matrix E gets the gradients of BOTH its
    uses at every step (the input lookup and the output layer), so an output layer that does not
    train E (a copy, a detached or stop_gradient use) or one that trains it twice shows in them.
    """
    from mxnet.gluon import rnn

    from seqmx.rnn import SeqDataLoader, set_seed, train
    np, _ = mx_npx()
    rng = onp.random.RandomState(seed)
    V, h, B, T = 7, 5, 3, 4
    corpus = [int(t) for t in rng.randint(0, V, size=50)]
    X_probe = np.array(rng.randint(0, V, size=(2, 5)))
    out = []
    for i, (lr, num_epochs) in enumerate(((1.0, 1), (2.0, 2))):
        set_seed(seed + i)
        net = cls(rnn.RNN(h, activation="tanh"), V, h)
        net.initialize()
        net(X_probe, net.begin_state(batch_size=2))  # materialise deferred shapes
        E = net.embedding.weight
        layer = {name.rsplit("_", 2)[-2] + "_" + name.rsplit("_", 1)[-1]: p
                 for name, p in net.rnn.collect_params().items()}  # l0_i2h_weight -> i2h_weight
        E.set_data(np.array(rng.normal(scale=0.5, size=E.shape), dtype="float32"))
        for key in sorted(layer):
            layer[key].set_data(np.array(rng.normal(scale=0.5, size=layer[key].shape), dtype="float32"))
        named = {id(E)} | {id(p) for p in layer.values()}
        for p in net.collect_params().values():
            if id(p) not in named:
                p.set_data(np.zeros(p.shape, dtype="float32"))
        net.hybridize()
        train_iter = SeqDataLoader(corpus, B, T, seed=seed + i)
        history = train(net, train_iter, None, lr, num_epochs, clip_theta=0.5)
        logits, _ = net(X_probe, net.begin_state(batch_size=2))
        out.append({"embedding": _plain(E.data()), "layer": {k: _plain(layer[k].data()) for k in sorted(layer)},
                    "logits": _plain(logits), "train_ppl": [float(p) for p in history.train_ppl]})
    return out


CHECKS.value(
    "valid_ppl_tied", float, rtol=0.03,
    why="fixed seeds; another order of creating the parameters, or other seeds, moved it by up to 0.7% "
        "here (the final epoch at a small learning rate settles it): 3% relative",
    hint="a tanh rnn.RNN layer (Gluon's default activation is ReLU) of NUM_HIDDENS units in "
         "TiedRNNModel, set_seed(0) before building it, fresh time_machine() iterators, NUM_EPOCHS epochs "
         "at LR then one at FINE_LR; the last validation perplexity")


# --- part 4 ------------------------------------------------------------------------------

@CHECKS.add(
    "ScratchRNNBlock.random", seed=504, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
    hint="parameters named W_xh, W_hh, b_h, W_hq, b_q in the scratch model's shapes; H_t = tanh(X_t W_xh + "
         "H_(t-1) W_hh + b_h), O_t = H_t W_hq + b_q; outputs concatenated to (num_steps * batch_size, "
         "vocab_size); loop over range(num_steps) with inputs[t] so that it also runs hybridized")
def probe_scratch_block(cls, seed: int) -> list:
    """Outputs, final state and dL/dW_hh of the block, run imperatively and hybridized."""
    from mxnet import autograd
    np, npx = mx_npx()
    rng = onp.random.RandomState(seed)
    out = []
    for case in range(6):
        V, h, B, T = rng.randint(2, 20), rng.randint(1, 10), rng.randint(1, 5), rng.randint(1, 9)
        block = cls(V, h, T)
        block.initialize()
        for name, shape in zip(SCRATCH_NAMES, [(V, h), (h, h), (h,), (h, V), (V,)]):
            scale = 1 / onp.sqrt(shape[0]) if len(shape) == 2 else 0.3
            getattr(block, name).set_data(np.array(rng.normal(scale=scale, size=shape), dtype="float32"))
        X = npx.one_hot(np.array(rng.randint(0, V, size=(T, B))), V)  # (num_steps, batch_size, vocab_size)
        H0 = np.array(rng.normal(scale=0.5, size=(B, h)), dtype="float32")
        G = np.array(rng.normal(size=(T * B, V)), dtype="float32")
        row = {}
        for mode in ("imperative", "hybridized"):
            if mode == "hybridized":
                block.hybridize()
            with autograd.record():
                outputs, H = block(X, H0)
                L = (outputs * G).sum() + H.sum()
            L.backward()
            row[mode] = {"outputs": _plain(outputs), "state": _plain(H), "grad_W_hh": _plain(block.W_hh.grad())}
        out.append(row)
    return out
