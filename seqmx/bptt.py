"""Backpropagation through time: gradient checks, BPTT by hand, gradients over time steps.

Everything here is taught in chapter "Backpropagation through time"
(``sec-bptt``) and works on the scratch RNN of :mod:`seqmx.rnn`: its
parameters ``[W_xh, W_hh, b_h, W_hq, b_q]`` (from :func:`seqmx.rnn.get_rnn_params`)
and its step function :func:`seqmx.rnn.rnn`, which is reused here one time
step at a time rather than written again.

Conventions follow :mod:`seqmx.rnn`: rows are examples, so a step is
``H_t = phi(X_t W_xh + H_{t-1} W_hh + b_h)``, ``O_t = H_t W_hq + b_q``; a
minibatch ``X`` of token indices is (batch_size, num_steps) and the labels
``Y`` have the same shape. The column-vector formulas of the chapter use the
transposes: ``W_hh`` there is ``W_hh.T`` here.
"""
from __future__ import annotations

from typing import Callable

import numpy as onp
from mxnet import autograd, gluon, np, npx

from seqmx.rnn import rnn

npx.set_np()

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")

# activation phi, and its derivative phi'(a) written in terms of the output h = phi(a);
# functions here take the activation's name, and a new entry makes a new one available
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "tanh": (np.tanh, lambda H: 1 - H ** 2),
    "relu": (npx.relu, lambda H: (H > 0).astype(H.dtype)),
    "identity": (lambda A: A, lambda H: np.ones_like(H)),
}


def to_float64(params: list) -> list:
    """Float64 copies of parameter arrays, with gradients attached.

    Taught in chapter "Backpropagation through time": finite differences need
    the 16 significant digits of float64 (see :func:`numerical_gradient`).
    """
    copies = [p.astype("float64") for p in params]
    for p in copies:
        p.attach_grad()
    return copies


def rnn_states(X, params: list, activation: str = "tanh", state: tuple | None = None,
               probes: list | None = None, detach_every: int | None = None):
    """Run :func:`seqmx.rnn.rnn` one step at a time and keep every hidden state.

    Taught in chapter "Backpropagation through time". Returns the per-step
    outputs ``[O_1, ..., O_T]`` (each (batch_size, vocab_size)) and states
    ``[H_1, ..., H_T]`` (each (batch_size, num_hiddens)).

    ``probes``: one zero array per step, (batch_size, num_hiddens), added to
    ``H_t``. Its value changes nothing, but autograd then gives
    ``probe.grad = dL/dH_t`` (MXNet cannot return gradients of intermediate
    arrays directly). ``detach_every=k`` cuts the graph of the state every
    ``k`` steps: the forward values are unchanged, the gradient is truncated.
    """
    W_xh = params[0]
    vocab_size, num_hiddens = W_xh.shape
    inputs = npx.one_hot(X.T, vocab_size, dtype=W_xh.dtype)  # (num_steps, batch_size, vocab_size)
    phi = ACTIVATIONS[activation][0]
    if state is None:
        state = (np.zeros((X.shape[0], num_hiddens), dtype=W_xh.dtype, ctx=W_xh.ctx),)
    outputs, states = [], []
    for t in range(inputs.shape[0]):
        if detach_every and t and t % detach_every == 0:
            state = tuple(s.detach() for s in state)  # truncated BPTT: no gradient into earlier steps
        if probes is None:
            step_phi = phi
        else:
            def step_phi(A, Z=probes[t]):  # the probe enters through the activation, so both
                return phi(A) + Z          # O_t and H_{t+1} see it (rnn computes O_t from this H_t)
        O, state = rnn(inputs[t:t + 1], state, params, step_phi)  # O: (batch_size, vocab_size)
        outputs.append(O)
        states.append(state[0])  # (batch_size, num_hiddens)
    return outputs, states


def sequence_loss(X, Y, params: list, activation: str = "tanh", last_step_only: bool = False,
                  probes: list | None = None, detach_every: int | None = None):
    """Mean cross-entropy of the scratch RNN on ``(X, Y)``: L = (1/T) sum_t l(O_t, y_t), batch-averaged.

    Taught in chapter "Backpropagation through time". With
    ``last_step_only`` the loss is ``L_T = l(O_T, y_T)`` of the last step alone.
    Returns a scalar MXNet array (differentiable under ``autograd.record``).
    """
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    outputs, _ = rnn_states(X, params, activation, probes=probes, detach_every=detach_every)
    if last_step_only:
        return loss(outputs[-1], Y[:, -1]).mean()
    return loss(np.concatenate(outputs, axis=0), Y.T.reshape(-1)).mean()  # time-major, as in rnn


def autograd_gradient(f: Callable, params: list) -> list[onp.ndarray]:
    """Gradients of the scalar ``f()`` with respect to ``params``, by MXNet's autograd (backprop)."""
    with autograd.record():
        value = f()
    value.backward()
    return [p.grad.asnumpy().copy() for p in params]


def numerical_gradient(f: Callable, params: list, eps: float = 1e-6) -> list[onp.ndarray]:
    """Central differences (f(w + eps) - f(w - eps)) / (2 eps), one scalar parameter at a time.

    Taught in chapter "Backpropagation through time". ``params`` are the MXNet
    arrays that ``f`` reads; each entry is perturbed in place and restored. Use
    float64 parameters: the truncation error is O(eps^2) and the rounding
    error O(machine epsilon * |f| / eps), so with eps = 1e-6 float64 leaves
    about 1e-10 absolute error, while float32 (epsilon 1e-7) would leave ~0.1.
    """
    grads = []
    for p in params:
        grad = onp.zeros(p.shape, dtype="float64")
        for idx in onp.ndindex(*p.shape):
            old = float(p[idx])
            p[idx] = old + eps
            f_plus = float(f())
            p[idx] = old - eps
            f_minus = float(f())
            p[idx] = old  # restore
            grad[idx] = (f_plus - f_minus) / (2 * eps)
        grads.append(grad)
    return grads


def relative_error(a: onp.ndarray, b: onp.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||), 0 if both are zero; scale-free, and 1 if one of them is zero."""
    denom = onp.linalg.norm(a) + onp.linalg.norm(b)
    return 0.0 if denom == 0 else float(onp.linalg.norm(a - b) / denom)


def gradient_check(f: Callable, params: list, eps: float = 1e-6,
                   names: tuple = PARAM_NAMES) -> dict[str, float]:
    """Relative error between autograd's and the numerical gradient of ``f()``, per parameter.

    Taught in chapter "Backpropagation through time". ``max(result.values())``
    is the check's verdict: about 1e-8 or less in float64 when the backward
    pass is right; a wrong one shows as errors many orders of magnitude larger.
    """
    exact = autograd_gradient(f, params)
    approx = numerical_gradient(f, params, eps)
    return {name: relative_error(g, n) for name, g, n in zip(names, exact, approx)}


def bptt_by_hand(X, Y, params: list, activation: str = "tanh") -> dict[str, onp.ndarray]:
    """The gradients of :func:`sequence_loss` from the BPTT recursions, in NumPy.

    Taught in chapter "Backpropagation through time". Going backwards from
    t = T, dL/dH_t = dL/dO_t W_hq^T + dL/dA_{t+1} W_hh^T, where
    dL/dA_t = dL/dH_t * phi'(A_t) is the gradient at the pre-activation; then
    dL/dW_hh = sum_t H_{t-1}^T dL/dA_t, dL/dW_xh = sum_t X_t^T dL/dA_t,
    dL/dW_hq = sum_t H_t^T dL/dO_t. Returns the five parameter gradients by
    name and ``"dH"``, the list of dL/dH_t.
    """
    dphi = ACTIVATIONS[activation][1]
    W_xh, W_hh, b_h, W_hq, b_q = (p.asnumpy().astype("float64") for p in params)
    with autograd.pause():
        outputs, states = rnn_states(X, params, activation)
    O = [o.asnumpy().astype("float64") for o in outputs]   # T x (batch_size, vocab_size)
    H = [h.asnumpy().astype("float64") for h in states]    # T x (batch_size, num_hiddens)
    D = [dphi(h).asnumpy().astype("float64") for h in states]  # phi'(A_t), same shape
    Xs = onp.eye(W_xh.shape[0])[X.asnumpy().astype(int).T]  # (num_steps, batch_size, vocab_size)
    labels = Y.asnumpy().astype(int).T                       # (num_steps, batch_size)
    T, n = len(O), labels.shape[1]
    grads = {name: onp.zeros_like(w) for name, w in zip(PARAM_NAMES, (W_xh, W_hh, b_h, W_hq, b_q))}
    dH, dA_next = [None] * T, onp.zeros_like(H[0])
    for t in reversed(range(T)):
        P = onp.exp(O[t] - O[t].max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)                  # softmax: (batch_size, vocab_size)
        dO = (P - onp.eye(P.shape[1])[labels[t]]) / (T * n)  # d mean cross-entropy / dO_t
        dH[t] = dO @ W_hq.T + dA_next @ W_hh.T               # from the output and from step t+1
        dA = dH[t] * D[t]                                    # through phi
        H_prev = H[t - 1] if t > 0 else onp.zeros_like(H[0])
        grads["W_hq"] += H[t].T @ dO
        grads["b_q"] += dO.sum(axis=0)
        grads["W_hh"] += H_prev.T @ dA
        grads["W_xh"] += Xs[t].T @ dA
        grads["b_h"] += dA.sum(axis=0)
        dA_next = dA
    grads["dH"] = dH
    return grads


def state_gradients(X, Y, params: list, activation: str = "tanh", last_step_only: bool = True):
    """dL/dH_t for every step t by autograd, and the states H_t.

    Taught in chapter "Backpropagation through time". Returns two lists of
    NumPy arrays (batch_size, num_hiddens), index t-1 for step t. With
    ``last_step_only`` L is the loss of the last step, so dL_T/dH_t shows
    how much of the gradient survives T - t steps back.
    """
    batch_size, num_hiddens = X.shape[0], params[1].shape[0]
    probes = [np.zeros((batch_size, num_hiddens), dtype=params[0].dtype) for _ in range(X.shape[1])]
    for z in probes:
        z.attach_grad()
    with autograd.record():
        loss = sequence_loss(X, Y, params, activation, last_step_only, probes=probes)
    loss.backward()
    with autograd.pause():
        _, states = rnn_states(X, params, activation)
    return [z.grad.asnumpy() for z in probes], [h.asnumpy() for h in states]


def state_gradient_norms(X, Y, params: list, activation: str = "tanh",
                         last_step_only: bool = True) -> onp.ndarray:
    """||dL/dH_t|| (Frobenius norm over the minibatch) for t = 1..T, as a NumPy array of length T.

    Taught in chapter "Backpropagation through time".
    """
    grads, _ = state_gradients(X, Y, params, activation, last_step_only)
    return onp.array([onp.linalg.norm(g) for g in grads])


def jacobian_bound(states: list, grad_last: onp.ndarray, W_hh, activation: str = "tanh") -> onp.ndarray:
    """Upper bound on ||dL_T/dH_t|| from the norms of the step Jacobians, t = 1..T.

    Taught in chapter "Backpropagation through time". For one example,
    dL/dH_t = (dL/dH_{t+1} * phi'_{t+1}) W_hh^T, so
    ||dL/dH_t|| <= prod_{k=t+1}^{T} ||diag(phi'_k) W_hh^T||_2 ||dL/dH_T||,
    with the spectral norm (largest singular value) of each step's Jacobian.
    The per-example bounds are combined in the Frobenius norm over the batch.
    """
    dphi = ACTIVATIONS[activation][1]
    W = W_hh.asnumpy().astype("float64") if hasattr(W_hh, "asnumpy") else onp.asarray(W_hh, dtype="float64")
    D = [dphi(np.array(h)).asnumpy() for h in states]  # phi'_t: (batch_size, num_hiddens)
    T = len(states)
    bound = onp.zeros((T, grad_last.shape[0]))
    bound[-1] = onp.linalg.norm(grad_last, axis=1)
    for t in range(T - 2, -1, -1):  # step t (0-based) is bounded through the Jacobian of step t+1
        jac_norms = onp.array([onp.linalg.norm(d[:, None] * W.T, 2) for d in D[t + 1]])
        bound[t] = bound[t + 1] * jac_norms
    return onp.sqrt((bound ** 2).sum(axis=1))


def orthogonal(n: int, gain: float = 1.0, seed: int = 0) -> onp.ndarray:
    """A random n x n orthogonal matrix times ``gain``: every singular value and |eigenvalue| equals gain.

    Taught in chapter "Backpropagation through time" (orthogonal initialisation).
    """
    Q, R = onp.linalg.qr(onp.random.default_rng(seed).normal(size=(n, n)))
    return gain * Q * onp.sign(onp.diag(R))  # sign fix: uniformly distributed (Haar) Q
