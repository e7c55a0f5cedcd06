"""bench/model_speed.py: its FLOP count matches a hand count, and the PyTorch peer is the course's model.

"The same model" is checked by parameter counts at one small configuration:
the Gluon model (seqmx.rnn.RNNModel) and the PyTorch one have exactly as
many parameters (both keep an input and a recurrent bias per gate block);
the scratch models keep one bias per gate block, so they have G * H fewer.
The PyTorch part runs in the benchmark venv .venv-bench and is skipped when
that venv is missing.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("model_speed", REPO / "bench" / "model_speed.py")
model_speed = importlib.util.module_from_spec(spec)
sys.modules["model_speed"] = model_speed  # its dataclass looks its module up there
spec.loader.exec_module(model_speed)

VOCAB, HIDDENS = 7, 5


def test_flops_per_token_by_hand():
    # V = 3 (one-hot), H = 2. RNN forward: X W_xh 2*3*2 = 12, H W_hh 2*2*2 = 8, H W_hq 2*2*3 = 12 -> 32
    assert model_speed.train_flops_per_token("rnn", 3, 2) == 3 * 32
    # GRU: three blocks of X W (12) + H W (8) = 60, output 12 -> 72
    assert model_speed.train_flops_per_token("gru", 3, 2) == 3 * 72
    # LSTM: four blocks -> 80 + 12 = 92
    assert model_speed.train_flops_per_token("lstm", 3, 2) == 3 * 92
    # LSTM on an embedding of width 4: four blocks of 2*4*2 + 8 = 24 -> 96, output still 2*2*3 = 12
    assert model_speed.train_flops_per_token("lstm", 3, 2, num_inputs=4) == 3 * 108


def test_paired_ratio_compares_each_run_with_its_neighbour_not_medians_made_minutes_apart():
    # the machine slows down after the first repeat: both implementations lose half their speed
    course, torch = [90.0, 45.0, 45.0], [100.0, 100.0, 50.0]
    assert model_speed.paired_ratio(course, torch) == (0.9, 0.45, 0.9)  # ratios 0.9, 0.45, 0.9
    # the ratio of medians would say 0.45: the slow course runs against the fast torch ones
    assert model_speed.statistics.median(course) / model_speed.statistics.median(torch) == 0.45
    with pytest.raises(ValueError, match="2 course runs, 3 PyTorch runs"):
        model_speed.paired_ratio(course[:2], torch)


def test_course_models_have_the_d2l_parameter_counts():
    for cell, gates in model_speed.GATES.items():
        # G blocks of W_x (V x H), W_h (H x H), one bias (H); output W_hq (H x V), b_q (V)
        scratch = gates * (VOCAB * HIDDENS + HIDDENS * HIDDENS + HIDDENS) + HIDDENS * VOCAB + VOCAB
        assert model_speed.course_params(cell, "scratch", VOCAB, HIDDENS) == scratch
        assert model_speed.course_params(cell, "Gluon", VOCAB, HIDDENS) == scratch + gates * HIDDENS


def test_torch_model_has_the_course_models_parameters():
    python = model_speed.TORCH_PYTHON
    if not python.exists():
        pytest.skip(f"no benchmark venv: {model_speed.MAKE_VENV}")
    proc = subprocess.run([str(python), str(model_speed.TORCH_SCRIPT), "params", "--vocab-size", str(VOCAB),
                           "--num-hiddens", str(HIDDENS)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    torch_params = json.loads(proc.stdout)["parameters"]
    for cell in model_speed.GATES:
        assert torch_params[cell] == model_speed.course_params(cell, "Gluon", VOCAB, HIDDENS)


def test_flops_of_deep_and_bidirectional_layers_by_hand():
    # V = 3, H = 2, LSTM (G = 4). Layer 1: 4 blocks of 2*3*2 + 2*2*2 = 80; layer 2 reads H = 2: 4 * (8 + 8) = 64;
    # output 2*2*3 = 12 -> 156
    assert model_speed.train_flops_per_token("lstm", 3, 2, num_layers=2) == 3 * 156
    # bidirectional: two cells of 80, the output layer reads 2H = 4: 2*4*3 = 24 -> 184
    assert model_speed.train_flops_per_token("lstm", 3, 2, bidirectional=True) == 3 * 184


SMALL_VARIANTS = {  # the benchmark's variants at a size a test can build
    "lstm-deep": model_speed.Variant("lstm", num_layers=2, num_hiddens=HIDDENS),
    "lstm-bi": model_speed.Variant("lstm", bidirectional=True, num_hiddens=HIDDENS),
    "ptb-lstm": model_speed.Variant("lstm", corpus="ptb", num_layers=2, embed_size=HIDDENS, num_hiddens=HIDDENS,
                                    dropout=0.2, tied=True),
}


def test_torch_variants_have_the_course_models_parameters():
    """Deep, bidirectional and the tied PTB model: the same parameter count in Gluon and PyTorch."""
    assert set(SMALL_VARIANTS) == set(model_speed.VARIANTS)
    python = model_speed.TORCH_PYTHON
    if not python.exists():
        pytest.skip(f"no benchmark venv: {model_speed.MAKE_VENV}")
    for name, v in SMALL_VARIANTS.items():
        gluon = model_speed.variant_params(v, VOCAB, HIDDENS)
        proc = subprocess.run([str(python), str(model_speed.TORCH_SCRIPT), "params", "--vocab-size", str(VOCAB),
                               *model_speed.torch_variant_options(v, HIDDENS)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["parameters"][v.cell] == gluon, name


def test_fused_scratch_row_is_the_scratch_model_with_the_fused_forward():
    """'scratch, fused gates': same parameters (count and values) as 'scratch', same logits, seqmx.fused's forward."""
    from mxnet import np

    from seqmx import fused
    assert "scratch, fused gates" in model_speed.COURSE_IMPLS
    forwards = {"rnn": fused.rnn_fused, "gru": fused.gru_fused, "lstm": fused.lstm_fused}
    X = np.array([[1, 2, 3, 4], [5, 6, 0, 1]])  # (batch_size, num_steps) token ids
    for cell in model_speed.GATES:
        assert (model_speed.course_params(cell, "scratch, fused gates", VOCAB, HIDDENS)
                == model_speed.course_params(cell, "scratch", VOCAB, HIDDENS))
        plain = model_speed.make_course_net(cell, "scratch", VOCAB, HIDDENS, seed=3)
        fast = model_speed.make_course_net(cell, "scratch, fused gates", VOCAB, HIDDENS, seed=3)
        assert fast.forward_fn is forwards[cell], cell
        for a, b in zip(plain.parameters(), fast.parameters()):
            assert (a == b).all(), f"{cell}: the fused row starts from other weights"
        out_plain, _ = plain(X, plain.begin_state(2))
        out_fast, _ = fast(X, fast.begin_state(2))
        assert abs(out_plain - out_fast).max() < 1e-6, cell


def test_report_has_a_fused_scratch_row_per_cell_with_speed_and_share_of_peak(tmp_path):
    """A tiny run without PyTorch: every cell gets its 'scratch, fused gates' row, with GFLOP/s and share of peak."""
    report = tmp_path / "report.md"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "model_speed.py"), "--torch-python",
                           str(tmp_path / "no-python"), "--threads", "1", "--repeat", "1", "--warmup", "1",
                           "--timed", "1", "--num-hiddens", "8", "--gemm-sizes", "64", "--variants",
                           "--report", str(report)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(" | ") for line in report.read_text().splitlines() if line.startswith("| ") and " | " in line]
    fused_rows = {r[0].strip("| ") for r in rows if len(r) > 1 and r[1] == "scratch, fused gates"}
    assert fused_rows == {"RNN", "GRU", "LSTM"}, report.read_text()
    for r in rows:
        if len(r) > 1 and r[1] == "scratch, fused gates":
            # no PyTorch: no ratio, no paired ratio; GFLOP/s; share of peak
            assert r[4] == r[5] == "–" and float(r[6]) > 0 and r[7].endswith("%"), r
