"""Corpora load only when their checksum matches, and say which file is wrong otherwise."""
import shutil

import pytest

from seqmx import data


def test_shipped_corpora_pass_their_checksums():
    assert data.corpus_path("timemachine.txt").stat().st_size == 178979
    assert data.corpus_path("ptb.zip").stat().st_size == 1981551


def test_missing_corpus_names_the_file(tmp_path):
    shutil.copy(data.DATA_DIR / "SHA1SUMS", tmp_path)
    with pytest.raises(data.CorpusError, match=r"timemachine\.txt: corpus file is missing"):
        data.read_time_machine(tmp_path)


def test_corrupt_corpus_names_the_file_and_both_checksums(tmp_path):
    shutil.copy(data.DATA_DIR / "SHA1SUMS", tmp_path)
    (tmp_path / "timemachine.txt").write_text("not the novel")
    with pytest.raises(data.CorpusError, match=r"timemachine\.txt: corrupt corpus file \(SHA-1 [0-9a-f]{40}, expected 090b5e7e"):
        data.read_time_machine(tmp_path)


def test_unlisted_corpus_is_refused(tmp_path):
    (tmp_path / "SHA1SUMS").write_text("")
    (tmp_path / "extra.txt").write_text("x")
    with pytest.raises(data.CorpusError, match="no checksum listed for 'extra.txt'"):
        data.corpus_path("extra.txt", tmp_path)


def test_time_machine_word_tokens_are_lowercase_letters():
    tokens = data.tokenize_words(data.read_time_machine())
    assert tokens[:6] == ["the", "time", "machine", "by", "h", "g"]
    assert all(t.isalpha() and t.islower() for t in tokens)


def test_split_keeps_order_and_every_token():
    train, valid = data.split_train_valid(list(range(100)), 0.2)
    assert train == list(range(80)) and valid == list(range(80, 100))
    with pytest.raises(ValueError):
        data.split_train_valid([1, 2], 1.5)


def test_ptb_splits_have_the_published_sizes():
    # Mikolov's split: 887,521 / 70,390 / 78,669 words (without sentence ends)
    sizes = {s: sum(map(len, data.read_ptb(s))) for s in ("train", "valid", "test")}
    assert sizes == {"train": 887521, "valid": 70390, "test": 78669}
    with pytest.raises(ValueError, match="split must be"):
        data.read_ptb("dev")
