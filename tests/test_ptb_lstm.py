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


@pytest.mark.parametrize("config", ["zaremba", "fast"])
def test_one_training_step_lowers_the_loss_on_its_minibatch(config):
    cfg = ptb_lstm.CONFIGS[config]
    net = ptb_lstm.make_model(V)
    corpus = list(range(0, 2 * 102, 2))  # 102 tokens: 2 streams of 51, one minibatch of 2 rows x 50 steps
    batch = rnn.SeqDataLoader(corpus, 2, 50, shuffle=False)
    before = rnn.evaluate_perplexity(net, batch)
    trainer = ptb_lstm.gluon.Trainer(net.collect_params(), cfg.optimizer, {"learning_rate": cfg.lr})
    stats = rnn.train_epoch(net, batch, cfg.lr, cfg.clip_theta, trainer)
    assert len(stats["grad_norms"]) == 1
    assert rnn.evaluate_perplexity(net, batch) < before
