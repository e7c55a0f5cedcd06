"""seqmx.deep: the scratch deep and bidirectional RNNs compute exactly what Gluon's layers compute.

Weights are copied from a Gluon layer whose every parameter (biases included)
was set to seeded random values, so nothing is trivially zero. Outputs, final
states and gradients are compared to TOL = 1e-5 (absolute, on values of order
0.1 to 1): Gluon's fused kernel and our loops compute the same sums in float32
but in a different order (and we add Gluon's two biases before use), which
leaves differences of order 1e-7 to 1e-6.
"""
import functools
import random

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, np, npx
from mxnet.gluon import rnn

from seqmx import deep
from seqmx import rnn as seqrnn

npx.set_np()

TOL = 1e-5


def randomize(block, seed, scale=0.3):
    """Set every parameter of an initialised block to seeded uniform values in [-scale, scale]."""
    rs = onp.random.RandomState(seed)
    for param in block.collect_params().values():
        param.set_data(f32(rs.uniform(-scale, scale, size=param.shape)))


def f32(a):
    """A float32 MXNet array from a NumPy array (NumPy draws float64)."""
    return np.array(onp.asarray(a, dtype="float32"))


def assert_close(a, b, what):
    diff = float(abs(a - b).max())
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    assert diff < TOL, f"{what}: max |difference| {diff:.2e} exceeds {TOL}"


def gluon_grads_as_scratch(layer, prefixes):
    """Gluon gradients rearranged like the scratch parameters [W_xh, W_hh, b_h] per prefix."""
    p = deep.gluon_rnn_params(layer)
    out = []
    for prefix in prefixes:
        assert_close(p[f"{prefix}_i2h_bias"].grad(), p[f"{prefix}_h2h_bias"].grad(),
                     f"{prefix}: the two Gluon biases get the same gradient")
        out += [p[f"{prefix}_i2h_weight"].grad().T, p[f"{prefix}_h2h_weight"].grad().T,
                p[f"{prefix}_i2h_bias"].grad()]
    return out


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_two_layer_scratch_rnn_equals_gluon_num_layers_2(activation):
    vocab_size, num_hiddens, batch_size, num_steps = 11, 8, 3, 6
    seqrnn.set_seed(0)
    net = seqrnn.RNNModel(rnn.RNN(num_hiddens, num_layers=2, activation=activation), vocab_size)
    net.initialize()
    X = np.array(onp.random.RandomState(1).randint(0, vocab_size, size=(batch_size, num_steps)))
    net(X, net.begin_state(batch_size))  # finish deferred initialisation
    randomize(net, seed=2)
    scratch = seqrnn.RNNModelScratch(
        vocab_size, num_hiddens, None, functools.partial(deep.get_deep_rnn_params, num_layers=2),
        functools.partial(deep.init_deep_rnn_state, num_layers=2),
        functools.partial(deep.deep_rnn, activation=np.tanh if activation == "tanh" else npx.relu))
    scratch.params = deep.deep_params_from_gluon(net)
    assert [p.shape for p in scratch.params] == [(11, 8), (8, 8), (8,), (8, 8), (8, 8), (8,), (8, 11), (11,)]

    weights = f32(onp.random.RandomState(3).normal(size=(num_steps * batch_size, vocab_size)))
    # non-zero initial states, so that W_hh acts from the first step on
    H0 = f32(onp.random.RandomState(4).uniform(-0.5, 0.5, size=(2, batch_size, num_hiddens)))
    with autograd.record():
        out_g, state_g = net(X, [H0])
        loss_g = (out_g * weights).sum() + (state_g[0] * 0.5).sum()
    loss_g.backward()
    with autograd.record():
        out_s, state_s = scratch(X, (H0[0], H0[1]))
        loss_s = (out_s * weights).sum() + (state_s[0] * 0.5).sum() + (state_s[1] * 0.5).sum()
    loss_s.backward()

    assert_close(out_s, out_g, "logits")
    for layer in range(2):
        assert_close(state_s[layer], state_g[0][layer], f"final state of layer {layer + 1}")
    expected = gluon_grads_as_scratch(net.rnn, ["l0", "l1"])
    expected += [net.dense.weight.grad().T, net.dense.bias.grad()]
    names = ["W_xh_1", "W_hh_1", "b_h_1", "W_xh_2", "W_hh_2", "b_h_2", "W_hq", "b_q"]
    for name, p, g in zip(names, scratch.params, expected):
        assert float(abs(g).max()) > 1e-3, f"{name}: the gradient should not vanish in this test"
        assert_close(p.grad, g, f"gradient of {name}")


def test_one_layer_deep_rnn_is_the_scratch_rnn():
    """Same seed, same draws: deep_rnn with one layer reproduces seqmx.rnn.rnn."""
    vocab_size, num_hiddens = 9, 7
    X = np.array(onp.random.RandomState(0).randint(0, vocab_size, size=(4, 5)))
    seqrnn.set_seed(5)
    one = seqrnn.RNNModelScratch(vocab_size, num_hiddens)
    seqrnn.set_seed(5)
    deep1 = seqrnn.RNNModelScratch(vocab_size, num_hiddens, None,
                                   functools.partial(deep.get_deep_rnn_params, num_layers=1),
                                   functools.partial(deep.init_deep_rnn_state, num_layers=1), deep.deep_rnn)
    out_a, (H_a,) = one(X, one.begin_state(4))
    out_b, (H_b,) = deep1(X, deep1.begin_state(4))
    assert_close(out_b, out_a, "logits")
    assert_close(H_b, H_a, "final state")


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_scratch_bidirectional_layer_equals_gluon_bidirectional(activation):
    num_inputs, num_hiddens, batch_size, num_steps = 5, 6, 3, 7
    layer = rnn.RNN(num_hiddens, bidirectional=True, activation=activation, input_size=num_inputs)
    layer.initialize()
    randomize(layer, seed=0)
    params = deep.bi_params_from_gluon(layer)
    rs = onp.random.RandomState(1)
    inputs = f32(rs.normal(size=(num_steps, batch_size, num_inputs)))
    H0 = f32(rs.uniform(-0.5, 0.5, size=(2, batch_size, num_hiddens)))  # [forward, backward]
    weights = f32(rs.normal(size=(num_steps, batch_size, 2 * num_hiddens)))
    with autograd.record():
        out_g, state_g = layer(inputs, [H0])
        loss_g = (out_g * weights).sum() + state_g[0].sum()
    loss_g.backward()
    act = np.tanh if activation == "tanh" else npx.relu
    with autograd.record():
        out_s, (H_fwd, H_bwd) = deep.bi_rnn_layer(inputs, (H0[0], H0[1]), params, act)
        loss_s = (out_s * weights).sum() + H_fwd.sum() + H_bwd.sum()
    loss_s.backward()

    assert out_s.shape == (num_steps, batch_size, 2 * num_hiddens)
    assert_close(out_s, out_g, "outputs")
    assert_close(H_fwd, state_g[0][0], "final forward state (l0)")
    assert_close(H_bwd, state_g[0][1], "final backward state (r0)")
    names = ["W_xh_f", "W_hh_f", "b_h_f", "W_xh_b", "W_hh_b", "b_h_b"]
    for name, p, g in zip(names, params, gluon_grads_as_scratch(layer, ["l0", "r0"])):
        assert float(abs(g).max()) > 1e-3, f"{name}: the gradient should not vanish in this test"
        assert_close(p.grad, g, f"gradient of {name}")


def test_two_stacked_scratch_bidirectional_layers_equal_gluon_two_layer_bidirectional():
    """Gluon's num_layers=2, bidirectional=True is two bi layers; its state is ordered l0, r0, l1, r1."""
    num_inputs, num_hiddens, batch_size, num_steps = 4, 5, 2, 6
    layer = rnn.RNN(num_hiddens, num_layers=2, bidirectional=True, activation="tanh", input_size=num_inputs)
    layer.initialize()
    randomize(layer, seed=3)
    rs = onp.random.RandomState(4)
    inputs = f32(rs.normal(size=(num_steps, batch_size, num_inputs)))
    H0 = f32(rs.uniform(-0.5, 0.5, size=(4, batch_size, num_hiddens)))
    out_g, state_g = layer(inputs, [H0])
    hidden, (f0, b0) = deep.bi_rnn_layer(inputs, (H0[0], H0[1]), deep.bi_params_from_gluon(layer, 0))
    assert hidden.shape == (num_steps, batch_size, 2 * num_hiddens)
    out_s, (f1, b1) = deep.bi_rnn_layer(hidden, (H0[2], H0[3]), deep.bi_params_from_gluon(layer, 1))
    assert_close(out_s, out_g, "outputs of the top layer")
    for k, H in enumerate([f0, b0, f1, b1]):
        assert_close(H, state_g[0][k], f"final state {k} (l0, r0, l1, r1)")


def test_unequal_hidden_sizes_give_width_h1_plus_h2_and_backward_runs_right_to_left():
    num_inputs, h_fwd, h_bwd, batch_size, num_steps = 4, 3, 5, 2, 6
    seqrnn.set_seed(0)
    params = [p * 30 for p in deep.get_bi_rnn_params(num_inputs, h_fwd, h_bwd)]  # not vanishingly small
    assert [p.shape for p in params] == [(4, 3), (3, 3), (3,), (4, 5), (5, 5), (5,)]
    state = deep.init_bi_rnn_state(batch_size, h_fwd, h_bwd)
    inputs = f32(onp.random.RandomState(0).normal(size=(num_steps, batch_size, num_inputs)))
    out, (H_fwd, H_bwd) = deep.bi_rnn_layer(inputs, state, params)
    assert out.shape == (num_steps, batch_size, h_fwd + h_bwd)
    assert H_fwd.shape == (batch_size, h_fwd) and H_bwd.shape == (batch_size, h_bwd)

    changed = inputs.copy()
    changed[-1] = changed[-1] + 1.0  # change only the last time step
    out2, _ = deep.bi_rnn_layer(changed, state, params)
    fwd, bwd = slice(0, h_fwd), slice(h_fwd, h_fwd + h_bwd)
    assert float(abs(out2[0, :, fwd] - out[0, :, fwd]).max()) == 0.0, \
        "the forward state at step 1 must not see the last input"
    assert float(abs(out2[0, :, bwd] - out[0, :, bwd]).max()) > 1e-4, \
        "the backward state at step 1 has read the whole sequence, including the last input"
    assert float(abs(out2[:-1, :, fwd] - out[:-1, :, fwd]).max()) == 0.0, \
        "no forward state before the last step may change"

    changed = inputs.copy()
    changed[0] = changed[0] + 1.0  # and symmetrically the first time step
    out3, _ = deep.bi_rnn_layer(changed, state, params)
    assert float(abs(out3[-1, :, bwd] - out[-1, :, bwd]).max()) == 0.0, \
        "the backward state at the last step must not see the first input"
    assert float(abs(out3[-1, :, fwd] - out[-1, :, fwd]).max()) > 1e-4


def test_mask_chars_hides_only_allowed_tokens_and_marks_them():
    X = np.array(onp.random.RandomState(0).randint(0, 6, size=(40, 50)))
    masked, weights = deep.mask_chars(X, mask_id=9, mask_prob=0.3, rng=random.Random(0), skip_ids=(0,))
    X_, m, w = X.asnumpy(), masked.asnumpy(), weights.asnumpy()
    assert ((m == 9) == (w == 1)).all(), "exactly the weighted positions are masked"
    assert (m[w == 0] == X_[w == 0]).all(), "unmasked positions are unchanged"
    assert not (w[X_ == 0] == 1).any(), "skipped tokens are never masked"
    rate = w[X_ != 0].mean()
    assert 0.25 < rate < 0.35, f"mask rate {rate:.3f} should be near 0.3 (2,000 draws: sd about 0.01)"
    again, _ = deep.mask_chars(X, 9, 0.3, random.Random(0), (0,))
    assert (again.asnumpy() == m).all(), "the same seed gives the same mask"


def test_gluon_copy_refuses_a_bidirectional_layer():
    net = seqrnn.RNNModel(rnn.RNN(4, bidirectional=True, input_size=3), 3)
    net.initialize()
    with pytest.raises(ValueError, match="bidirectional"):
        deep.deep_params_from_gluon(net)
