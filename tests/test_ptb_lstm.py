"""bench/ptb_lstm.py: its model is a 2x200 LSTM language model over 10k words, and one training step learns."""
import importlib.util
import sys
from pathlib import Path

import pytest
from mxnet import np

from seqmx import rnn

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("ptb_lstm", REPO / "bench" / "ptb_lstm.py")
ptb_lstm = importlib.util.module_from_spec(_spec)
sys.modules["ptb_lstm"] = ptb_lstm  # dataclasses look their module up there
_spec.loader.exec_module(ptb_lstm)

V, E, H = 10_000, 200, 200


def test_parameter_count_is_a_two_layer_200_unit_lstm_over_10k_words():
    net = ptb_lstm.make_model(V)
    net(np.zeros((2, 3)), net.begin_state(batch_size=2))  # shapes are inferred on the first call
    embedding = V * E
    # four gates, each with input and recurrent weights and Gluon's two biases (i2h and h2h)
    layer1 = 4 * H * (E + H) + 2 * 4 * H
    layer2 = 4 * H * (H + H) + 2 * 4 * H
    head = H * V + V
    assert embedding + layer1 + layer2 + head == 4_653_200
    assert rnn.num_params(net) == 4_653_200


@pytest.mark.parametrize("config", sorted(ptb_lstm.CONFIGS))
def test_one_training_step_lowers_the_loss_on_its_minibatch(config):
    cfg = ptb_lstm.CONFIGS[config]
    net = ptb_lstm.make_model(V, cfg.dropout, tied=cfg.tied)
    corpus = list(range(0, 2 * 102, 2))  # 102 tokens: 2 streams of 51, one minibatch of 2 rows x 50 steps
    batch = rnn.SeqDataLoader(corpus, 2, 50, shuffle=False)
    before = rnn.evaluate_perplexity(net, batch)
    trainer = ptb_lstm.gluon.Trainer(net.collect_params(), cfg.optimizer, {"learning_rate": cfg.lr})
    stats = rnn.train_epoch(net, batch, cfg.lr, cfg.clip_theta, trainer)
    assert len(stats["grad_norms"]) == 1
    assert rnn.evaluate_perplexity(net, batch) < before


def test_a_tied_model_has_one_matrix_for_the_embedding_and_the_output_layer():
    net = ptb_lstm.make_model(V, dropout=0.2, tied=True)
    net(np.zeros((2, 3)), net.begin_state(batch_size=2))
    # the untied count less the output layer's weight
    assert rnn.num_params(net) == 4_653_200 - H * V
    assert net.dense.weight is net.embedding.weight


def test_training_reports_every_epoch_and_stops_at_the_epoch_cap():
    corpora = {s: list(range(0, 1500)) for s in ("train", "valid", "test")}  # 2 minibatches of 20 x 35
    seen = []
    rows = ptb_lstm.train(ptb_lstm.CONFIGS["tied"], corpora, V, seed=0, max_epochs=2, time_budget=None,
                          on_epoch=lambda rows: seen.append(len(rows)))
    assert seen == [1, 2] and [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["train"] < rows[0]["train"]  # the same tokens twice: the second pass fits them better
    assert ptb_lstm.summarize("tied", rows, None)[0].startswith("Headline: test perplexity")
