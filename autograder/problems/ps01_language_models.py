"""Hidden checks of problem set 1, "Language models and n-grams".

Each probe feeds the student's answer fixed and seeded random inputs and
returns plain values; ``python -m autograder calibrate`` records what the
reference solution returns. Seeds are fixed here, so the inputs are the same
for the reference and for every student.
"""
from __future__ import annotations

import random

from autograder.checks import ProblemChecks

# why 1e-9: a correct answer does the same arithmetic, perhaps summing in another order
SAME_ARITHMETIC = "the same arithmetic up to summation order: 1e-9 relative"

CHECKS = ProblemChecks()


def _random_corpora(seed: int, count: int = 12) -> list[list[str]]:
    """Token lists of 1..60 tokens over small alphabets, so that n-grams repeat."""
    rng = random.Random(seed)
    corpora = []
    for _ in range(count):
        alphabet = "abcdefghij"[: rng.randint(1, 10)]
        corpora.append([rng.choice(alphabet) for _ in range(rng.randint(2, 60))])
    return corpora


@CHECKS.add(
    "distinct_ngram_counts.random", seed=101,
    hint="count each distinct k-gram once, for every k from 1 to n, on overlapping windows")
def probe_distinct_ngram_counts(fn, seed: int) -> list:
    return [list(map(int, fn(tokens, n)))
            for tokens in _random_corpora(seed) for n in (1, 2, 4)]


CHECKS.value(
    "storage_4gram", int,
    hint="sum the distinct 1-, 2-, 3- and 4-grams of the first 100,000 PTB training words")


def _probe_bigram_model(build, seed: int, params: tuple) -> list:
    """Every (prev, word) probability of models built on random corpora."""
    out = []
    for tokens, p in zip(_random_corpora(seed, 8), params * 8):
        prob = build(tokens, p)
        vocab = sorted(set(tokens))
        out.append([[float(prob(w, prev)) for w in vocab] for prev in vocab])
    return out


@CHECKS.add(
    "add_k_bigram.random", seed=102, rtol=1e-9,
    why=SAME_ARITHMETIC,
    hint="(c(prev, word) + k) / (c(prev) + k * V), with c(prev) the number of bigrams starting with prev")
def probe_add_k_bigram(build, seed: int) -> list:
    return _probe_bigram_model(build, seed, (1.0, 0.5, 0.01, 2.0))


@CHECKS.add(
    "perplexity.random", seed=103, rtol=1e-9,
    why=SAME_ARITHMETIC,
    hint="average the negative log-probability over the len(tokens) - 1 predictions, then exponentiate")
def probe_perplexity(fn, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for tokens in _random_corpora(seed, 6):
        table = {}  # a fixed random conditional table, normalised per previous token
        vocab = sorted(set(tokens))
        for prev in vocab:
            weights = [rng.random() + 0.01 for _ in vocab]
            table[prev] = {w: x / sum(weights) for w, x in zip(vocab, weights)}
        out.append(float(fn(lambda w, prev, t=table: t[prev][w], tokens)))
    return out


CHECKS.value(
    "best_k", float,
    hint="pick the k of K_GRID with the lowest validation perplexity")


CHECKS.value(
    "valid_ppl", float, rtol=1e-6,
    why="deterministic, but a sum over 3,200 log-probabilities may be ordered differently: 1e-6 relative",
    hint="the validation perplexity of the add-k bigram trained on train_tokens, at best_k")


@CHECKS.add(
    "absolute_discount_bigram.random", seed=104, rtol=1e-9,
    why=SAME_ARITHMETIC,
    hint="the discounted mass d * N1+(prev .) / c(prev) goes to the unigram distribution")
def probe_absolute_discount_bigram(build, seed: int) -> list:
    return _probe_bigram_model(build, seed, (0.75, 0.1, 0.5, 0.9))
