"""seqmx.fused: each fused forward computes the same model as the scratch forward it replaces.

For the RNN, GRU (both reset-gate placements) and LSTM, on the same
parameters (made by the existing ``get_*_params``) and the same one-hot
inputs and nonzero initial state: the same logits, the same final state, and
the same gradient for every parameter of the list. Tolerance rtol 1e-5,
atol 1e-6: the fused forward does the same float32 products, but sums in
another order (bias added to X W before H W is; H W_h as one wide product),
so results differ by a few units in the last place of float32 (eps 1.2e-7);
logits and gradients here are O(0.01..1), so 1e-6 absolute is about ten such
units, and far below any real error (a swapped gate block changes values in
the first or second digit). A test also checks that a wrong fusion, gate
blocks concatenated in another order, is caught by the same comparison.
"""
import functools

import pytest
from mxnet import autograd, np, npx

from seqmx import fused, gru, lstm, rnn

npx.set_np()

RTOL, ATOL = 1e-5, 1e-6
VOCAB, HIDDENS, BATCH, STEPS = 7, 6, 3, 5

MODELS = {  # name: (get_params, init_state, scratch forward, fused forward)
    "rnn": (rnn.get_rnn_params, rnn.init_rnn_state, rnn.rnn, fused.rnn_fused),
    "gru": (gru.get_gru_params, gru.init_gru_state, gru.gru, fused.gru_fused),
    "gru-reset-after": (functools.partial(gru.get_gru_params, reset_after=True), gru.init_gru_state,
                        functools.partial(gru.gru, reset_after=True),
                        functools.partial(fused.gru_fused, reset_after=True)),
    "lstm": (lstm.get_lstm_params, lstm.init_lstm_state, lstm.lstm, fused.lstm_fused),
}


def _params(get_params, seed=0):
    """Parameters of the model, with larger weights and nonzero biases so that every gate matters."""
    rnn.set_seed(seed)
    params = get_params(VOCAB, HIDDENS, None)
    out = []
    for p in params:
        q = np.random.normal(scale=0.5, size=p.shape)  # N(0, 0.5^2): gates far from 1/2, biases nonzero
        q.attach_grad()
        out.append(q)
    return out


def _run(forward_fn, init_state, params, seed=1):
    """Logits, final state and the gradient of a fixed weighted sum of both for every parameter."""
    rnn.set_seed(seed)
    tokens = np.random.randint(0, VOCAB, size=(BATCH, STEPS))
    inputs = npx.one_hot(tokens.T, VOCAB)  # (num_steps, batch_size, vocab_size), as RNNModelScratch feeds it
    state = tuple(np.random.normal(size=s.shape) for s in init_state(BATCH, HIDDENS, None))  # nonzero state
    w_out = np.random.normal(size=(STEPS * BATCH, VOCAB))
    w_state = [np.random.normal(size=s.shape) for s in state]
    with autograd.record():
        outputs, new_state = forward_fn(inputs, state, params)
        loss = (outputs * w_out).sum() + sum((s * w).sum() for s, w in zip(new_state, w_state))
    loss.backward()
    return outputs.asnumpy(), [s.asnumpy() for s in new_state], [p.grad.asnumpy() for p in params]


def _assert_same(name, scratch, fast):
    import numpy as onp
    (out_a, state_a, grads_a), (out_b, state_b, grads_b) = scratch, fast
    onp.testing.assert_allclose(out_b, out_a, rtol=RTOL, atol=ATOL, err_msg=f"{name}: logits differ")
    assert len(state_a) == len(state_b), f"{name}: the fused state has {len(state_b)} arrays, expected {len(state_a)}"
    for i, (a, b) in enumerate(zip(state_a, state_b)):
        onp.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=f"{name}: final state [{i}] differs")
    for i, (a, b) in enumerate(zip(grads_a, grads_b)):
        onp.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=f"{name}: gradient of parameter {i} differs")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fused_forward_gives_scratch_logits_state_and_gradients(name):
    get_params, init_state, scratch, fast = MODELS[name]
    params = _params(get_params)
    expected = _run(scratch, init_state, params)
    _assert_same(name, expected, _run(fast, init_state, params))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fused_forward_handles_a_single_step(name):
    """num_steps = 1 (as in prediction, one character at a time): still the scratch model's results."""
    global STEPS
    get_params, init_state, scratch, fast = MODELS[name]
    params = _params(get_params)
    steps, STEPS = STEPS, 1
    try:
        _assert_same(name, _run(scratch, init_state, params), _run(fast, init_state, params))
    finally:
        STEPS = steps


def test_lstm_with_gate_blocks_in_the_wrong_order_is_caught():
    """The comparison detects a wrong fusion: the fused LSTM given the forget and input gates swapped."""
    params = _params(lstm.get_lstm_params)
    expected = _run(lstm.lstm, lstm.init_lstm_state, params)
    swapped = params[3:6] + params[0:3] + params[6:]  # f-block where the fused code expects the i-block
    with pytest.raises(AssertionError):
        _assert_same("lstm, i and f swapped", expected, _run(fused.lstm_fused, lstm.init_lstm_state, swapped))


def test_scratch_model_trains_identically_with_the_fused_forward():
    """RNNModelScratch with lstm_fused: same parameters as with lstm, same perplexity after a few minibatches."""
    corpus = list(np.random.randint(0, VOCAB, size=400).asnumpy().astype(int))
    ppl = {}
    for name, fn in (("scratch", lstm.lstm), ("fused", fused.lstm_fused)):
        rnn.set_seed(0)
        net = rnn.RNNModelScratch(VOCAB, HIDDENS, None, lstm.get_lstm_params, lstm.init_lstm_state, fn)
        stats = rnn.train_epoch(net, rnn.SeqDataLoader(corpus, BATCH, STEPS, seed=0), 1.0)
        ppl[name] = (stats, [p.asnumpy() for p in net.parameters()])
    import numpy as onp
    (s_stats, s_params), (f_stats, f_params) = ppl["scratch"], ppl["fused"]
    assert f_stats["train_ppl"] == pytest.approx(s_stats["train_ppl"], rel=1e-5)
    for a, b in zip(s_params, f_params):
        onp.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
