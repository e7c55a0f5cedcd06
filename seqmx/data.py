"""Corpora shipped in ``data/``: checksum-verified loading, tokenisation, splits.

Nothing here downloads. Every corpus file is listed with its SHA-1 in
``data/SHA1SUMS``; a missing or altered file raises :class:`CorpusError` with a
message that names the file and says how to restore it.
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import zipfile
from pathlib import Path

#: Where the corpora live: ``data/`` beside this package, or ``$SEQMX_DATA``.
DATA_DIR = Path(os.environ.get("SEQMX_DATA", Path(__file__).resolve().parent.parent / "data"))


class CorpusError(RuntimeError):
    """A corpus file is missing, unlisted or corrupt."""


def _expected_sha1(name: str, data_dir: Path) -> str:
    sums = data_dir / "SHA1SUMS"
    if not sums.is_file():
        raise CorpusError(f"{sums}: checksum list is missing; restore it with `git checkout data/SHA1SUMS`")
    for line in sums.read_text().splitlines():
        digest, _, fname = line.partition("  ")
        if fname.strip() == name:
            return digest.strip()
    raise CorpusError(f"{sums}: no checksum listed for {name!r}")


def corpus_path(name: str, data_dir: Path | None = None) -> Path:
    """Return the path of corpus file ``name`` after verifying its SHA-1.

    Taught in chapter "Language models and n-grams" (where the data comes from).
    """
    data_dir = Path(data_dir or DATA_DIR)
    path = data_dir / name
    expected = _expected_sha1(name, data_dir)
    if not path.is_file():
        raise CorpusError(f"{path}: corpus file is missing; restore it with `git checkout data/{name}`")
    actual = sha1_of(path)
    if actual != expected:
        raise CorpusError(
            f"{path}: corrupt corpus file (SHA-1 {actual}, expected {expected}); "
            f"restore it with `git checkout data/{name}`")
    return path


def sha1_of(path: Path) -> str:
    """The SHA-1 of a file, read in blocks (the corpora and the checkpoints are checked by it)."""
    sha1 = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha1.update(block)
    return sha1.hexdigest()


def read_time_machine(data_dir: Path | None = None) -> str:
    """The raw text of H. G. Wells' *The Time Machine* (d2l's copy, checksum verified)."""
    return corpus_path("timemachine.txt", data_dir).read_text(encoding="utf-8")


def tokenize_words(text: str) -> list[str]:
    """Lower-case word tokens, dropping everything but letters (d2l's preprocessing).

    Taught in chapter "Language models and n-grams".
    """
    return re.sub("[^A-Za-z]+", " ", text).lower().split()


def tokenize_chars(text: str) -> list[str]:
    """Character tokens after the same preprocessing as :func:`tokenize_words`."""
    return list(re.sub("[^A-Za-z]+", " ", text).lower())


def split_train_valid(tokens: list, valid_fraction: float = 0.1) -> tuple[list, list]:
    """Split a token sequence into a training head and a held-out tail.

    The tail (the end of the book) is never seen in training, so perplexity on
    it measures generalisation rather than memory. Taught in chapter
    "Language models and n-grams".
    """
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    cut = int(len(tokens) * (1 - valid_fraction))
    return tokens[:cut], tokens[cut:]


def read_ptb(split: str = "train", data_dir: Path | None = None) -> list[list[str]]:
    """Penn Treebank (Mikolov's language-modelling split) as a list of sentences.

    ``split`` is ``"train"``, ``"valid"`` or ``"test"``. Each sentence is a list
    of word tokens; the vocabulary is already capped at 10,000 words with
    ``<unk>`` for the rest, and numbers are replaced by ``N``.
    """
    if split not in ("train", "valid", "test"):
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
    path = corpus_path("ptb.zip", data_dir)
    with zipfile.ZipFile(path) as zf:
        text = zf.read(f"ptb/ptb.{split}.txt").decode("utf-8")
    return [line.split() for line in text.splitlines() if line.strip()]


# --- Minibatches of sequences: taught in chapter "Text data and minibatch sampling" ---

def seq_data_iter_random(corpus: list, batch_size: int, num_steps: int, rng: random.Random):
    """Random sampling: minibatches of subsequences taken from random places.

    A random offset in ``[0, num_steps)`` first shifts the partition, so that
    every epoch sees different subsequences; adjacent minibatches are not
    adjacent in the text, so the hidden state must be reset for each one.
    Yields ``(X, Y)`` as nested lists of shape (batch_size, num_steps), Y
    being X shifted by one token.
    """
    corpus = corpus[rng.randint(0, num_steps - 1):]
    num_subseqs = (len(corpus) - 1) // num_steps
    starts = list(range(0, num_subseqs * num_steps, num_steps))
    rng.shuffle(starts)
    for i in range(0, batch_size * (num_subseqs // batch_size), batch_size):
        batch = starts[i:i + batch_size]
        yield ([corpus[j:j + num_steps] for j in batch],
               [corpus[j + 1:j + 1 + num_steps] for j in batch])


def seq_data_iter_sequential(corpus: list, batch_size: int, num_steps: int, rng: random.Random | None = None):
    """Sequential partitioning: row i of each minibatch continues row i of the previous one.

    The corpus (shifted by a random offset when ``rng`` is given) is cut into
    ``batch_size`` equal streams; minibatch ``k`` takes steps ``k * num_steps``
    onwards of every stream, so the hidden state can be carried over. On
    ``range(30)`` with batch 2 and 6 steps this gives the notes' example
    (rows starting at 0 and 15).
    """
    offset = rng.randint(0, num_steps - 1) if rng is not None else 0
    stream_len = (len(corpus) - offset) // batch_size
    streams = [corpus[offset + r * stream_len: offset + (r + 1) * stream_len] for r in range(batch_size)]
    for k in range((stream_len - 1) // num_steps):
        i = k * num_steps
        yield [s[i:i + num_steps] for s in streams], [s[i + 1:i + 1 + num_steps] for s in streams]


def pad_batch(sentences: list[list], pad_id) -> tuple[list[list], list[list[int]]]:
    """Pad sentences to the longest one; return ``(padded, mask)``, both (batch, max_len).

    ``mask[i][t]`` is 1 where ``padded[i][t]`` is a real token and 0 where it
    is padding, so that a loss or a perplexity can ignore the padded
    positions. Taught in chapter "Text data and minibatch sampling".
    """
    max_len = max(len(s) for s in sentences)
    padded = [list(s) + [pad_id] * (max_len - len(s)) for s in sentences]
    mask = [[1] * len(s) + [0] * (max_len - len(s)) for s in sentences]
    return padded, mask


def sentence_batches(sentences: list[list], batch_size: int, pad_id, rng: random.Random | None = None,
                     sort_by_length: bool = False):
    """Minibatches of whole sentences, each padded to its longest sentence, with masks.

    Every sentence is used exactly once; the last minibatch holds the
    ``len(sentences) % batch_size`` sentences left over, if any. With
    ``sort_by_length`` false, sentences are batched in a random order (file
    order if ``rng`` is None). With ``sort_by_length`` true (*bucketing*),
    sentences of similar length are batched together, which cuts padding; ties
    are broken and the order of the minibatches shuffled by ``rng``, so that
    training does not see short sentences first. Yields ``(padded, mask)``
    from :func:`pad_batch`, nested lists of shape (batch, max_len). Taught in
    chapter "Text data and minibatch sampling".
    """
    order = list(range(len(sentences)))
    if rng is not None:
        rng.shuffle(order)
    if sort_by_length:
        order.sort(key=lambda i: len(sentences[i]))  # stable: equal lengths keep the shuffled order
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if sort_by_length and rng is not None:
        rng.shuffle(batches)
    for batch in batches:
        yield pad_batch([sentences[i] for i in batch], pad_id)


def padding_fraction(batches) -> float:
    """The fraction of positions in ``(padded, mask)`` minibatches that are padding (wasted work)."""
    real = total = 0
    for _, mask in batches:
        real += sum(map(sum, mask))
        total += sum(map(len, mask))
    return 1 - real / total


def read_tang_quatrains(data_dir: Path | None = None) -> list[str]:
    """13,741 Tang quatrains (simplified Chinese), one poem per string, e.g. '白日依山尽，黄河入海流。...'.

    Public domain; a stand-in for the notes' (copyrighted) pop lyrics. Used in
    chapter "RNN with Gluon" for character-level generation from a prefix.
    """
    text = corpus_path("tang_quatrains.txt", data_dir).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line]


def read_fra_eng(data_dir: Path | None = None) -> list[tuple[str, str]]:
    """English-French sentence pairs from Tatoeba (manythings.org), in file order.

    Returns ``[(english, french), ...]``, 167,130 pairs, raw text (not
    lower-cased or tokenised). Used in chapter "Encoder-decoder".
    """
    path = corpus_path("fra-eng.zip", data_dir)
    with zipfile.ZipFile(path) as zf:
        text = zf.read("fra-eng/fra.txt").decode("utf-8")
    pairs = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            pairs.append((parts[0], parts[1]))
    return pairs
