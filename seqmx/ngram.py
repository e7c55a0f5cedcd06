"""n-gram language models: counting, MLE, Laplace and interpolated Kneser-Ney.

Taught in chapter "Language models and n-grams" (notes 001 §6.1). The
Kneser-Ney model is the interpolated, *modified* variant of Chen and Goodman
(1998), with three discounts per order estimated from counts of counts; that is
the model behind the PTB baseline of 141.2 (Mikolov et al., 2011).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable, Sequence

BOS, EOS = "<s>", "</s>"

Ngram = tuple


def count_ngrams(tokens: Sequence, n: int) -> Counter:
    """Count every (overlapping) run of ``n`` consecutive tokens.

    >>> count_ngrams(["a", "b", "a", "b"], 2)
    Counter({('a', 'b'): 2, ('b', 'a'): 1})
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return Counter(zip(*(tokens[i:] for i in range(n))))


def num_stored_counts(tokens: Sequence, n: int) -> int:
    """How many counts an order-``n`` model stores: distinct k-grams for k = 1..n.

    The notes count *positions* (T + (T-1) + (T-2) + (T-3) for a 4-gram model);
    a model stores one count per *distinct* n-gram, which is far fewer, because
    frequent words and phrases repeat.
    """
    return sum(len(count_ngrams(tokens, k)) for k in range(1, n + 1))


def pad(sentence: Sequence[str]) -> list[str]:
    """A sentence with its boundary markers: one ``<s>`` before, ``</s>`` after."""
    return [BOS, *sentence, EOS]


def _discounts(counts: dict) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from counts of counts (Chen & Goodman, eq. 26)."""
    n = Counter(c for c in counts.values() if c <= 4)
    n1, n2, n3, n4 = (n[k] for k in (1, 2, 3, 4))
    y = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    if min(n1, n2, n3, n4) > 0:
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if all(0 < dk <= k for k, dk in enumerate(d, 1)):
            return d
    # too few rare n-grams to estimate three discounts (PTB's capped unigrams
    # give negative ones): one absolute discount, as in Ney et al. (1994)
    return (y, y, y)


class NGramLM:
    """An order-``order`` language model over padded sentences.

    ``smoothing`` is ``"mle"`` (relative frequencies; zero for anything
    unseen), ``"laplace"`` (add one to every count) or ``"kn"`` (interpolated
    modified Kneser-Ney). ``prob(word, context)`` is a distribution over
    :attr:`vocab` for every context; ``perplexity(sentences)`` predicts every
    word and every ``</s>`` of held-out sentences.
    """

    def __init__(self, sentences: Iterable[Sequence[str]], order: int, smoothing: str = "kn"):
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if smoothing not in ("mle", "laplace", "kn"):
            raise ValueError(f"smoothing must be 'mle', 'laplace' or 'kn', got {smoothing!r}")
        self.order, self.smoothing = order, smoothing
        # raw[k][(h..., w)]: how often the k-gram occurs in training (k = 1..order)
        raw = [Counter() for _ in range(order + 1)]
        for sentence in sentences:
            padded = pad(sentence)
            for k in range(1, order + 1):
                # k-grams may start at <s> but never predict it
                raw[k].update(zip(*(padded[i:] for i in range(k))))
        raw[1].pop((BOS,), None)
        #: the words a model predicts: every training word and </s>, never <s>
        self.vocab = sorted(w for (w,) in raw[1])
        self._raw = raw
        self._counts = self._kn_counts(raw) if smoothing == "kn" else raw
        # per history: total count and how many words follow it once, twice, 3+ times
        self._hist = [None] + [self._history_stats(self._counts[k]) for k in range(1, order + 1)]
        if smoothing == "kn":
            self.discounts = [None] + [_discounts(self._counts[k]) for k in range(1, order + 1)]

    @staticmethod
    def _kn_counts(raw: list) -> list:
        """Highest order keeps raw counts; lower orders count distinct left neighbours.

        A lower-order model is only consulted when the longer context says
        little, so what matters is in how many contexts a word appears, not how
        often (the "San Francisco" effect). n-grams that start with <s> have no
        left neighbour and keep their raw counts.
        """
        order = len(raw) - 1
        counts = [None] * (order + 1)
        counts[order] = raw[order]
        for k in range(order - 1, 0, -1):
            cont = Counter(g[1:] for g in raw[k + 1])
            for g, c in raw[k].items():
                if g[0] == BOS:
                    cont[g] = c
            cont.pop((BOS,), None)
            counts[k] = cont
        return counts

    @staticmethod
    def _history_stats(counts: dict) -> dict:
        stats: dict = defaultdict(lambda: [0, 0, 0, 0])
        for g, c in counts.items():
            s = stats[g[:-1]]
            s[0] += c
            s[min(c, 3)] += 1
        return dict(stats)

    def count(self, ngram: Ngram) -> int:
        """How often ``ngram`` occurs in the (padded) training sentences."""
        return self._raw[len(ngram)].get(tuple(ngram), 0)

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """P(word | the last ``order - 1`` tokens of ``context``)."""
        context = tuple(context)[max(0, len(context) - self.order + 1):] if self.order > 1 else ()
        if self.smoothing == "kn":
            return self._kn_prob(word, context)
        k = len(context) + 1
        c = self._counts[k].get(context + (word,), 0)
        total = self._hist[k].get(context, (0,))[0]
        if self.smoothing == "laplace":
            return (c + 1) / (total + len(self.vocab))
        return c / total if total else 0.0

    def _kn_prob(self, word: str, context: tuple) -> float:
        # interpolate from the unigram up: p_k = (max(c - D, 0) + gamma * p_{k-1}) / total
        total, n1, n2, n3 = self._hist[1][()]
        d1, d2, d3 = self.discounts[1]
        c = self._counts[1].get((word,), 0)
        p = (max(c - (d1, d2, d3)[min(c, 3) - 1], 0.0) if c else 0.0) / total
        p += (d1 * n1 + d2 * n2 + d3 * n3) / total / len(self.vocab)
        for k in range(2, len(context) + 2):
            h = context[len(context) - k + 1:]
            stats = self._hist[k].get(h)
            if stats is None:  # unseen history: the shorter context decides alone
                continue
            total, n1, n2, n3 = stats
            d1, d2, d3 = self.discounts[k]
            c = self._counts[k].get(h + (word,), 0)
            discounted = max(c - (d1, d2, d3)[min(c, 3) - 1], 0.0) if c else 0.0
            p = (discounted + (d1 * n1 + d2 * n2 + d3 * n3) * p) / total
        return p

    def log_prob(self, sentence: Sequence[str]) -> tuple[float, int]:
        """Natural-log probability of a sentence and its ``</s>``, and the number of predictions."""
        padded = pad(sentence)
        logp = 0.0
        for i in range(1, len(padded)):
            p = self.prob(padded[i], padded[max(0, i - self.order + 1):i])
            if p == 0.0:
                return -math.inf, len(padded) - 1
            logp += math.log(p)
        return logp, len(padded) - 1

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """exp of the average negative log-likelihood per prediction (inf if any is zero)."""
        total_logp, total_n = 0.0, 0
        for sentence in sentences:
            logp, n = self.log_prob(sentence)
            total_logp += logp
            total_n += n
        return math.exp(-total_logp / total_n) if math.isfinite(total_logp) else math.inf

    def num_counts(self) -> int:
        """How many n-gram counts the model stores (distinct k-grams, k = 1..order)."""
        return sum(len(self._raw[k]) for k in range(1, self.order + 1))
