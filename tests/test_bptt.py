"""Backpropagation through time: the gradient check can pass and fail, BPTT by hand, gradients over time."""
import numpy as onp
import pytest
from mxnet import gluon, np, npx

from seqmx import bptt
from seqmx.rnn import RNNModelScratch, get_rnn_params, set_seed

npx.set_np()

VOCAB, HIDDENS, BATCH, STEPS = 5, 4, 2, 5


def tokens(seed, shape=(BATCH, STEPS)):
    return np.array(onp.random.default_rng(seed).integers(0, VOCAB, size=shape))


def generic_params(seed=0, scale=0.5):
    """Float64 scratch-RNN parameters at a generic point: N(0, scale^2) everywhere, biases included.

    At the course's initialisation (weights N(0, 0.01^2), zero biases) the
    gradient of W_hh is ~1e-5, so round-off in the finite differences alone
    reaches ~1e-6 relative; a gradient check belongs at a point whose
    gradients are not tiny.
    """
    set_seed(seed)
    shapes = [p.shape for p in get_rnn_params(VOCAB, HIDDENS)]
    return bptt.to_float64([np.random.normal(scale=scale, size=s) for s in shapes])


@pytest.mark.parametrize("activation", ["tanh", "relu", "identity"])
def test_gradient_check_passes_for_the_scratch_rnn_in_float64(activation):
    X, Y = tokens(1), tokens(2)
    params = generic_params()
    errors = bptt.gradient_check(lambda: bptt.sequence_loss(X, Y, params, activation), params)
    assert set(errors) == set(bptt.PARAM_NAMES)
    # Tolerance 1e-6: with eps = 1e-6 the central difference has truncation error
    # O(eps^2) ~ 1e-12 and round-off ~ 1e-16 * |L| / eps ~ 1e-10 on gradients of order
    # 1e-2..1, so a correct backward pass gives ~1e-9; a wrong one is off by >= 1e-3.
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_fails_for_a_truncated_gradient():
    # Cutting the state's graph every step leaves the forward value (what the finite
    # differences see) unchanged but drops every path through W_hh from autograd's gradient.
    X, Y = tokens(1), tokens(2)
    params = generic_params()
    errors = bptt.gradient_check(lambda: bptt.sequence_loss(X, Y, params, detach_every=1), params)
    for name in ("W_xh", "W_hh", "b_h"):
        assert errors[name] > 1e-2, errors
    for name in ("W_hq", "b_q"):  # the output layer does not depend on earlier steps
        assert errors[name] < 1e-6, errors


def test_gradient_check_fails_when_the_activation_derivative_is_forgotten(monkeypatch):
    # tanh in the forward pass, but a backward pass with derivative 1 instead of 1 - tanh^2
    def tanh_without_derivative(A):
        return np.tanh(A).detach() + A - A.detach()

    monkeypatch.setitem(bptt.ACTIVATIONS, "bad_tanh", (tanh_without_derivative, lambda H: 1 - H ** 2))
    X, Y = tokens(1), tokens(2)
    params = generic_params()
    forward_same = bptt.sequence_loss(X, Y, params, "bad_tanh") - bptt.sequence_loss(X, Y, params, "tanh")
    assert abs(float(forward_same)) < 1e-15
    errors = bptt.gradient_check(lambda: bptt.sequence_loss(X, Y, params, "bad_tanh"), params)
    assert errors["W_hh"] > 1e-2, errors


def test_numerical_gradient_of_a_known_function():
    w = np.array([[0.5, -1.0], [2.0, 0.25]], dtype="float64")
    (grad,) = bptt.numerical_gradient(lambda: (w ** 3).sum(), [w], eps=1e-5)
    # central differences are exact up to eps^2 * f''' / 6 = 1e-10 for a cubic
    onp.testing.assert_allclose(grad, 3 * w.asnumpy() ** 2, rtol=0, atol=1e-9)
    assert w.asnumpy()[1, 0] == 2.0  # every entry restored


def test_relative_error_is_scale_free_and_handles_zeros():
    a = onp.array([1.0, 2.0])
    assert bptt.relative_error(a, a) == 0.0
    assert bptt.relative_error(a, 1e6 * a) == pytest.approx(bptt.relative_error(1e-6 * a, a))
    assert bptt.relative_error(a, onp.zeros(2)) == 1.0
    assert bptt.relative_error(onp.zeros(2), onp.zeros(2)) == 0.0


def test_sequence_loss_is_the_loss_of_the_scratch_model():
    set_seed(3)
    net = RNNModelScratch(VOCAB, HIDDENS)
    X, Y = tokens(4), tokens(5)
    outputs, _ = net(X, net.begin_state(BATCH))
    expected = gluon.loss.SoftmaxCrossEntropyLoss()(outputs, Y.T.reshape(-1)).mean()
    assert float(bptt.sequence_loss(X, Y, net.params)) == pytest.approx(float(expected), rel=1e-6)  # float32


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_bptt_by_hand_equals_autograd(activation):
    X, Y = tokens(6), tokens(7)
    params = generic_params(seed=1)
    by_hand = bptt.bptt_by_hand(X, Y, params, activation)
    auto = bptt.autograd_gradient(lambda: bptt.sequence_loss(X, Y, params, activation), params)
    for name, g in zip(bptt.PARAM_NAMES, auto):
        assert bptt.relative_error(by_hand[name], g) < 1e-12, name  # same sums, float64 round-off
    dH, _ = bptt.state_gradients(X, Y, params, activation, last_step_only=False)
    for a, b in zip(by_hand["dH"], dH):
        assert bptt.relative_error(a, b) < 1e-12


def test_probes_change_nothing_in_the_forward_pass():
    X, Y = tokens(8), tokens(9)
    params = generic_params()
    probes = [np.zeros((BATCH, HIDDENS), dtype="float64") for _ in range(STEPS)]
    assert float(bptt.sequence_loss(X, Y, params, probes=probes)) == float(bptt.sequence_loss(X, Y, params))


def linear_rnn_state_gradients(gain, steps=12):
    params = generic_params(seed=2)
    params[1][:] = gain * np.eye(HIDDENS, dtype="float64")
    X, Y = tokens(10, (BATCH, steps)), tokens(11, (BATCH, steps))
    grads, _ = bptt.state_gradients(X, Y, params, "identity", last_step_only=True)
    return grads


@pytest.mark.parametrize("gain", [0.5, 1.5])
def test_state_gradients_of_a_linear_rnn_are_powers_of_w_hh(gain):
    # H_{t+1} = X W_xh + H_t (gain I) + b, and L_T depends on H_t only through H_T,
    # so dL_T/dH_t = dL_T/dH_T (gain I)^(T - t): exactly gain^(T - t) times the last one.
    grads = linear_rnn_state_gradients(gain)
    T = len(grads)
    for t, g in enumerate(grads):
        onp.testing.assert_allclose(g, gain ** (T - 1 - t) * grads[-1], rtol=1e-12, atol=0)
    norms = onp.array([onp.linalg.norm(g) for g in grads])
    onp.testing.assert_allclose(norms[:-1] / norms[1:], gain, rtol=1e-12)  # ratio per step back
    assert (norms[0] < norms[-1]) == (gain < 1)  # shrink for 0.5, grow for 1.5


def test_jacobian_bound_holds_and_is_tight_for_a_linear_orthogonal_rnn():
    X, Y = tokens(12, (BATCH, 10)), tokens(13, (BATCH, 10))
    params = generic_params(seed=3)
    for activation, gain in [("tanh", 1.5), ("relu", 1.5), ("identity", 0.8)]:
        params[1][:] = np.array(bptt.orthogonal(HIDDENS, gain, seed=4))
        grads, states = bptt.state_gradients(X, Y, params, activation)
        norms = onp.array([onp.linalg.norm(g) for g in grads])
        bound = bptt.jacobian_bound(states, grads[-1], params[1], activation)
        assert onp.all(norms <= bound * (1 + 1e-12)), activation
        if activation == "identity":  # every singular value is gain: the bound is attained
            onp.testing.assert_allclose(norms, bound, rtol=1e-12)


def test_orthogonal_has_all_singular_values_equal_to_the_gain():
    W = bptt.orthogonal(6, 1.5, seed=0)
    onp.testing.assert_allclose(onp.linalg.svd(W, compute_uv=False), 1.5, rtol=1e-12)
    onp.testing.assert_allclose(onp.abs(onp.linalg.eigvals(W)), 1.5, rtol=1e-12)
