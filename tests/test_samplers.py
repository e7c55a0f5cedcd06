"""Minibatch samplers (chapter "Text data and minibatch sampling"): the notes' example, seeded
random sampling, sentence batches with padding and masks, and the Time Machine loader."""
import random

import pytest

from seqmx import data
from seqmx.worked import NOTE_001_RANDOM, NOTE_001_SEQUENTIAL


def random_epoch_violations(epoch, corpus, batch_size, num_steps):
    """Why ``epoch`` is not a valid random-sampling epoch of ``corpus`` (empty list if it is).

    Derived from the definition, not from the implementation: a common offset o in
    [0, num_steps) shifts a partition into subsequences of num_steps tokens; every one of the
    (len - o - 1) // num_steps subsequences is used at most once, all full minibatches are
    served, Y is X shifted by one token.
    """
    problems = []
    starts = [corpus.index(row[0]) for X, _ in epoch for row in X]
    offsets = {s % num_steps for s in starts}
    if len(offsets) != 1:
        problems.append(f"subsequences start at different offsets {sorted(offsets)}")
    offset = min(offsets) if offsets else 0
    num_subseqs = (len(corpus) - offset - 1) // num_steps
    if len(epoch) != num_subseqs // batch_size:
        problems.append(f"{len(epoch)} minibatches, expected {num_subseqs // batch_size}")
    if len(set(starts)) != len(starts):
        problems.append("a subsequence repeats within the epoch")
    if any(s + num_steps >= len(corpus) for s in starts):
        problems.append("a subsequence has no label for its last token")
    for X, Y in epoch:
        if len(X) != batch_size or any(len(r) != num_steps for r in X):
            problems.append(f"minibatch shape is not ({batch_size}, {num_steps})")
        for x, y in zip(X, Y):
            s = corpus.index(x[0])
            if x != corpus[s:s + num_steps] or y != corpus[s + 1:s + 1 + num_steps]:
                problems.append(f"row starting at {s} is not X = corpus[s:s+n], Y = corpus[s+1:s+1+n]")
    return problems


# --- sequential partitioning ---------------------------------------------------------------

def test_sequential_partitioning_reproduces_the_notes_on_range_30():
    got = list(data.seq_data_iter_sequential(list(range(30)), batch_size=2, num_steps=6))
    assert got == NOTE_001_SEQUENTIAL, f"expected the notes' rows starting 0/15 then 6/21, got {got}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sequential_rows_continue_the_previous_minibatch(seed):
    corpus, batch_size, num_steps = list(range(1000)), 4, 7
    batches = list(data.seq_data_iter_sequential(corpus, batch_size, num_steps, random.Random(seed)))
    assert len(batches) > 10
    for (X, Y), (X_next, _) in zip(batches, batches[1:]):
        for i in range(batch_size):
            assert X_next[i][0] == Y[i][-1] == X[i][-1] + 1, "row i must continue row i"
    for X, Y in batches:
        assert all(y == [t + 1 for t in x] for x, y in zip(X, Y))


# --- random sampling -------------------------------------------------------------------------

def test_structure_checker_accepts_the_notes_random_draw_and_rejects_a_broken_one():
    corpus = list(range(30))
    assert random_epoch_violations(NOTE_001_RANDOM, corpus, 2, 6) == []
    broken = [NOTE_001_RANDOM[0], NOTE_001_RANDOM[0]]  # the same minibatch twice
    assert random_epoch_violations(broken, corpus, 2, 6)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("corpus_len,batch_size,num_steps", [(30, 2, 6), (1000, 4, 7), (101, 3, 5)])
def test_random_sampling_epochs_have_the_defined_structure(seed, corpus_len, batch_size, num_steps):
    corpus = list(range(corpus_len))
    epoch = list(data.seq_data_iter_random(corpus, batch_size, num_steps, random.Random(seed)))
    assert random_epoch_violations(epoch, corpus, batch_size, num_steps) == []


def test_random_sampling_on_range_30_follows_the_seeded_draws():
    """The documented algorithm, replayed by hand: one offset draw, then one shuffle of the starts."""
    for seed in range(10):
        replay = random.Random(seed)
        offset = replay.randint(0, 5)
        starts = list(range(0, 4 * 6, 6))  # (30 - offset - 1) // 6 == 4 subsequences for every offset
        replay.shuffle(starts)
        expected = [([list(range(offset + s, offset + s + 6)) for s in starts[i:i + 2]],
                     [list(range(offset + s + 1, offset + s + 7)) for s in starts[i:i + 2]])
                    for i in (0, 2)]
        got = list(data.seq_data_iter_random(list(range(30)), 2, 6, random.Random(seed)))
        assert got == expected, f"seed {seed}"


def test_same_seed_gives_the_same_batches_and_seeds_differ():
    corpus = list(range(500))
    draws = [list(data.seq_data_iter_random(corpus, 4, 5, random.Random(seed))) for seed in (3, 3, 4)]
    assert draws[0] == draws[1]
    assert draws[0] != draws[2]


def test_random_sampling_over_many_seeds_gives_at_most_144_epochs_on_range_30():
    # 6 offsets x 4! orders of the 4 subsequences; the notes' (offset 0) draw is one of them
    epochs = {str(list(data.seq_data_iter_random(list(range(30)), 2, 6, random.Random(s)))) for s in range(1000)}
    assert 100 < len(epochs) <= 144
    assert str(NOTE_001_RANDOM) in epochs


# --- sentence batches ------------------------------------------------------------------------

def test_pad_batch_pads_to_the_longest_and_masks_the_padding():
    padded, mask = data.pad_batch([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert padded == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]


SENTENCES = [[i] * n for i, n in enumerate([3, 1, 7, 2, 2, 5, 9, 1, 4, 6, 3], start=1)]


@pytest.mark.parametrize("sort_by_length", [False, True])
@pytest.mark.parametrize("rng_seed", [None, 0, 1])
def test_sentence_batches_use_every_sentence_once_with_correct_padding(sort_by_length, rng_seed):
    rng = None if rng_seed is None else random.Random(rng_seed)
    batches = list(data.sentence_batches(SENTENCES, 4, pad_id=-1, rng=rng, sort_by_length=sort_by_length))
    assert [len(p) for p, _ in batches if len(p) != 4] in ([], [3]), "all full but possibly one"
    recovered = []
    for padded, mask in batches:
        width = max(sum(m) for m in mask)
        for row, m in zip(padded, mask):
            n = sum(m)
            assert len(row) == len(m) == width, "rows padded to the longest sentence of the batch"
            assert m == [1] * n + [0] * (width - n)
            assert row[n:] == [-1] * (width - n)
            recovered.append(row[:n])
    assert sorted(recovered) == sorted(SENTENCES)


def test_sentence_batches_without_rng_keep_file_order():
    batches = list(data.sentence_batches(SENTENCES, 4, pad_id=0))
    firsts = [row[0] for padded, _ in batches for row in padded]
    assert firsts == list(range(1, len(SENTENCES) + 1))


def test_bucketing_groups_similar_lengths_and_cuts_padding():
    rng = random.Random(0)
    sentences = [[1] * rng.randint(1, 60) for _ in range(2000)]
    bucketed = list(data.sentence_batches(sentences, 32, 0, random.Random(1), sort_by_length=True))
    shuffled = list(data.sentence_batches(sentences, 32, 0, random.Random(1), sort_by_length=False))
    # sorted batches cover disjoint, increasing length ranges
    ranges = sorted((min(map(sum, m)), max(map(sum, m))) for _, m in bucketed)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(ranges, ranges[1:]))
    assert data.padding_fraction(bucketed) < 0.05 < 0.3 < data.padding_fraction(shuffled)


def test_sentence_batches_are_reproducible_with_a_seed():
    def draw(seed):
        return list(data.sentence_batches(SENTENCES, 3, 0, random.Random(seed), sort_by_length=True))
    assert draw(5) == draw(5)


def test_padding_fraction_counts_masked_positions():
    batches = [data.pad_batch([[1, 2, 3], [4]], 0), data.pad_batch([[5, 6]], 0)]
    assert data.padding_fraction(batches) == pytest.approx(2 / 8)  # 2 pads among 6 + 2 positions


# --- the Time Machine loader -------------------------------------------------------------------

def test_seq_data_loader_shapes_and_shifted_labels():
    from seqmx.rnn import load_data_time_machine
    batch_size, num_steps = 4, 10
    train_iter, valid_iter, vocab = load_data_time_machine(batch_size, num_steps, seed=0)
    assert len(vocab) == 28
    for it in (train_iter, valid_iter):
        batches = list(it)
        assert batches
        for X, Y in batches:
            assert X.shape == Y.shape == (batch_size, num_steps)
            assert (X[:, 1:] == Y[:, :-1]).all(), "Y is X shifted by one token"
    # validation: sequential partitioning without offset, the same tokens on every pass
    n_valid = len(data.split_train_valid(data.tokenize_chars(data.read_time_machine()))[1])
    expected = batch_size * num_steps * ((n_valid // batch_size - 1) // num_steps)
    assert valid_iter.num_tokens() == valid_iter.num_tokens() == expected


def test_seq_data_loader_with_random_sampling_is_reproducible_per_seed():
    from seqmx.rnn import SeqDataLoader
    corpus = list(range(400))
    a, b = (SeqDataLoader(corpus, 3, 8, use_random_iter=True, seed=7) for _ in range(2))
    first_a, first_b = [X.asnumpy().tolist() for X, _ in a], [X.asnumpy().tolist() for X, _ in b]
    assert first_a == first_b
    assert [X.asnumpy().tolist() for X, _ in a] != first_a, "a new pass draws new minibatches"
