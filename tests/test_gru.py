"""The scratch GRU: equal to Gluon's rnn.GRU in the cuDNN form, different in the d2l form, and the ideal gates."""
import functools

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, np, npx
from mxnet.gluon import rnn

from seqmx import rnn as srnn
from seqmx.gru import (force_gates, get_gru_params, gru, gru_params_from_gluon, gru_step, gru_with_gate_schedule,
                       init_gru_state)

npx.set_np()

VOCAB, HIDDEN, BATCH, STEPS = 11, 8, 3, 5


def gluon_gru_model(seed: int = 0) -> srnn.RNNModel:
    """A small Gluon GRU language model with generic weights (biases non-zero, so they are tested too)."""
    srnn.set_seed(seed)
    net = srnn.RNNModel(rnn.GRU(HIDDEN, input_size=VOCAB), VOCAB)
    net.initialize(mx.init.Normal(0.5))  # large enough that the gates are far from 1/2
    net(np.zeros((BATCH, STEPS)), net.begin_state(BATCH))  # materialise the deferred dense layer
    for param in net.collect_params().values():
        if param.name.endswith("bias"):
            param.set_data(np.random.normal(scale=0.5, size=param.shape))
    return net


def run_both(net, reset_after: bool):
    """Outputs, final states and gradients of the Gluon model and of the scratch GRU with its weights.

    The inputs are real-valued (not one-hot) so that their gradient is informative;
    the loss is a fixed random projection of the outputs, so every output counts.
    """
    onp.random.seed(1)
    X = np.array(onp.random.normal(size=(STEPS, BATCH, VOCAB)).astype("float32"))  # (num_steps, batch, inputs)
    H0 = np.array(onp.random.normal(scale=0.5, size=(BATCH, HIDDEN)).astype("float32"))
    proj = np.array(onp.random.normal(size=(STEPS * BATCH, VOCAB)).astype("float32"))

    X_g = X.copy()
    X_g.attach_grad()
    with autograd.record():
        Y, (H_g,) = net.rnn(X_g, [H0.reshape(1, BATCH, HIDDEN)])     # Y: (num_steps, batch, hidden)
        out_g = net.dense(Y).reshape(-1, VOCAB)                       # (num_steps * batch, vocab)
        loss = (out_g * proj).sum() + (H_g * H_g).sum()
    loss.backward()

    params = gru_params_from_gluon(net)
    if not reset_after:  # same weights, d2l form: drop b_hh (zero would be the same thing)
        params = params[:9] + params[10:]
        for param in params:
            param.attach_grad()
    X_s = X.copy()
    X_s.attach_grad()
    with autograd.record():
        out_s, (H_s,) = gru(X_s, (H0,), params, reset_after=reset_after)
        loss = (out_s * proj).sum() + (H_s * H_s).sum()
    loss.backward()
    return (out_g, H_g[0], X_g.grad), (out_s, H_s, X_s.grad), params


def gluon_grads_in_scratch_order(net) -> list:
    """The Gluon gradients, sliced and transposed like gru_params_from_gluon slices the weights."""
    layer, h = net.rnn, HIDDEN
    gW_i, gW_h = layer.l0_i2h_weight.grad(), layer.l0_h2h_weight.grad()  # rows r | z | n
    gb_i, gb_h = layer.l0_i2h_bias.grad(), layer.l0_h2h_bias.grad()
    r, z, n = slice(0, h), slice(h, 2 * h), slice(2 * h, 3 * h)
    # b_r = b_ir + b_hr, so dL/db_r = dL/db_ir = dL/db_hr (check both halves)
    assert onp.allclose(gb_i[r].asnumpy(), gb_h[r].asnumpy(), atol=1e-5)
    assert onp.allclose(gb_i[z].asnumpy(), gb_h[z].asnumpy(), atol=1e-5)
    return [gW_i[z].T, gW_h[z].T, gb_i[z], gW_i[r].T, gW_h[r].T, gb_i[r],
            gW_i[n].T, gW_h[n].T, gb_i[n], gb_h[n],
            net.dense.weight.grad().T, net.dense.bias.grad()]


# float32: sums of up to ~30 products are taken in a different order by the fused
# kernel and by the scratch code, and the biases are pre-added; 1e-5 is ~100 ulp at
# the magnitudes here (outputs and gradients of order 1-10).
TOL = dict(rtol=1e-5, atol=1e-5)


def test_scratch_reset_after_matches_gluon_outputs_and_state():
    net = gluon_gru_model()
    (out_g, H_g, _), (out_s, H_s, _), _ = run_both(net, reset_after=True)
    assert out_s.shape == out_g.shape == (STEPS * BATCH, VOCAB)
    assert H_s.shape == H_g.shape == (BATCH, HIDDEN)
    onp.testing.assert_allclose(out_s.asnumpy(), out_g.asnumpy(), **TOL)
    onp.testing.assert_allclose(H_s.asnumpy(), H_g.asnumpy(), **TOL)


def test_scratch_reset_after_matches_gluon_gradients():
    net = gluon_gru_model()
    (_, _, gX_g), (_, _, gX_s), params = run_both(net, reset_after=True)
    onp.testing.assert_allclose(gX_s.asnumpy(), gX_g.asnumpy(), **TOL)
    names = ["W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_xh", "b_hh", "W_hq", "b_q"]
    for name, param, g_gluon in zip(names, params, gluon_grads_in_scratch_order(net)):
        assert float(abs(g_gluon).max()) > 1e-3, f"{name}: gradient vanishes, the check would be empty"
        onp.testing.assert_allclose(param.grad.asnumpy(), g_gluon.asnumpy(), err_msg=name, **TOL)


def test_d2l_form_differs_from_gluon_for_the_same_weights():
    net = gluon_gru_model()
    (out_g, H_g, _), (out_s, H_s, _), _ = run_both(net, reset_after=False)
    assert float(abs(H_s - H_g).max()) > 1e-2  # 1000x the tolerance of the equality tests
    assert float(abs(out_s - out_g).max()) > 1e-2


def test_the_two_forms_agree_when_the_reset_gate_is_one():
    # with R = 1, (R * H) W_hh = R * (H W_hh): the variants differ only through the reset gate
    srnn.set_seed(2)
    params = get_gru_params(VOCAB, HIDDEN, reset_after=False)
    params = [p * 50 for p in params]  # generic, far from the tiny initial scale
    params_after = params[:9] + [np.zeros(HIDDEN)] + params[9:]
    X = np.random.normal(size=(STEPS, BATCH, VOCAB))
    H0 = np.random.normal(size=(BATCH, HIDDEN))
    one = force_gates(params, reset=1)
    one_after = force_gates(params_after, reset=1, reset_after=True)
    out, (H,) = gru(X, (H0,), one)
    out_after, (H_after,) = gru(X, (H0,), one_after, reset_after=True)
    onp.testing.assert_allclose(H.asnumpy(), H_after.asnumpy(), **TOL)
    _, (H_free,) = gru(X, (H0,), params)
    _, (H_free_after,) = gru(X, (H0,), params_after, reset_after=True)
    assert float(abs(H_free - H_free_after).max()) > 1e-2


def test_shapes_of_state_outputs_and_gates():
    srnn.set_seed(0)
    for reset_after, n_params in ((False, 11), (True, 12)):
        params = get_gru_params(VOCAB, HIDDEN, reset_after=reset_after)
        assert len(params) == n_params
        (H0,) = init_gru_state(BATCH, HIDDEN)
        assert H0.shape == (BATCH, HIDDEN) and float(abs(H0).sum()) == 0
        H1, (R, Z, H_tilde) = gru_step(np.ones((BATCH, VOCAB)), H0, params, reset_after)
        assert H1.shape == R.shape == Z.shape == H_tilde.shape == (BATCH, HIDDEN)
        net = srnn.RNNModelScratch(VOCAB, HIDDEN, None, functools.partial(get_gru_params, reset_after=reset_after),
                                   init_gru_state, functools.partial(gru, reset_after=reset_after))
        Y, (H,) = net(np.zeros((BATCH, STEPS), dtype="int32"), net.begin_state(BATCH))
        assert Y.shape == (STEPS * BATCH, VOCAB) and H.shape == (BATCH, HIDDEN)
        assert srnn.num_params(net) == 3 * (VOCAB * HIDDEN + HIDDEN * HIDDEN + HIDDEN) \
            + HIDDEN * reset_after + HIDDEN * VOCAB + VOCAB


def test_wrong_variant_for_the_parameters_is_an_error():
    params = get_gru_params(VOCAB, HIDDEN, reset_after=False)
    with pytest.raises(ValueError):
        gru_step(np.ones((BATCH, VOCAB)), np.zeros((BATCH, HIDDEN)), params, reset_after=True)


def ideal_gate_run(X, H0, params, t_prime: int, reset_after: bool, notes_answer: bool = False):
    """H_T after T steps with Z = 0, R = 0 at t' and Z = 1 afterwards (or the notes' R = 0, Z = 1 everywhere)."""
    if notes_answer:
        schedule = [(0, 1)] * len(X)
    else:  # learned gates before t' (anything goes), take the candidate at t', copy after
        schedule = [(None, None)] * t_prime + [(0, 0)] + [(None, 1)] * (len(X) - t_prime - 1)
    return gru_with_gate_schedule(X, H0, params, schedule, reset_after)[-1]


@pytest.mark.parametrize("reset_after", [False, True])
def test_ideal_gates_carry_exactly_the_input_at_t_prime_to_step_t(reset_after):
    srnn.set_seed(3)
    T, t_prime = 7, 2
    params = [p * 50 for p in get_gru_params(VOCAB, HIDDEN, reset_after=reset_after)]  # generic weights
    X = np.random.normal(size=(T, BATCH, VOCAB))
    other = np.random.normal(size=(T, BATCH, VOCAB))
    other[t_prime] = X[t_prime]  # same input at t', everything else (and H_0) different
    H0, H0_other = np.random.normal(size=(2, BATCH, HIDDEN))
    H_t = ideal_gate_run(X, H0, params, t_prime, reset_after)
    H_t_other = ideal_gate_run(other, H0_other, params, t_prime, reset_after)
    # the gates are exactly 0 and 1 in float32 (sigmoid(+-100)), so this is bit-for-bit
    assert onp.array_equal(H_t.asnumpy(), H_t_other.asnumpy())
    # ... and it is the candidate computed from X_{t'} alone: tanh(X_t' W_xh + b_h)
    W_xh, b_h = params[6], params[8]
    onp.testing.assert_allclose(H_t.asnumpy(), np.tanh(np.dot(X[t_prime], W_xh) + b_h).asnumpy(), rtol=1e-6)
    # while changing X_{t'} itself changes H_t: the information does flow from t'
    other[t_prime] = X[t_prime] + 1
    assert float(abs(ideal_gate_run(other, H0_other, params, t_prime, reset_after) - H_t).max()) > 1e-2


def test_the_notes_answer_keeps_the_initial_state_and_ignores_every_input():
    srnn.set_seed(4)
    T, t_prime = 7, 2
    params = [p * 50 for p in get_gru_params(VOCAB, HIDDEN)]
    X = np.random.normal(size=(T, BATCH, VOCAB))
    H0 = np.random.normal(size=(BATCH, HIDDEN))
    H_t = ideal_gate_run(X, H0, params, t_prime, reset_after=False, notes_answer=True)
    assert onp.array_equal(H_t.asnumpy(), H0.asnumpy())  # Z = 1 at every step: H_t = H_0


def test_gates_forced_unit_by_unit_keep_the_other_units_learned():
    srnn.set_seed(5)
    params = [p * 50 for p in get_gru_params(VOCAB, HIDDEN)]
    params[2] = np.random.normal(size=HIDDEN)  # non-zero biases, so that "kept" is tested
    params[5] = np.random.normal(size=HIDDEN)
    X = np.random.normal(size=(BATCH, VOCAB))
    H = np.random.normal(size=(BATCH, HIDDEN))
    update = [0, 1, None, None, 1, 0, None, 1]
    reset = onp.array([1, 0, 1, 0, 1, 0, 1, 0])  # an array works as well as a list
    _, (R, Z, _) = gru_step(X, H, force_gates(params, reset=reset, update=update))
    _, (R_free, Z_free, _) = gru_step(X, H, params)
    for j, value in enumerate(update):
        expected = Z_free[:, j] if value is None else np.full(BATCH, float(value))
        assert onp.array_equal(Z[:, j].asnumpy(), expected.asnumpy()), j  # exactly 0 or 1 in float32
    assert onp.array_equal(R.asnumpy(), onp.tile(reset, (BATCH, 1)).astype("float32"))
    # a scalar forces every unit, as a list of that value does
    same = gru_step(X, H, force_gates(params, update=[1] * HIDDEN))[0]
    assert onp.array_equal(same.asnumpy(), gru_step(X, H, force_gates(params, update=1))[0].asnumpy())
    with pytest.raises(ValueError):
        force_gates(params, update=[0, 1])  # one value per unit, or one for all
    with pytest.raises(ValueError):
        force_gates(params, reset=0.5)


def test_per_unit_schedule_carries_two_inputs_in_two_groups_of_units():
    # the chapter's exercise: group A (first half) keeps X_t1, group B keeps X_t2; R = 0 on all units at
    # both steps, as the reset-before form needs (a unit's reset gate scales what it sends to every unit)
    srnn.set_seed(6)
    T, t1, t2, half = 6, 1, 3, HIDDEN // 2
    params = [p * 50 for p in get_gru_params(VOCAB, HIDDEN)]
    write = lambda group: [0 if (j < half) == (group == "A") else 1 for j in range(HIDDEN)]  # noqa: E731
    schedule = [(None, None), (0, write("A")), (None, 1), (0, write("B")), (None, 1), (None, 1)]
    X = np.random.normal(size=(T, BATCH, VOCAB))
    H_T = gru_with_gate_schedule(X, np.random.normal(size=(BATCH, HIDDEN)), params, schedule)[-1]
    W_xh, b_h = params[6], params[8]
    expected = np.concatenate([np.tanh(np.dot(X[t1], W_xh) + b_h)[:, :half],
                               np.tanh(np.dot(X[t2], W_xh) + b_h)[:, half:]], axis=1)
    onp.testing.assert_allclose(H_T.asnumpy(), expected.asnumpy(), rtol=1e-6)
