"""The first-symbol task: its data and chance level, the models, one training step, determinism, gradients."""
import math

import numpy as onp
import pytest
import mxnet as mx
from mxnet import gluon, np, npx

from seqmx import bptt, longrange

npx.set_np()


def test_generator_targets_are_the_first_symbol():
    X, y = longrange.first_symbol_batch(500, 7, num_symbols=5, rng=onp.random.default_rng(0))
    assert X.shape == (500, 8), "gap + 1 symbols per sequence"
    assert y.shape == (500,)
    assert (y == X[:, 0]).all(), "the target is the symbol gap steps before the last one"
    assert X.min() == 0 and X.max() == 4, "symbols are 0..num_symbols-1, every one used"
    # the target is not the last symbol, nor any fixed later position, for most sequences
    assert (y != X[:, -1]).mean() > 0.7


def test_generator_is_seeded():
    a = longrange.first_symbol_batch(4, 3, rng=onp.random.default_rng(1))
    b = longrange.first_symbol_batch(4, 3, rng=onp.random.default_rng(1))
    assert all((u == v).all() for u, v in zip(a, b))


def test_chance_level_is_one_over_the_alphabet_and_the_uniform_loss_ln_of_it():
    assert longrange.chance_accuracy(8) == 1 / 8
    assert longrange.chance_loss(8) == pytest.approx(math.log(8))
    # guessing one fixed symbol, or a random one, is right 1/8 of the time
    _, y = longrange.first_symbol_batch(40000, 3, rng=onp.random.default_rng(2))
    guesses = onp.random.default_rng(3).integers(0, 8, size=y.shape)
    assert (y == 0).mean() == pytest.approx(1 / 8, abs=0.01)
    assert (y == guesses).mean() == pytest.approx(1 / 8, abs=0.01)
    # equal logits give exactly ln 8
    uniform = gluon.loss.SoftmaxCrossEntropyLoss()(np.zeros((len(y), 8)), np.array(y)).mean()
    assert float(uniform) == pytest.approx(longrange.chance_loss(8), rel=1e-6)


@pytest.mark.parametrize("cell", longrange.CELLS)
def test_parameter_count_matches_the_count_by_hand(cell):
    d = q = 8
    h = 64
    blocks = {"RNN": 1, "GRU": 3, "LSTM": 4}[cell]
    by_hand = blocks * (d * h + h * h + h + h) + h * q + q  # two biases per block in Gluon, then the dense layer
    expected = {"RNN": 5256, "GRU": 14728, "LSTM": 19464}[cell]
    assert by_hand == expected
    assert longrange.num_params_by_hand(cell, h, 8) == expected
    assert longrange.num_params(longrange.make_model(cell, h, 8)) == expected


def test_keep_bias_opens_the_keeping_gate_and_closes_the_lstm_input_gate():
    h = 6
    gru = longrange.make_model("GRU", h, keep_bias=5.0)
    bias = gru.rnn.l0_i2h_bias.data().asnumpy()        # rows r | z | n
    assert (bias[h:2 * h] == 5).all() and (bias[:h] == 0).all() and (bias[2 * h:] == 0).all()
    lstm = longrange.make_model("LSTM", h, keep_bias=5.0)
    bias = lstm.rnn.l0_i2h_bias.data().asnumpy()       # rows i | f | c | o
    assert (bias[:h] == -5).all() and (bias[h:2 * h] == 5).all() and (bias[2 * h:] == 0).all()
    with pytest.raises(ValueError, match="no gate"):
        longrange.make_model("RNN", h, keep_bias=5.0)


@pytest.mark.parametrize("cell", longrange.CELLS)
def test_one_training_step_lowers_the_loss_on_its_minibatch(cell):
    mx.random.seed(0)
    net = longrange.make_model(cell, 16)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    X, y = longrange.first_symbol_batch(64, 5, rng=onp.random.default_rng(0))
    before = longrange.train_step(net, trainer, X, y)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    after = float(loss(net(np.array(X), net.begin_state(64)), np.array(y)).mean())
    assert after < before, f"loss {before:.5f} before the step, {after:.5f} after"


def test_a_tiny_seeded_run_is_deterministic():
    runs = [longrange.train_first_symbol("GRU", 4, 20, num_hiddens=8, batch_size=16, seed=3, keep_bias=2.0,
                                         num_test=200) for _ in range(2)]
    assert runs[0]["losses"] == runs[1]["losses"]
    assert runs[0]["accuracy"] == runs[1]["accuracy"]
    other = longrange.train_first_symbol("GRU", 4, 20, num_hiddens=8, batch_size=16, seed=4, keep_bias=2.0,
                                         num_test=200)
    assert other["losses"] != runs[0]["losses"], "the seed must matter"


def test_rnn_state_gradients_equal_those_of_seqmx_bptt_on_the_copied_scratch_rnn():
    """Gluon's tanh RNN run step by step gives the dL_T/dH_t of the scratch RNN of seqmx.bptt."""
    mx.random.seed(1)
    net = longrange.make_model("RNN", 6, 5)
    for p in net.collect_params().values():  # random biases too, so that a bias mistake shows
        p.set_data(np.array(onp.random.default_rng(5).normal(scale=0.5, size=p.shape).astype("float32")))
    X, y = longrange.first_symbol_batch(4, 6, num_symbols=5, rng=onp.random.default_rng(6))
    ours = longrange.state_gradient_norms(net, X, y)
    layer = net.rnn
    params = [layer.l0_i2h_weight.data().T, layer.l0_h2h_weight.data().T,
              layer.l0_i2h_bias.data() + layer.l0_h2h_bias.data(),
              net.dense.weight.data().T, net.dense.bias.data()]  # W_xh, W_hh, b_h, W_hq, b_q
    Y = onp.zeros_like(X)
    Y[:, -1] = y                                                   # only the last step's label is used
    reference = bptt.state_gradient_norms(np.array(X), np.array(Y), params, "tanh", last_step_only=True)
    assert ours.shape == (7,)
    onp.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("cell", longrange.CELLS)
def test_last_state_gradient_is_that_of_the_fused_models_output(cell):
    """Run step by step, the layer is the fused model's function: dL/ds_T = (softmax - onehot) W / n."""
    mx.random.seed(2)
    net = longrange.make_model(cell, 5, 4)
    X, y = longrange.first_symbol_batch(3, 4, num_symbols=4, rng=onp.random.default_rng(7))
    norms = longrange.state_gradient_norms(net, X, y)
    probs = npx.softmax(net(np.array(X), net.begin_state(3))).asnumpy()  # the fused forward pass
    dlogits = (probs - onp.eye(4)[y]) / len(y)
    expected = onp.linalg.norm(dlogits @ net.dense.weight.data().asnumpy())  # C_T of the LSTM: no gradient
    assert norms[-1] == pytest.approx(expected, rel=1e-4)
    assert (norms > 0).all()


def test_held_out_sequences_are_fixed_per_gap_and_not_a_training_stream():
    X, y = longrange.held_out(12, num_test=50)
    X2, _ = longrange.held_out(12, num_test=50)
    assert X.shape == (50, 13) and (X == X2).all() and (y == X[:, 0]).all()
    for seed in range(3):  # the first training minibatch of seeds 0..2 differs from the test set
        X_train, _ = longrange.first_symbol_batch(50, 12, rng=onp.random.default_rng(seed))
        assert not (X_train == X).all()
