"""data/checkpoints/: every checkpoint is checksummed, loads, and scores the held-out perplexity its provenance records.

Tolerance: rtol 1e-4 on perplexities. MXNet on CPU is deterministic for one build, but float32
matrix products are summed in an order that depends on the BLAS kernel (OpenBLAS picks one per
CPU family, OPENBLAS_CORETYPE overrides it), so another machine can differ in the last bits of
every logit: about 1e-6 relative in a perplexity, measured at most a few 1e-6 here. Any change
to the parameters, the data, the vocabulary or the evaluation moves a perplexity by far more
(test_a_perturbed_model_misses_its_recorded_perplexity).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqmx import checkpoints

REPO = Path(__file__).resolve().parents[1]
RTOL = 1e-4
PRESENT = checkpoints.available()
REQUIRED_FIELDS = {"name", "script", "command", "seed", "epochs", "cpu_seconds", "wall_seconds", "versions",
                   "hyperparameters", "perplexity", "vocab_size", "history", "git_commit", "trained_at"}


def test_the_character_level_checkpoints_are_shipped():
    """Chapter "Comparing recurrent models" loads them."""
    missing = [n for n in ("tm-rnn", "tm-gru", "tm-lstm", "tm-lstm2") if n not in PRESENT]
    assert not missing, f"data/checkpoints/ lacks {missing}; `make checkpoints` trains them"


@pytest.mark.parametrize("name, chapter", [("tang", "rnn-concise"), ("seq2seq", "seq2seq")])
def test_the_chapters_checkpoints_are_shipped(name, chapter):
    """Chapters "RNN with Gluon" (the Tang quatrains) and "Encoder-decoder" (translation) load them."""
    assert f'checkpoints.load("{name}")' in (REPO / "chapters" / f"{chapter}.md").read_text()
    assert name in PRESENT, f"data/checkpoints/ lacks {name}; `make checkpoints` trains it"


@pytest.mark.skipif("seq2seq" not in PRESENT, reason="no seq2seq checkpoint")
def test_the_seq2seq_checkpoint_translates_as_its_provenance_records():
    """Greedy decoding of the held-out pairs gives the recorded BLEU and exact-match rate, and beam search
    with a beam of one is greedy decoding."""
    from seqmx import seq2seq as s2s
    net, prov = checkpoints.load("seq2seq")
    nmt, _ = checkpoints.nmt_data(checkpoints.MODELS["seq2seq"])
    rows = s2s.evaluate_bleu(net, *nmt.heldout, nmt.src_vocab, nmt.tgt_vocab, num_steps=10)
    assert len(rows) == prov["pairs"]["heldout"]
    got = {"bleu_d2l_k2": sum(r["bleu"] for r in rows) / len(rows),
           "exact_match": sum(r["prediction"] == r["reference"] for r in rows) / len(rows)}
    assert got == pytest.approx(prov["heldout_greedy"], rel=RTOL)
    sources = [r["source"] for r in rows]
    beam1 = s2s.beam_search_seq2seq(net, sources, nmt.src_vocab, nmt.tgt_vocab, 10, beam_size=1)
    assert beam1 == [r["prediction"] for r in rows]


@pytest.mark.parametrize("name", PRESENT)
def test_a_checkpoint_scores_the_perplexity_its_provenance_records(name):
    """Load (checksums verified), recompute the held-out perplexities, compare with the provenance."""
    net, prov = checkpoints.load(name)
    recomputed = checkpoints.evaluate(name, net, prov)
    expected = {split: prov["perplexity"][split] for split in recomputed}
    assert recomputed == pytest.approx(expected, rel=RTOL), (
        f"{name}: recomputed {recomputed}, provenance {expected} (rtol {RTOL})")


@pytest.mark.parametrize("name", PRESENT)
def test_a_checkpoint_has_its_provenance_and_stays_small(name):
    prov = json.loads((checkpoints.CHECKPOINT_DIR / f"{name}.json").read_text())
    missing = REQUIRED_FIELDS - prov.keys()
    assert not missing, f"{name}.json lacks {sorted(missing)}"
    assert set(prov["versions"]) == {"python", "mxnet", "numpy", "d2l"}
    assert prov["shortened"] is None and prov["eval_tokens"] is None, f"{name} was trained by a shortened run"
    size = (checkpoints.CHECKPOINT_DIR / f"{name}.params").stat().st_size
    assert size == prov["params_bytes"] and size < 20e6, f"{name}.params is {size:,} bytes"
    if name == "ptb-lstm":
        assert prov["perplexity"]["test"] <= 114.5, "the PTB LSTM must reach Zaremba et al.'s 114.5"
    else:  # the character-level models are trained until validation perplexity stops improving
        assert prov["converged"], f"{name} stopped by {prov['stopped']}, not by the convergence criterion"
        best = min(row["valid"] for row in prov["history"])
        assert prov["perplexity"]["valid"] == best, f"{name}: the kept epoch is not the best validation epoch"


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    """Every model trained for two minibatches of one epoch by the script, into a temporary directory."""
    out = tmp_path_factory.mktemp("smoke")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MXNET_ENGINE_TYPE": "NaiveEngine"}
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "train_checkpoints.py"), "--out", str(out),
                           "--max-batches", "2", "--max-epochs", "1", "--eval-tokens", "5000"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_script_trains_every_model_with_provenance(smoke_dir):
    for name in checkpoints.MODELS:
        prov = json.loads((smoke_dir / f"{name}.json").read_text())
        assert REQUIRED_FIELDS <= prov.keys(), f"{name}.json lacks {sorted(REQUIRED_FIELDS - prov.keys())}"
        assert prov["shortened"] == {"max_batches": 2, "max_epochs": 1} and prov["epochs"] == 1
        assert prov["command"].endswith("--max-batches 2 --max-epochs 1 --eval-tokens 5000")
        assert prov["history"][0]["train"] < 1.1 * prov["vocab_size"]  # two SGD steps: not worse than uniform
    assert checkpoints.available(smoke_dir) == list(checkpoints.MODELS)


@pytest.mark.parametrize("name", list(checkpoints.MODELS))
def test_a_smoke_checkpoint_reloads_to_its_recorded_perplexity(smoke_dir, name):
    net, prov = checkpoints.load(name, smoke_dir)
    assert checkpoints.evaluate(name, net, prov) == pytest.approx(
        {s: prov["perplexity"][s] for s in ("valid", "test") if s in prov["perplexity"]}, rel=RTOL)


def test_a_perturbed_model_misses_its_recorded_perplexity(smoke_dir):
    """The comparison above can fail: 5% noise on the output layer moves the perplexity past the tolerance."""
    import mxnet as mx
    from mxnet import np
    net, prov = checkpoints.load("tm-lstm", smoke_dir)
    mx.random.seed(0)
    weight = net.dense.weight
    weight.set_data(weight.data() * (1 + 0.05 * np.random.normal(size=weight.shape)))
    got = checkpoints.evaluate("tm-lstm", net, prov)["valid"]
    assert got != pytest.approx(prov["perplexity"]["valid"], rel=RTOL)


def test_a_corrupted_checkpoint_fails_its_checksum(smoke_dir, tmp_path):
    out = tmp_path / "bad"
    shutil.copytree(smoke_dir, out)
    params = out / "tm-rnn.params"
    blob = bytearray(params.read_bytes())
    blob[-1] ^= 0x01  # one bit of the last parameter
    params.write_bytes(bytes(blob))
    with pytest.raises(checkpoints.CheckpointError, match="corrupt checkpoint"):
        checkpoints.load("tm-rnn", out)
    checkpoints.load("tm-gru", out)  # the others still load


def test_an_edited_provenance_fails_its_checksum(smoke_dir, tmp_path):
    out = tmp_path / "edited"
    shutil.copytree(smoke_dir, out)
    meta = out / "tm-gru.json"
    prov = json.loads(meta.read_text())
    prov["perplexity"]["valid"] *= 0.5
    meta.write_text(json.dumps(prov))
    with pytest.raises(checkpoints.CheckpointError, match="tm-gru.json"):
        checkpoints.load("tm-gru", out)


def test_a_missing_or_unlisted_checkpoint_says_how_to_restore_it(smoke_dir, tmp_path):
    out = tmp_path / "partial"
    shutil.copytree(smoke_dir, out)
    (out / "tm-lstm.params").unlink()
    with pytest.raises(checkpoints.CheckpointError, match="missing.*make checkpoints"):
        checkpoints.load("tm-lstm", out)
    sums = out / "SHA1SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "tm-lstm2" not in line))
    with pytest.raises(checkpoints.CheckpointError, match="no checksum listed"):
        checkpoints.load("tm-lstm2", out)
    assert "tm-lstm2" not in checkpoints.available(out)
