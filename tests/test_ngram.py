"""n-gram models: exact counts on a tiny corpus, proper distributions, and the PTB baseline."""
import math
import random

import pytest

from seqmx.ngram import BOS, EOS, NGramLM, count_ngrams, num_stored_counts

TINY = [["a", "b", "a"], ["b", "a", "c"], ["a", "b"]]


def test_count_ngrams_counts_overlapping_runs():
    assert count_ngrams(list("abab"), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert count_ngrams(list("aaaa"), 3) == {("a", "a", "a"): 2}
    assert count_ngrams(list("ab"), 3) == {}
    with pytest.raises(ValueError):
        count_ngrams(["a"], 0)


def test_stored_counts_are_distinct_ngrams_not_positions():
    tokens = list("abababab")  # 8 positions: the notes would store 8 + 7 = 15 counts
    assert num_stored_counts(tokens, 2) == 2 + 2


def test_model_counts_include_sentence_boundaries():
    lm = NGramLM(TINY, 2, "mle")
    assert lm.count((BOS, "a")) == 2 and lm.count(("a", "b")) == 2 and lm.count(("a", EOS)) == 1
    assert lm.vocab == [EOS, "a", "b", "c"]


def test_mle_bigram_is_the_count_ratio():
    lm = NGramLM(TINY, 2, "mle")
    # c(a b) = 2 and "a" is followed by something 4 times (b, EOS, c, b)
    assert lm.prob("b", ["a"]) == pytest.approx(2 / 4)
    assert lm.prob("c", ["c"]) == 0.0  # "c" never starts a bigram but "c </s>"


def test_mle_uses_the_whole_context_when_shorter_than_the_order():
    # an order-4 model given a 2-word context is the trigram relative frequency
    lm = NGramLM(TINY, 4, "mle")
    assert lm.prob("a", [BOS, "b"]) == pytest.approx(1.0)
    assert lm.prob("c", ["b", "a"]) == pytest.approx(1 / 2)


def test_laplace_adds_one_to_every_count():
    lm = NGramLM(TINY, 2, "laplace")
    assert lm.prob("b", ["a"]) == pytest.approx((2 + 1) / (4 + 4))
    assert lm.prob("c", ["c"]) == pytest.approx(1 / 5)


@pytest.mark.parametrize("smoothing", ["laplace", "kn"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_over_the_vocabulary(smoothing, order):
    rng = random.Random(0)
    words = [rng.choice("abcdefgh") for _ in range(400)]
    sentences = [words[i:i + rng.randint(1, 12)] for i in range(0, 400, 7)]
    lm = NGramLM(sentences, order, smoothing)
    contexts = [(), ("a",), (BOS,), ("a", "b", "c"), ("z", "z"), (BOS, "h", "h")]
    for context in contexts:
        total = sum(lm.prob(w, context) for w in lm.vocab)
        assert total == pytest.approx(1.0, abs=1e-12), (context, total)


def test_kneser_ney_gives_unseen_bigrams_mass_by_continuation():
    # "francisco" is frequent but follows only "san": as a novel continuation it
    # must get less probability than "glasses", which follows many words
    sentences = [["san", "francisco"]] * 20 + [[w, "glasses"] for w in "abcdefgh"] + [["x", "y"]]
    lm = NGramLM(sentences, 2, "kn")
    assert lm.prob("glasses", ["x"]) > lm.prob("francisco", ["x"])


def test_perplexity_is_inf_for_mle_on_unseen_and_finite_when_smoothed():
    held_out = [["a", "c", "b"]]
    assert NGramLM(TINY, 2, "mle").perplexity(held_out) == math.inf
    assert math.isfinite(NGramLM(TINY, 2, "kn").perplexity(held_out))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    # order-1 Laplace with equal counts: every word (and </s>) is equally likely
    lm = NGramLM([["a", "b", "c"]], 1, "laplace")
    assert lm.perplexity([["c", "a", "b"]]) == pytest.approx(4.0)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="order"):
        NGramLM(TINY, 0)
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM(TINY, 2, "witten-bell")


@pytest.mark.slow
def test_kneser_ney_5gram_reaches_the_published_ptb_perplexity():
    from seqmx.data import read_ptb
    lm = NGramLM(read_ptb("train"), 5, "kn")
    # Mikolov et al. (2011): modified KN 5-gram, no cut-offs, 141.2 on test.
    # Our computation is exact float arithmetic on fixed data (no seeds); the
    # last digit is rounding.
    assert lm.perplexity(read_ptb("test")) <= 141.2
