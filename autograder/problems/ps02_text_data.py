"""Hidden checks of problem set 2, "Text data and minibatch sampling".

Each probe feeds the student's answer fixed and seeded random inputs and
returns plain values; ``python -m autograder calibrate`` records what the
reference solution returns. Seeds are fixed here, so the inputs are the same
for the reference and for every student. The random inputs are built with
the library's own ``pad_batch`` where a probe needs padded minibatches, so a
student's answer is compared on exactly the batches the chapter describes.
"""
from __future__ import annotations

import math
import random

import numpy as np

from autograder.checks import ProblemChecks
from seqmx.data import pad_batch

CHECKS = ProblemChecks()


def _ints(rows) -> list:
    """A (rows, columns) nested sequence of integers (lists, tuples or arrays) as plain lists."""
    return [[int(t) for t in row] for row in rows]


# --- part 1: vocabulary ------------------------------------------------------------------------------

def _zipf_tokens(rng: random.Random, n: int, types: int) -> list[str]:
    """n tokens over `types` word types with Zipf-like frequencies, so that some are rare."""
    names = [f"w{k}" for k in range(types)]
    weights = [1 / (k + 1) for k in range(types)]
    return rng.choices(names, weights, k=n)


@CHECKS.add(
    "unk_count.random", seed=201,
    hint="a type is kept when it occurs at least min_freq times in train_tokens (d2l.Vocab's rule); "
         "count every validation token (with repeats) whose type is not kept")
def probe_unk_count(fn, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(10):
        types = rng.randint(2, 40)
        train = _zipf_tokens(rng, rng.randint(1, 200), types)
        valid = _zipf_tokens(rng, rng.randint(1, 80), types + rng.randint(0, 10))  # some never in train
        out.append([int(fn(train, valid, min_freq)) for min_freq in (0, 1, 2, 3, 5, 1000)])
    return out


CHECKS.value(
    "tm_min_freq", int,
    hint="the smallest min_freq >= 1 whose vocabulary of tm_train, <unk> included, has at most 1,000 entries")


CHECKS.value(
    "tm_unk", int,
    hint="unk_count(tm_train, tm_valid, tm_min_freq): validation tokens, not types")


# --- part 2: variable-length sequential partitioning --------------------------------------------------

def _batches(fn, corpus, batch_size, lengths, offset) -> list:
    return [[_ints(X), _ints(Y)] for X, Y in fn(corpus, batch_size, lengths, offset)]


#: Fixed cases (corpus, batch_size, lengths, offset): the notes' range(30), a last length that would
#: need one token past the end of the streams, offsets, one stream, and corpora too short for a minibatch.
FIXED_SAMPLER_CASES = [
    (list(range(30)), 2, [6, 6, 6], 0),
    (list(range(30)), 2, [6, 6, 3], 0),    # 12 + 3 = 15 = stream_len: the label of step 15 is missing
    (list(range(30)), 2, [6, 6, 2], 0),    # ... while 12 + 2 + 1 = 15 fits exactly
    (list(range(30)), 2, [4, 7, 3, 9], 3),
    (list(range(30)), 3, [2, 5, 1, 1, 1], 1),
    (list(range(100, 117)), 1, [5, 5, 5, 5], 0),
    (list(range(10)), 4, [1, 1], 2),       # streams of 2 tokens: one step
    (list(range(7)), 4, [1], 0),           # streams of 1 token: nothing to predict
    (list(range(30)), 2, [], 0),           # no lengths, no minibatch
]


@CHECKS.add(
    "seq_data_iter_variable.fixed",
    hint="streams of (len(corpus) - offset) // batch_size tokens after dropping offset tokens; stop at "
         "the first length n with i + n + 1 > stream_len (a row needs n inputs and one more label)")
def probe_sampler_fixed(fn) -> list:
    return [_batches(fn, *case) for case in FIXED_SAMPLER_CASES]


@CHECKS.add(
    "seq_data_iter_variable.random", seed=202,
    hint="minibatch k starts where minibatch k-1 ended (i += n), in every stream; Y is X shifted by one")
def probe_sampler_random(fn, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(40):
        corpus = [rng.randint(0, 50) for _ in range(rng.randint(1, 200))]
        batch_size = rng.randint(1, 5)
        lengths = [rng.randint(1, 12) for _ in range(rng.randint(1, 12))]
        offset = rng.randint(0, min(5, len(corpus) - 1))
        out.append(_batches(fn, corpus, batch_size, lengths, offset))
    return out


# --- part 3: masked perplexity ------------------------------------------------------------------------

@CHECKS.add(
    "masked_perplexity.random", seed=203, rtol=1e-9,
    why="the same arithmetic up to summation order: 1e-9 relative",
    hint="predict padded[:, t] from padded[:, t - 1]; count a prediction only where its TARGET is a "
         "real token (mask[:, 1:]), and average over all minibatches' real predictions together")
def probe_masked_perplexity(fn, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(12):
        V = rng.randint(2, 8)
        weights = [[rng.random() + 0.05 for _ in range(V)] for _ in range(V)]
        log_p = np.log(np.array([[w / sum(row) for w in row] for row in weights]))  # (V, V), rows sum to 1
        sentences = [[rng.randrange(V) for _ in range(rng.randint(1, 12))] for _ in range(rng.randint(1, 20))]
        sentences.append([rng.randrange(V) for _ in range(rng.randint(2, 12))])  # at least one prediction
        rng.shuffle(sentences)
        batch_size = rng.randint(1, 6)
        pad_id = rng.randrange(V)  # padding is a real index: its log-probabilities are finite, only the mask tells
        batches = [pad_batch(sentences[i:i + batch_size], pad_id) for i in range(0, len(sentences), batch_size)]
        out.append(float(fn(batches, log_p)))
    return out


# --- part 4: token-budget batches ---------------------------------------------------------------------

@CHECKS.add(
    "budget_batches.random", seed=204,
    hint="sort by length (stable: ties keep corpus order), then fill each minibatch greedily while "
         "(sentences + 1) * longest <= max_tokens; a sentence longer than the budget gets a minibatch alone")
def probe_budget_batches(fn, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(30):
        sentences = [[rng.randint(1, 9) for _ in range(rng.randint(1, 15))] for _ in range(rng.randint(1, 40))]
        max_tokens = rng.choice([1, 5, 8, 12, 20, 30, 37, 64, 1000])  # 1 and 5: some sentences exceed it
        out.append([[_ints(padded), _ints(mask)] for padded, mask in fn(sentences, max_tokens, 0)])
    return out


CHECKS.value(
    "ptb_budget_padding", float, rtol=1e-9,
    why="a ratio of two integers, computed in another order at most: 1e-9 relative",
    hint="padding_fraction of budget_batches(ptb_sentences, 32 * 35, '<pad>')")
