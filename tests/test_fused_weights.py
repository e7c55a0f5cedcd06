"""seqmx.rnn.fused_weights: Gluon's recurrent layers train on one flat weight vector, with the same numbers."""
import numpy as onp
import pytest
from mxnet import gluon
from mxnet.gluon import rnn as grnn

from seqmx import rnn, wordlm

VOCAB = 12
CORPUS = [(7 * i * i + 3 * i) % VOCAB for i in range(900)]


def loader(seed: int = 0) -> rnn.SeqDataLoader:
    return rnn.SeqDataLoader(CORPUS, batch_size=4, num_steps=6, seed=seed)


def make(kind: str):
    """A small model as the chapters build it: shapes deferred until the first minibatch."""
    rnn.set_seed(0)
    if kind == "wordlm":  # dropout inside the LSTM and around it, tied embedding and output
        return wordlm.make_model(VOCAB, dropout=0.3, seed=0, tied=True, num_hiddens=8, num_layers=2,
                                 embed_size=8)
    layer = {"lstm": lambda: grnn.LSTM(8), "gru": lambda: grnn.GRU(8),
             "rnn": lambda: grnn.RNN(8, activation="tanh"),
             "lstm-deep-bi": lambda: grnn.LSTM(8, num_layers=2, bidirectional=True)}[kind]()
    net = rnn.RNNModel(layer, VOCAB, embed_size=5 if kind == "lstm-deep-bi" else None)
    net.initialize()
    net.hybridize()
    return net


def train_unfused(net, num_epochs: int, optimizer: str = "sgd"):
    """seqmx.rnn.train's loop on the named Parameters, as Gluon runs the layer."""
    trainer = gluon.Trainer(net.collect_params(), optimizer, {"learning_rate": 0.5})
    it, ppl = loader(), []
    for _ in range(num_epochs):
        ppl.append(rnn.train_epoch(net, it, 0.5, 1.0, trainer)["train_ppl"])
    return ppl


def values(net) -> list:
    return [(name.split("_", 1)[1], p.data().asnumpy()) for name, p in net.collect_params().items()]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "lstm-deep-bi", "wordlm"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_with_fused_weights_gives_the_unfused_numbers_bit_for_bit(kind, optimizer):
    # each model made just before it trains: its deferred initial weights are drawn at its first minibatch
    fused = make(kind)
    history = rnn.train(fused, loader(), None, 0.5, 2, optimizer=optimizer)
    plain = make(kind)
    ppl = train_unfused(plain, 2, optimizer)
    assert history.train_ppl == ppl
    got, want = values(fused), values(plain)
    assert [name for name, _ in got] == [name for name, _ in want]
    for (name, a), (_, b) in zip(got, want):
        assert onp.array_equal(a, b), name
    before = make(kind)
    before(rnn.np.zeros((1, 1)), before.begin_state(batch_size=1))
    assert any(not onp.array_equal(a, b) for (_, a), (_, b) in zip(got, values(before)))  # it did train


def test_inside_fused_weights_the_layer_has_one_flat_weight_and_on_exit_the_named_ones_get_it():
    net = make("lstm-deep-bi")
    with rnn.fused_weights(net):
        assert isinstance(net.rnn, rnn.FusedRNN)
        (flat,) = [p for p in net.collect_params().values() if p.shape and p.name.endswith("fused_weight")]
        rnn.train_epoch(net, loader(), 0.5, 1.0, gluon.Trainer(net.collect_params(), "sgd",
                                                                 {"learning_rate": 0.5}))
        trained = flat.data().asnumpy()
    assert isinstance(net.rnn, grnn.LSTM)
    named = [p.data().asnumpy().reshape(-1) for p in net.rnn.collect_params().values()]
    assert sum(a.size for a in named) == trained.size
    assert sorted(onp.concatenate(named).tolist()) == sorted(trained.tolist())
    assert not any(name.endswith("fused_weight") for name in net.collect_params())


def test_an_error_while_fused_puts_the_named_layer_back():
    net = make("gru")
    with pytest.raises(ZeroDivisionError):
        with rnn.fused_weights(net):
            1 / 0
    assert isinstance(net.rnn, grnn.GRU)
    net(rnn.np.zeros((2, 3)), net.begin_state(batch_size=2))  # and it still runs


def test_a_loop_of_ones_own_after_train_updates_the_named_parameters():
    net = make("lstm")
    rnn.train(net, loader(), None, 0.5, 1)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    before = [a.copy() for _, a in values(net)]
    rnn.train_epoch(net, loader(1), 0.5, 1.0, trainer)
    assert all(not onp.array_equal(a, b) for a, (_, b) in zip(before, values(net)))


def test_a_scratch_model_passes_through_unchanged():
    net = rnn.RNNModelScratch(VOCAB, 8, None, rnn.get_rnn_params, rnn.init_rnn_state, rnn.rnn)
    with rnn.fused_weights(net) as same:
        assert same is net


def test_predictions_printed_during_training_come_from_the_fused_layer(capsys):
    net = make("lstm")
    vocab = type("Vocab", (), {"__getitem__": lambda self, t: int(t), "to_tokens": lambda self, i: str(i % 10)})()
    history = rnn.train(net, loader(), None, 0.5, 1, verbose_every=1, vocab=vocab, prefixes=("12",))
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("epoch 1:") and len(printed[1].strip()) == 42  # the prefix and 40 tokens
    assert rnn.predict("12", 40, net, vocab) == printed[1].strip()  # the same model after the exit
    assert history.train_ppl[0] > 1
