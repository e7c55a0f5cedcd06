"""The scratch LSTM equals Gluon's fused rnn.LSTM, and its two variants do what their equations say.

Tolerances: comparisons between the scratch LSTM and Gluon's fused kernel use
rtol = atol = 1e-5, because the two compute the same float32 sums in a
different order (Gluon adds its two biases separately, we add their sum; its
kernel does one (4h)-wide matrix product per step, we do four h-wide ones),
which changes results in the last bits (about 1e-7 relative) and lets them
grow slightly over the time steps. Comparisons between two scratch models that
run the same operations are exact.
"""
import numpy as onp
import pytest
from mxnet import autograd, init, np, npx
from mxnet.gluon import rnn as grnn

from seqmx import lstm, rnn

npx.set_np()

VOCAB, HIDDENS, BATCH, STEPS = 7, 5, 3, 4
TOL = dict(rtol=1e-5, atol=1e-5)


def gluon_lstm_model(seed=0):
    """A Gluon LSTM language model with random weights AND random biases (zeros would hide bias bugs)."""
    rnn.set_seed(seed)
    net = rnn.RNNModel(grnn.LSTM(HIDDENS), VOCAB)
    net.initialize(init.Uniform(0.5))
    net(np.zeros((BATCH, STEPS)), net.begin_state(BATCH))  # materialise the deferred shapes
    # biases have their own 'zeros' initialiser, which the global one does not override: set them
    r = onp.random.RandomState(seed)
    for bias in (net.rnn.l0_i2h_bias, net.rnn.l0_h2h_bias, net.dense.bias):
        bias.set_data(np.array(r.uniform(-0.5, 0.5, bias.shape).astype("float32")))
    return net


def tokens(seed=0):
    return np.array(onp.random.RandomState(seed).randint(0, VOCAB, size=(BATCH, STEPS)))


def nonzero_state(seed=0):
    r = onp.random.RandomState(seed + 100)
    return (np.array(r.uniform(-1, 1, (BATCH, HIDDENS)).astype("float32")),
            np.array(r.uniform(-2, 2, (BATCH, HIDDENS)).astype("float32")))


def scratch_from(params, get_params=lstm.get_lstm_params, forward=lstm.lstm):
    net = rnn.RNNModelScratch(VOCAB, HIDDENS, None, get_params, lstm.init_lstm_state, forward)
    net.params = params
    return net


def test_scratch_lstm_with_copied_weights_matches_gluon_outputs_state_and_gradients():
    gnet = gluon_lstm_model()
    snet = scratch_from(lstm.lstm_params_from_gluon(gnet))
    X, (H0, C0) = tokens(), nonzero_state()
    weights = np.array(onp.random.RandomState(1).normal(size=(STEPS * BATCH, VOCAB)).astype("float32"))
    with autograd.record():
        g_out, (g_H, g_C) = gnet(X, [H0.reshape(1, BATCH, HIDDENS), C0.reshape(1, BATCH, HIDDENS)])
        g_loss = (g_out * weights).sum()  # a loss that weights every output differently
    g_loss.backward()
    with autograd.record():
        s_out, (s_H, s_C) = snet(X, (H0, C0))
        s_loss = (s_out * weights).sum()
    s_loss.backward()
    assert s_out.shape == g_out.shape == (STEPS * BATCH, VOCAB)
    onp.testing.assert_allclose(s_out.asnumpy(), g_out.asnumpy(), **TOL)
    onp.testing.assert_allclose(s_H.asnumpy(), g_H[0].asnumpy(), **TOL)
    onp.testing.assert_allclose(s_C.asnumpy(), g_C[0].asnumpy(), **TOL)

    # gradients: map every scratch gradient back to its slice of Gluon's fused arrays
    layer, h = gnet.rnn, HIDDENS
    gluon_row = {gate: slice(k * h, (k + 1) * h) for k, gate in enumerate("ifco")}
    grads = [p.grad.asnumpy() for p in snet.params]
    for k, gate in enumerate("ifoc"):
        r = gluon_row[gate]
        W_x, W_h, b = grads[3 * k: 3 * k + 3]
        onp.testing.assert_allclose(W_x, layer.l0_i2h_weight.grad()[r].T.asnumpy(), **TOL)
        onp.testing.assert_allclose(W_h, layer.l0_h2h_weight.grad()[r].T.asnumpy(), **TOL)
        # a sum of two biases has the same gradient as each of them
        onp.testing.assert_allclose(b, layer.l0_i2h_bias.grad()[r].asnumpy(), **TOL)
        onp.testing.assert_allclose(b, layer.l0_h2h_bias.grad()[r].asnumpy(), **TOL)
    onp.testing.assert_allclose(grads[-2], gnet.dense.weight.grad().T.asnumpy(), **TOL)
    onp.testing.assert_allclose(grads[-1], gnet.dense.bias.grad().asnumpy(), **TOL)


def test_wrong_gate_order_is_detected():
    """Reading Gluon's blocks as i, f, o, c (d2l's order) instead of i, f, c, o gives a different model."""
    gnet = gluon_lstm_model()
    params = lstm.lstm_params_from_gluon(gnet)
    swapped = params[:6] + params[9:12] + params[6:9] + params[12:]  # output gate <-> candidate
    X, state = tokens(), nonzero_state()
    right, _ = scratch_from(params)(X, state)
    wrong, _ = scratch_from(swapped)(X, state)
    g_out, _ = gnet(X, [s.reshape(1, BATCH, HIDDENS) for s in state])
    onp.testing.assert_allclose(right.asnumpy(), g_out.asnumpy(), **TOL)
    assert onp.abs(wrong.asnumpy() - g_out.asnumpy()).max() > 1e-3


def test_gluon_model_has_one_extra_bias_per_gate_unit():
    gnet = gluon_lstm_model()
    snet = scratch_from(lstm.lstm_params_from_gluon(gnet))
    assert rnn.num_params(gnet) - rnn.num_params(snet) == 4 * HIDDENS


def test_peephole_lstm_with_zero_peepholes_equals_standard_lstm_exactly():
    rnn.set_seed(3)
    standard = lstm.get_lstm_params(VOCAB, HIDDENS)
    rnn.set_seed(3)
    peephole = lstm.get_peephole_lstm_params(VOCAB, HIDDENS)
    # the default initialisation: same random draws, peepholes zero
    for p, q in zip(standard, peephole[:12] + peephole[-2:]):
        onp.testing.assert_array_equal(p.asnumpy(), q.asnumpy())
    assert all(float(np.abs(w).sum()) == 0 for w in peephole[12:15])
    X, state = tokens(), nonzero_state()
    out_s, (H_s, C_s) = scratch_from(standard)(X, state)
    out_p, (H_p, C_p) = scratch_from(peephole, lstm.get_peephole_lstm_params, lstm.lstm_peephole)(X, state)
    onp.testing.assert_array_equal(out_p.asnumpy(), out_s.asnumpy())
    onp.testing.assert_array_equal(H_p.asnumpy(), H_s.asnumpy())
    onp.testing.assert_array_equal(C_p.asnumpy(), C_s.asnumpy())


@pytest.mark.parametrize("which", [0, 1, 2])  # w_ci, w_cf, w_co
def test_each_nonzero_peephole_weight_changes_the_output(which):
    rnn.set_seed(3)
    params = lstm.get_peephole_lstm_params(VOCAB, HIDDENS)
    r = onp.random.RandomState(8)
    for p in params[:12]:  # weights of order 1, so that the gates matter (not all ~1/2)
        p[:] = np.array(r.normal(scale=0.5, size=p.shape).astype("float32"))
    X, state = tokens(), nonzero_state()
    model = scratch_from(params, lstm.get_peephole_lstm_params, lstm.lstm_peephole)
    _, (H_before, _) = model(X, state)
    params[12 + which][:] = 0.5
    _, (H_after, _) = model(X, state)
    assert onp.abs(H_after.asnumpy() - H_before.asnumpy()).max() > 1e-2


def test_peephole_step_matches_the_equations_with_c_t_in_the_output_gate():
    """One step against NumPy: I, F see C_{t-1}; O sees the new C_t."""
    rnn.set_seed(4)
    params = lstm.get_peephole_lstm_params(VOCAB, HIDDENS)
    r = onp.random.RandomState(5)
    for k in range(12, 15):  # nonzero peepholes, and nonzero biases so that they are checked too
        params[k][:] = np.array(r.normal(size=HIDDENS).astype("float32"))
    for k in (2, 5, 8, 11):
        params[k][:] = np.array(r.normal(size=HIDDENS).astype("float32"))
    X = np.array(r.normal(size=(BATCH, VOCAB)).astype("float32"))
    H, C = nonzero_state()
    H1, C1, (I, F, O, C_tilde) = lstm.lstm_peephole_cell(X, H, C, params[:-2])
    W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, w_ci, w_cf, w_co = \
        [p.asnumpy().astype("float64") for p in params[:-2]]
    x, h, c = (a.asnumpy().astype("float64") for a in (X, H, C))
    sig = lambda z: 1 / (1 + onp.exp(-z))
    i = sig(x @ W_xi + h @ W_hi + w_ci * c + b_i)
    f = sig(x @ W_xf + h @ W_hf + w_cf * c + b_f)
    g = onp.tanh(x @ W_xc + h @ W_hc + b_c)
    c_new = f * c + i * g
    o = sig(x @ W_xo + h @ W_ho + w_co * c_new + b_o)
    for got, want in [(I, i), (F, f), (C_tilde, g), (C1, c_new), (O, o), (H1, o * onp.tanh(c_new))]:
        onp.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)  # float32 vs float64


def test_coupled_lstm_input_gate_is_one_minus_forget_gate():
    rnn.set_seed(5)
    params = lstm.get_coupled_lstm_params(VOCAB, HIDDENS)
    r = onp.random.RandomState(6)
    for p in params[:-2]:  # large random weights, so that the gates are far from 1/2
        p[:] = np.array(r.normal(scale=2.0, size=p.shape).astype("float32"))
    H, C = nonzero_state()
    X = npx.one_hot(tokens().T, VOCAB)  # (STEPS, BATCH, VOCAB)
    for X_t in X:
        C_prev = C
        H, C, (I, F, O, C_tilde) = lstm.lstm_coupled_cell(X_t, H, C, params[:-2])
        onp.testing.assert_array_equal(I.asnumpy(), (1 - F).asnumpy())
        assert float(np.abs(F - 0.5).max()) > 0.1  # the check is not trivially passed at F = I = 1/2
        onp.testing.assert_allclose(C.asnumpy(), (F * C_prev + (1 - F) * C_tilde).asnumpy(), rtol=1e-6)


def test_coupled_lstm_memory_cell_stays_in_minus_one_one():
    """With I = 1 - F, C_t is a convex combination of C_{t-1} and C_tilde, so |C_t| <= 1 from C_0 = 0."""
    rnn.set_seed(6)
    params = lstm.get_coupled_lstm_params(VOCAB, HIDDENS)
    r = onp.random.RandomState(7)
    for p in params[:-2]:
        p[:] = np.array(r.normal(scale=3.0, size=p.shape).astype("float32"))
    H, C = lstm.init_lstm_state(BATCH, HIDDENS)
    X = npx.one_hot(np.array(r.randint(0, VOCAB, size=(50, BATCH))), VOCAB)
    for X_t in X:
        H, C, _ = lstm.lstm_coupled_cell(X_t, H, C, params[:-2])
        assert float(np.abs(C).max()) <= 1.0


def test_standard_lstm_memory_cell_can_leave_minus_one_one():
    """The reason for tanh(C_t): with I and F near 1 the cell adds up candidates and exceeds 1."""
    rnn.set_seed(7)
    params = lstm.get_lstm_params(VOCAB, HIDDENS)
    params[2][:] = 5.0   # b_i: input gate ~ 1
    params[5][:] = 5.0   # b_f: forget gate ~ 1
    params[11][:] = 3.0  # b_c: candidate ~ tanh(3) ~ 0.995
    H, C = lstm.init_lstm_state(BATCH, HIDDENS)
    for X_t in npx.one_hot(tokens().T, VOCAB):
        H, C, _ = lstm.lstm_cell(X_t, H, C, params[:-2])
    assert float(C.min()) > 3.5          # four steps of ~0.99 each
    assert float(np.abs(H).max()) < 1.0  # while H = O * tanh(C) stays in (-1, 1)


@pytest.mark.parametrize("get_params, forward, count", [
    (lstm.get_lstm_params, lstm.lstm, 4 * (VOCAB * HIDDENS + HIDDENS * HIDDENS + HIDDENS)),
    (lstm.get_peephole_lstm_params, lstm.lstm_peephole, 4 * (VOCAB * HIDDENS + HIDDENS * HIDDENS + HIDDENS) + 3 * HIDDENS),
    (lstm.get_coupled_lstm_params, lstm.lstm_coupled, 3 * (VOCAB * HIDDENS + HIDDENS * HIDDENS + HIDDENS)),
])
def test_shapes_and_parameter_counts(get_params, forward, count):
    rnn.set_seed(0)
    net = rnn.RNNModelScratch(VOCAB, HIDDENS, None, get_params, lstm.init_lstm_state, forward)
    state = net.begin_state(BATCH)
    assert [s.shape for s in state] == [(BATCH, HIDDENS), (BATCH, HIDDENS)]
    Y, (H, C) = net(tokens(), state)
    assert Y.shape == (STEPS * BATCH, VOCAB)
    assert H.shape == C.shape == (BATCH, HIDDENS)
    assert rnn.num_params(net) == count + HIDDENS * VOCAB + VOCAB  # cell + output layer
