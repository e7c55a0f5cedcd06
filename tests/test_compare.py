"""seqmx.compare: the scratch deep LSTM is Gluon's stacked rnn.LSTM, and measure() returns an honest row.

Tolerance: the scratch deep LSTM and Gluon's fused kernel compute the same
float32 sums in a different order (Gluon adds its two biases separately, and
does one (4h)-wide product per step where we do four h-wide ones), which
leaves differences of order 1e-7 to 1e-6 on values of order 0.1 to 1; TOL =
1e-5 leaves room for that and nothing else. Comparisons between two runs of
the same scratch code are exact.
"""
import functools
from types import SimpleNamespace

import d2l.mxnet as d2l
import numpy as onp
from mxnet import autograd, np, npx
from mxnet.gluon import rnn as grnn

from seqmx import compare, lstm, rnn

npx.set_np()

VOCAB, HIDDENS, BATCH, STEPS = 7, 5, 3, 4
TOL = 1e-5


def f32(a):
    return np.array(onp.asarray(a, dtype="float32"))


def randomized_gluon_lstm(num_layers, seed=0, scale=0.5):
    """A Gluon LSTM language model whose every parameter (biases too) is seeded random, not zero."""
    rnn.set_seed(seed)
    net = rnn.RNNModel(grnn.LSTM(HIDDENS, num_layers=num_layers), VOCAB)
    net.initialize()
    net(np.zeros((BATCH, STEPS)), net.begin_state(BATCH))  # materialise deferred shapes
    rs = onp.random.RandomState(seed)
    for param in net.collect_params().values():
        param.set_data(f32(rs.uniform(-scale, scale, size=param.shape)))
    return net


def scratch_params_from_gluon(net, num_layers):
    """Layer k of the Gluon stack read by seqmx.lstm.lstm_params_from_gluon through a one-layer view."""
    params = []
    for k in range(num_layers):
        view = SimpleNamespace(_num_layers=1, _dir=1, _hidden_size=HIDDENS,
                               **{f"l0_{w}": getattr(net.rnn, f"l{k}_{w}")
                                  for w in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")})
        params += lstm.lstm_params_from_gluon(SimpleNamespace(rnn=view, dense=net.dense))[:12]
    params += [net.dense.weight.data().T.copy(), net.dense.bias.data().copy()]
    for p in params:
        p.attach_grad()
    return params


def max_diff(a, b):
    assert a.shape == b.shape, f"shapes {a.shape} vs {b.shape}"
    return float(abs(a - b).max())


def test_deep_lstm_with_copied_weights_matches_gluon_two_layer_lstm_outputs_states_and_gradients():
    gnet = randomized_gluon_lstm(num_layers=2)
    params = scratch_params_from_gluon(gnet, 2)
    X = np.array(onp.random.RandomState(1).randint(0, VOCAB, size=(BATCH, STEPS)))
    rs = onp.random.RandomState(2)
    state = tuple(f32(rs.uniform(-1, 1, (BATCH, HIDDENS))) for _ in range(4))  # H_1, C_1, H_2, C_2
    gstate = [np.stack([state[0], state[2]]), np.stack([state[1], state[3]])]  # Gluon: (layers, batch, h)
    weights = f32(rs.normal(size=(STEPS * BATCH, VOCAB)))                       # weight every output differently
    with autograd.record():
        g_out, (g_H, g_C) = gnet(X, gstate)
        g_loss = (g_out * weights).sum()
    g_loss.backward()
    with autograd.record():
        s_out, s_state = compare.deep_lstm(npx.one_hot(X.T, VOCAB), state, params)
        s_loss = (s_out * weights).sum()
    s_loss.backward()
    assert max_diff(g_out, s_out) < TOL
    for layer in range(2):
        assert max_diff(g_H[layer], s_state[2 * layer]) < TOL, f"H of layer {layer + 1}"
        assert max_diff(g_C[layer], s_state[2 * layer + 1]) < TOL, f"C of layer {layer + 1}"
    # every gradient, Gluon's rearranged into the scratch order (gates i, f, o, c; transposed)
    h = HIDDENS
    for layer in range(2):
        for k, row in enumerate((0, 1, 3, 2)):             # Gluon stacks the gates as i, f, c, o
            rows = slice(row * h, (row + 1) * h)
            W_x, W_h, b = params[12 * layer + 3 * k: 12 * layer + 3 * k + 3]
            for name, expected, got in (
                    ("W_x", getattr(gnet.rnn, f"l{layer}_i2h_weight").grad()[rows].T, W_x.grad),
                    ("W_h", getattr(gnet.rnn, f"l{layer}_h2h_weight").grad()[rows].T, W_h.grad),
                    ("b", getattr(gnet.rnn, f"l{layer}_i2h_bias").grad()[rows], b.grad)):
                assert max_diff(expected, got) < TOL, f"gradient of {name}, layer {layer + 1}, gate {'ifoc'[k]}"
    assert max_diff(gnet.dense.weight.grad().T, params[-2].grad) < TOL
    assert max_diff(gnet.dense.bias.grad(), params[-1].grad) < TOL

def test_one_layer_deep_lstm_is_exactly_the_scratch_lstm():
    rnn.set_seed(3)
    deep_net = rnn.RNNModelScratch(VOCAB, HIDDENS, None,
                                   functools.partial(compare.get_deep_lstm_params, num_layers=1),
                                   functools.partial(compare.init_deep_lstm_state, num_layers=1),
                                   compare.deep_lstm)
    rnn.set_seed(3)
    one = rnn.RNNModelScratch(VOCAB, HIDDENS, None, lstm.get_lstm_params, lstm.init_lstm_state, lstm.lstm)
    assert len(deep_net.params) == len(one.params) == 14
    for a, b in zip(deep_net.params, one.params):
        assert max_diff(a, b) == 0.0, "same seed, same draws in the same order"
    X = np.array(onp.random.RandomState(4).randint(0, VOCAB, size=(BATCH, STEPS)))
    out_deep, state_deep = deep_net(X, deep_net.begin_state(BATCH))
    out_one, state_one = one(X, one.begin_state(BATCH))
    assert max_diff(out_deep, out_one) == 0.0
    assert all(max_diff(a, b) == 0.0 for a, b in zip(state_deep, state_one))


def test_deep_lstm_parameter_count_follows_the_formula():
    d = q = VOCAB
    h = HIDDENS
    for num_layers in (1, 2, 3):
        params = compare.get_deep_lstm_params(VOCAB, HIDDENS, num_layers=num_layers)
        expected = 4 * (d * h + h * h + h) + (num_layers - 1) * 4 * (2 * h * h + h) + h * q + q
        assert sum(int(p.size) for p in params) == expected, f"{num_layers} layers"


TEXT = "the time traveller for so it will be convenient to speak of him was expounding " * 12


def tiny_data(batch_size, num_steps, seed=0):
    """The Time Machine's interface on a short text: 90% training, the rest validation."""
    tokens = list(TEXT)
    split = int(0.9 * len(tokens))
    vocab = d2l.Vocab(tokens[:split])
    return (rnn.SeqDataLoader(vocab[tokens[:split]], batch_size, num_steps, seed=seed),
            rnn.SeqDataLoader(vocab[tokens[split:]], batch_size, num_steps, shuffle=False), vocab)


def scratch_rnn(vocab_size):
    return rnn.RNNModelScratch(vocab_size, 8)


def gluon_lstm(vocab_size):
    return rnn.RNNModel(grnn.LSTM(8), vocab_size)


CONFIG = dict(batch_size=4, num_steps=5, lr=2.0, num_epochs=2, load_data=tiny_data)


def test_measure_returns_the_trained_models_numbers():
    row = compare.measure(scratch_rnn, seed=0, **CONFIG)
    _, valid_iter, vocab = tiny_data(4, 5)
    q, h = len(vocab), 8
    assert row["parameters"] == q * h + h * h + h + h * q + q
    assert row["train ppl"] == row["history"].train_ppl[-1]
    # the validation perplexity is the trained model's on the held-out text, not on the training text
    assert row["valid ppl"] == rnn.evaluate_perplexity(row["net"], valid_iter)
    assert len(row["history"].valid_ppl) == CONFIG["num_epochs"]
    assert row["valid ppl"] < len(vocab), "two epochs of a repetitive text beat uniform guessing"
    assert row["tokens/s"] == max(row["history"].tokens_per_sec), "the fastest epoch"


def test_measure_is_repeatable_for_a_seed_and_differs_between_seeds():
    for make_net in (scratch_rnn, gluon_lstm):
        a = compare.measure(make_net, seed=0, **CONFIG)
        b = compare.measure(make_net, seed=0, **CONFIG)
        c = compare.measure(make_net, seed=1, **CONFIG)
        assert (a["train ppl"], a["valid ppl"]) == (b["train ppl"], b["valid ppl"]), make_net.__name__
        assert a["valid ppl"] != c["valid ppl"], make_net.__name__


def test_measure_initialises_and_hybridizes_a_gluon_model():
    row = compare.measure(gluon_lstm, seed=0, **CONFIG)
    assert row["net"]._active, "the Gluon model was not hybridized"
    _, _, vocab = tiny_data(4, 5)
    q, h = len(vocab), 8
    assert row["parameters"] == 4 * (q * h + h * h + 2 * h) + h * q + q
