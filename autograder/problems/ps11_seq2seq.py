"""Hidden checks of problem set 11, "Encoder-decoder and sequence to sequence".

Each probe feeds the student's answer fixed and seeded random inputs and
returns plain values: for an array its shape, its dtype string and its values
as nested lists of floats; for token sequences lists of ints.
``python -m autograder calibrate`` records what the reference solution
returns. The models of parts 1, 3 and 6 are small encoder-decoders
(``seqmx.seq2seq.make_seq2seq``) whose weights are all set here from a seeded
NumPy generator, so they do not depend on MXNet's own random generator; their
weights are large enough that the greedy choice changes from step to step and
``<eos>`` comes at different steps. MXNet is imported inside the probes only.
"""
from __future__ import annotations

import random

import numpy as onp

from autograder.checks import ProblemChecks, mx_npx, plain_array as _plain

CHECKS = ProblemChecks(training_seed=0)

FLOAT32_WHY = ("float32 logits: the same formula evaluated in another order (log_softmax or an explicit "
               "log-sum-exp, sums per row or over the whole batch) differs by ~1e-6 relative; token "
               "indices must match exactly")
SCORES_WHY = ("token indices exact; log-probabilities of float32 logits as large as ~30: a float64 "
              "log-softmax, or one sentence at a time instead of a minibatch, moves a score by up to ~3e-5 "
              "(measured): 1e-4 relative + 1e-4 absolute, far below a left-out or extra token's "
              "log-probability")
TRAINED_WHY = ("fixed seeds (weights, minibatch order, coins): a run that follows the task repeats the "
               "reference's 396 Adam steps (4 epochs of 99 minibatches), and only float32 sums taken in another "
               "order can move it (measured: the loss summed in another order left both losses unchanged to 4 "
               "decimals): 5% relative. Other seeds move the truth-fed loss by up to 6% and the other by up to "
               "2%, a new Adam every epoch moves both by 7%")

BOS, EOS = 1, 2  # token indices in the probes' target vocabularies (0 is <pad>, as in a d2l Vocab)


def _ints(a) -> list:
    """Token indices (an MXNet or NumPy array, or nested lists) as nested lists of ints."""
    values = a.asnumpy() if hasattr(a, "asnumpy") else onp.asarray(a)
    return onp.rint(values.astype("float64")).astype(int).tolist()


def _net(rng: onp.random.Generator, src_vocab_size: int, tgt_vocab_size: int, embed_size: int,
         num_hiddens: int, eos_bias: float = 0.0):
    """A two-layer LSTM encoder-decoder of the chapter with every weight drawn from ``rng``.

    Large embeddings (N(0, 3^2)) and input weights (N(0, 2^2)), small recurrent
    weights (N(0, 0.3^2)), forget gates biased towards forgetting (-2) and
    input and output gates towards open (+1): each step depends mostly on the
    token it reads, so the greedy output moves from token to token and
    reaches ``<eos>`` at different steps. Output weights N(0, 3^2) keep the
    best logit of every step at least ~2e-3 above the next one (float32
    rounding is ~1e-6), so no choice is a near tie. ``eos_bias`` is added to
    the output bias of ``<eos>``.
    """
    np, _ = mx_npx()
    from seqmx.seq2seq import make_seq2seq
    net = make_seq2seq(src_vocab_size, tgt_vocab_size, embed_size, num_hiddens, num_layers=2)
    net(np.zeros((1, 2)), np.zeros((1, 1)))  # materialise the deferred parameter shapes
    scales = {id(net.encoder.embedding.weight): 3.0, id(net.decoder.embedding.weight): 3.0,
              id(net.decoder.dense.weight): 3.0, id(net.decoder.dense.bias): 0.3}
    H = num_hiddens
    for name, param in net.collect_params().items():  # registration order: fixed for this architecture
        value = rng.normal(scale=scales.get(id(param), 0.3 if "h2h" in name else 2.0), size=param.shape)
        if "i2h_bias" in name:  # Gluon's gate order: input, forget, cell, output
            value[:H] += 1.0
            value[H:2 * H] -= 2.0
            value[3 * H:] += 1.0
        if param is net.decoder.dense.bias:
            value[EOS] += eos_bias
        param.set_data(np.array(value, dtype="float32"))
    return net


def _net_cases(seed: int, count: int, max_src: int = 6, min_batch: int = 1) -> list[dict]:
    """Random small models and source minibatches (no padding: every source row has the same length)."""
    np, _ = mx_npx()
    rng = onp.random.default_rng(seed)
    cases = []
    for i in range(count):
        src_v, tgt_v = int(rng.integers(5, 12)), int(rng.integers(5, 12))
        embed_size, num_hiddens = int(rng.integers(2, 7)), int(rng.integers(7, 13))
        eos_bias = float((0.0, -1.0, 0.5, -0.5)[i % 4])  # <eos> early in some models, late or never in others
        net = _net(rng, src_v, tgt_v, embed_size, num_hiddens, eos_bias)
        batch_size, src_len = int(rng.integers(min_batch, 6)), int(rng.integers(1, max_src + 1))
        X = np.array(rng.integers(3, src_v, size=(batch_size, src_len)), dtype="float32")
        cases.append(dict(net=net, X=X, rng=rng, tgt_v=tgt_v))
    return cases


# --- part 1 ------------------------------------------------------------------------------

@CHECKS.add(
    "forward_teacher_forcing_per_sentence.random", seed=1101,
    rtol=1e-4, atol=1e-5, why=FLOAT32_WHY + "; gradients through up to 7 decoder steps: 1e-4 relative",
    hint="step 0 reads <bos>; before each later step t draw rng.random(batch_size) once: sentence b reads "
         "dec_input[b, t] when its draw is below the ratio, else its own argmax prediction of step t-1; "
         "run the decoder one step at a time from net.encode(X) and keep the logits differentiable")
def probe_forward_teacher_forcing_per_sentence(fn, seed: int) -> list:
    """Logits, the inputs fed at every step and two gradients, for seeded coins and ratios."""
    from mxnet import autograd
    np, _ = mx_npx()
    out = []
    for i, case in enumerate(_net_cases(seed, 12, min_batch=2)):
        rng, net = case["rng"], case["net"]
        batch_size = case["X"].shape[0]
        num_steps = 1 if i == 0 else int(rng.integers(3, 9))  # one step: <bos> only, no coin drawn
        truth = rng.integers(3, case["tgt_v"], size=(batch_size, num_steps))
        dec_input = np.array(onp.concatenate([onp.full((batch_size, 1), BOS), truth[:, :-1]], axis=1),
                             dtype="float32")  # (batch_size, num_steps): <bos>, y_1, ..., y_{T-1}
        ratio = (0.5, 0.0, 1.0, 0.25, 0.75, 0.5)[i % 6]
        coin_seed = int(rng.integers(0, 2 ** 31))
        weights = np.array(rng.normal(size=(batch_size, num_steps, case["tgt_v"])), dtype="float32")
        with autograd.record():
            Y_hat, fed = fn(net, case["X"], dec_input, ratio, onp.random.default_rng(coin_seed))
            L = (Y_hat * weights).sum()  # a loss whose gradient reaches every logit
        L.backward()
        out.append({"logits": _plain(Y_hat), "fed": _ints(fed), "fed_shape": [int(s) for s in fed.shape],
                    "grad_dense": _plain(net.decoder.dense.weight.grad()),
                    "grad_src_embedding": _plain(net.encoder.embedding.weight.grad())})
    return out


# --- part 2 ------------------------------------------------------------------------------

@CHECKS.add(
    "masked_ce_smoothed.random", seed=1102, rtol=1e-5, atol=1e-6, why=FLOAT32_WHY,
    hint="target (1 - epsilon) on the label plus epsilon / vocab_size on every token (the label too); "
         "positions at or after valid_len count zero, and the sum is divided by the number of valid "
         "tokens of the whole minibatch, not by batch_size * num_steps")
def probe_masked_ce_smoothed(fn, seed: int) -> list:
    """Loss values and gradients w.r.t. the logits; padded positions hold large garbage logits."""
    from mxnet import autograd
    np, _ = mx_npx()
    rng = onp.random.default_rng(seed)
    out = []
    for i in range(14):
        B, T, V = int(rng.integers(1, 6)), int(rng.integers(1, 8)), int(rng.integers(2, 11))
        valid = rng.integers(0, T + 1, size=B)
        valid[rng.integers(0, B)] = rng.integers(1, T + 1)  # at least one valid token
        if i == 0:
            valid[:] = T  # no padding at all
        pred = rng.normal(size=(B, T, V))
        for b in range(B):
            pred[b, valid[b]:] = rng.normal(scale=20.0, size=(T - valid[b], V))  # garbage at padded positions
        label = rng.integers(0, V, size=(B, T))
        epsilon = (0.0, 0.1, 0.3, 0.05)[i % 4]
        P = np.array(pred, dtype="float32")
        P.attach_grad()
        with autograd.record():
            loss = fn(P, np.array(label, dtype="float32"), np.array(valid, dtype="float32"), epsilon)
        loss.backward()
        out.append({"loss": float(loss), "grad": _plain(P.grad)})
    return out


# --- part 3 ------------------------------------------------------------------------------

@CHECKS.add(
    "greedy_decode.random", seed=1103, rtol=1e-4, atol=1e-4, why=SCORES_WHY,
    hint="feed back the argmax from <bos>; a sentence ends at its first <eos> (not returned, but its "
         "log-probability counts) or after max_len tokens; nothing after its end counts, even when "
         "other sentences of the minibatch go on")
def probe_greedy_decode(fn, seed: int) -> list:
    out = []
    for i, case in enumerate(_net_cases(seed, 16, min_batch=2)):
        max_len = (1, 3, 5, 8)[i % 4]
        tokens, scores = fn(case["net"], case["X"], BOS, EOS, max_len)
        out.append({"tokens": [[int(t) for t in row] for row in tokens], "scores": [float(s) for s in scores]})
    return out


# --- part 4 ------------------------------------------------------------------------------

FIXED_CORPORA = [  # (predictions, references, max_n)
    ([["je", "suis", "calme", "."]], [["je", "suis", "calme", "."]], 4),             # perfect: 1
    ([["je", "suis", "calme", "."]], [["je", "suis", "très", "calme", "."]], 2),     # short: brevity penalty
    ([["le", "le", "le", "le", "le"]], [["le", "chat", "est", "sur", "le", "tapis"]], 1),  # clipping: 2/5
    ([["il", "a", "faim"]], [["je", "suis", "calme", "."]], 2),                      # nothing in common: 0
    ([["a", "b", "c"], ["d", "e", "f", "g"]], [["a", "b", "c"], ["d", "x", "f", "g"]], 4),  # a 4-gram count of 0
    ([["a", "b", "c", "d", "e"], ["a", "b"]], [["a", "b", "c"], ["a", "b", "c", "d"]], 2),  # pooled: c = r
    ([[], ["a", "b"]], [["a"], ["a", "b", "c"]], 1),                                 # an empty prediction
    ([[]], [["a", "b"]], 1),                                                         # nothing predicted: 0
    ([["a", "b", "a", "b"], ["b", "a"]], [["a", "b"], ["b", "a", "b", "a"]], 2),     # c = r: no penalty
]


def _random_corpora(seed: int, count: int = 30) -> list:
    """Token lists over small alphabets (so that 3- and 4-grams match), references edited from predictions."""
    rng = random.Random(seed)
    corpora = []
    for _ in range(count):
        alphabet = [chr(ord("a") + j) for j in range(rng.randint(2, 6))]
        preds, refs = [], []
        for _ in range(rng.randint(1, 6)):
            pred = [rng.choice(alphabet) for _ in range(rng.randint(1, 9))]
            ref = [t if rng.random() < 0.7 else rng.choice(alphabet) for t in pred]
            if rng.random() < 0.5:
                ref += [rng.choice(alphabet) for _ in range(rng.randint(1, 4))]  # a longer reference
            elif rng.random() < 0.5 and len(ref) > 1:
                ref = ref[:rng.randint(1, len(ref))]                              # a shorter one
            preds.append(pred)
            refs.append(ref)
        corpora.append((preds, refs, rng.randint(1, 4)))
    return corpora


@CHECKS.add(
    "corpus_bleu.random", seed=1104, rtol=1e-9, atol=1e-12,
    why="plain Python floats: only the order of a few products and logarithms may differ",
    hint="pool the clipped n-gram matches and the prediction n-gram counts over ALL sentences before "
         "dividing; geometric mean of p_1..p_max_n with equal weights; one brevity penalty from the "
         "total lengths (none when the predictions are longer in total); 0.0 when some p_n is 0 or "
         "nothing is predicted")
def probe_corpus_bleu(fn, seed: int) -> list:
    out = []
    for preds, refs, max_n in FIXED_CORPORA + _random_corpora(seed):
        copies = [list(p) for p in preds], [list(r) for r in refs]
        value = float(fn(copies[0], copies[1], max_n))
        out.append(value)
    return out


CHECKS.value(
    "heldout_loss_truth", float, rtol=0.05, why=TRAINED_WHY,
    hint="train_scheduled: one Adam at lr, clipping at clip_theta, the ratio 1 - step / (total_steps - 1) "
         "at every minibatch, train_iter.reseed(epoch) before each epoch, the loss per valid token")


CHECKS.value(
    "heldout_loss_own", float, rtol=0.05, why=TRAINED_WHY,
    hint="the same model as heldout_loss_truth, evaluated with teacher_forcing_ratio 0.0: a schedule "
         "that ends at ratio 0 trains in the test-time condition")


# --- part 5 ------------------------------------------------------------------------------

def _tiny_pairs(rng: onp.random.Generator, count: int) -> tuple[list, list]:
    """Source and target sentences of letters: sources of 2 or 3 tokens (two buckets), targets of 1 to 4."""
    source = [[str(w) for w in rng.choice(list("abcdef"), size=2 + i % 2)] for i in range(count)]
    target = [[str(w) for w in rng.choice(list("uvwxyz"), size=int(rng.integers(1, 5)))] for _ in range(count)]
    return source, target


@CHECKS.add(
    "train_scheduled.steps", seed=1106, seed_name="train_steps", rtol=1e-4, atol=1e-6,
    why="float32: the same loss and gradients reached by another route (the loss summed sentence by "
        "sentence, divided before summing, or by part 2's masked_ce_smoothed at epsilon 0, minibatches "
        "from a generator) left the parameters after 4 and 8 Adam steps identical here (0 difference); "
        "Adam's update is a ratio of moments and clipping is continuous, so a last-bit difference of "
        "another machine's kernels stays near 1e-6 relative: 1e-4 relative + 1e-6 absolute. A summed "
        "loss, no clipping, the shifted decoder inputs as labels, a new Adam every epoch, no reseed or "
        "a ratio per epoch move the parameters by 6,000 to 235,000 times that",
    hint="one Adam trainer and one random.Random(0) for the whole run; train_iter.reseed(epoch) before "
         "each epoch; ratio 1 - step / (total_steps - 1) at every minibatch (step counted over all "
         "epochs); s2s.forward_teacher_forcing on s2s.shift_right(Y, bos); the loss against Y summed "
         "and divided by Y_valid_len.sum(); backward(); grad_clipping(net, clip_theta); trainer.step(1)")
def probe_train_scheduled(fn, seed: int) -> list:
    """Parameters of tiny seeded encoder-decoders after the student's loop trained them for a few minibatches.

    14 seeded pairs (sources of 2 or 3 letters, targets of 1 to 4, padded within a minibatch) in a
    ``BucketLoader`` of minibatches of 4: 4 minibatches an epoch, in an order set by
    ``train_iter.reseed(epoch)``. A two-layer LSTM encoder-decoder (embeddings 4, 6 hidden units)
    with every weight drawn from a seeded NumPy generator; one run of 1 epoch (4 Adam steps, ratios
    1, 2/3, 1/3, 0) at a clipping norm above every step's gradient norm (0.37-0.49 < 0.5: the
    loss's scale shows), and one of 2 epochs (8 steps) at a norm below every step's (0.41-0.91 >
    0.3: the clipping shows). Every step's update shows in the parameters: the loss (summed over
    the valid tokens and divided by their number: a sum alone or a mean over sentences is clipped
    where the mean per token is not), the labels (Y against the logits, not the shifted decoder
    inputs), the ratio of every minibatch and its coins (one random.Random(0) before training), the
    order of the minibatches, the clipping, one Adam for the whole run.
    """
    from seqmx import seq2seq as s2s
    np, _ = mx_npx()
    rng = onp.random.default_rng(seed)
    source, target = _tiny_pairs(rng, 14)
    src_vocab, tgt_vocab = s2s.make_vocab(source, min_freq=1), s2s.make_vocab(target, min_freq=1)
    out = []
    for i, (lr, theta, num_epochs) in enumerate(((0.05, 0.5, 1), (0.02, 0.3, 2))):
        net = s2s.make_seq2seq(len(src_vocab), len(tgt_vocab), 4, 6, num_layers=2)
        net(np.zeros((1, 2)), np.zeros((1, 1)))  # materialise the deferred parameter shapes
        for param in net.collect_params().values():  # registration order: fixed for this architecture
            param.set_data(np.array(rng.normal(scale=0.5, size=param.shape), dtype="float32"))
        train_iter = s2s.BucketLoader(source, target, src_vocab, tgt_vocab, batch_size=4, seed=seed + i)
        fn(net, train_iter, tgt_vocab["<bos>"], lr, theta, num_epochs)
        out.append([_plain(p.data()) for p in net.collect_params().values()])
    return out


# --- part 6 ------------------------------------------------------------------------------

@CHECKS.add(
    "beam_search.random", seed=1105, rtol=1e-4, atol=1e-4, why=SCORES_WHY,
    hint="rank the candidates of all live hypotheses by their TOTAL log-probability and keep the "
         "beam_size best; a candidate ending in <eos> is finished (and no longer expanded); return the "
         "best of the finished and the live hypotheses when none is live or after max_len steps")
def probe_beam_search(fn, seed: int) -> list:
    np, _ = mx_npx()
    out = []
    for i, case in enumerate(_net_cases(seed, 16)):
        X = case["X"][:1]  # one source sentence, (1, src_len)
        max_len = (3, 5, 6, 8)[i % 4]
        row = []
        for beam_size in (1, 2, 3):
            tokens, score = fn(case["net"], X, BOS, EOS, beam_size, max_len)
            row.append({"tokens": [int(t) for t in tokens], "score": float(score)})
        out.append(row)
    return out
