"""The notes' worked RNN forward passes (chapter "Recurrent neural networks"): note 004's tanh RNN
through ``seqmx.rnn.rnn`` and note 000's ReLU RNN in Gluon, each against an independent NumPy
computation and against the numbers the notes print."""
import numpy as onp
import pytest

from seqmx.worked import (NOTE_000, NOTE_004, gluon_rnn_with_weights, note_004_inputs, note_004_params,
                          rounds_to)

# float32 (MXNet) against float64 (NumPy) on a few additions of numbers below 10: a few ulp.
FLOAT32 = dict(rtol=1e-5, atol=1e-6)


def numpy_note_004():
    """Note 004 by hand with its concatenated matrix W_rnn acting on [state, input], in float64."""
    W_rnn, b_h = onp.array(NOTE_004["W_rnn"]), onp.array(NOTE_004["b_h"])
    W_out, b_out = onp.array(NOTE_004["W_hq"]), onp.array(NOTE_004["b_q"])
    state, steps = onp.array(NOTE_004["H0"]), []
    for x in NOTE_004["X"]:
        before = onp.concatenate([state, [x]]) @ W_rnn + b_h
        state = onp.tanh(before)
        steps.append((before, state, state @ W_out + b_out))
    return steps


def test_note_004_step_one_matches_the_printed_numbers():
    from mxnet import np
    from seqmx.rnn import rnn
    W_xh, W_hh, b_h, W_hq, b_q = note_004_params()
    X = note_004_inputs()
    H0 = np.zeros((1, 2))
    output, (H1,) = rnn(X[:1], (H0,), note_004_params())
    before = np.dot(X[0], W_xh) + np.dot(H0, W_hh) + b_h
    printed, dec = NOTE_004["printed_step1"], NOTE_004["printed_decimals"]
    assert rounds_to(before.asnumpy()[0], printed["before_activation"], dec["before_activation"])
    assert rounds_to(H1.asnumpy()[0], printed["state"], dec["state"]), H1
    assert rounds_to(float(output), printed["output"], dec["output"]), output


def test_note_004_both_steps_match_an_independent_numpy_computation():
    from mxnet import np
    from seqmx.rnn import rnn
    outputs, (H2,) = rnn(note_004_inputs(), (np.zeros((1, 2)),), note_004_params())  # (2, 1), (1, 2)
    hand = numpy_note_004()
    onp.testing.assert_allclose(outputs.asnumpy().reshape(-1), [o[0] for _, _, o in hand], **FLOAT32)
    onp.testing.assert_allclose(H2.asnumpy()[0], hand[-1][1], **FLOAT32)


def test_note_004_split_weights_are_the_rows_of_the_concatenated_matrix():
    W_rnn = onp.array(NOTE_004["W_rnn"])
    assert onp.array_equal(W_rnn[:2], NOTE_004["W_hh"]) and onp.array_equal(W_rnn[2:], NOTE_004["W_xh"])


def test_rounds_to_means_equal_after_rounding():
    assert rounds_to(onp.float32(0.6), 0.6, 1)
    assert rounds_to([0.53705, 0.46212], [0.537, 0.462], 3)
    assert not rounds_to(0.5376, 0.537, 3)


def numpy_note_000():
    """Note 000 by hand: h_t = relu(x_t W_ih^T + h_{t-1} W_hh^T), no bias, float64."""
    W_ih, W_hh = onp.array(NOTE_000["weight_ih"]), onp.array(NOTE_000["weight_hh"])
    h, states, pre = onp.array(NOTE_000["h0"][0]), [], []
    for x_t in onp.array(NOTE_000["x"]):
        pre.append(x_t @ W_ih.T + h @ W_hh.T)
        h = onp.maximum(pre[-1], 0)
        states.append(h)
    return onp.stack(states), onp.stack(pre)


@pytest.fixture(scope="module")
def note_000_gluon():
    from mxnet import np
    layer = gluon_rnn_with_weights(NOTE_000["weight_ih"], NOTE_000["weight_hh"], activation="relu")
    output, (hn,) = layer(np.array(NOTE_000["x"]), [np.array(NOTE_000["h0"])])
    return layer, output.asnumpy(), hn.asnumpy()


def test_gluon_relu_rnn_equals_the_hand_computation(note_000_gluon):
    _, output, hn = note_000_gluon
    hand, _ = numpy_note_000()
    assert output.shape == (5, 2, 3) and hn.shape == (1, 2, 3)
    onp.testing.assert_allclose(output, hand, **FLOAT32)
    onp.testing.assert_allclose(hn[0], hand[-1], **FLOAT32)


def test_gluon_relu_rnn_reproduces_the_notes_printed_pytorch_output(note_000_gluon):
    # The note prints weights, inputs and outputs rounded to 4 decimals (each off by <= 5e-5);
    # a pre-activation sums about five rounded products, so allow 2e-4 (two units of the last digit).
    _, output, hn = note_000_gluon
    onp.testing.assert_allclose(output, NOTE_000["printed_output"], atol=2e-4, rtol=0)
    onp.testing.assert_allclose(hn, NOTE_000["printed_hidden"], atol=2e-4, rtol=0)


def test_the_notes_hand_step_two_agrees_with_the_correct_one_up_to_rounding():
    _, pre = numpy_note_000()
    diff = onp.abs(pre[1] - onp.array(NOTE_000["hand_step2_before_relu"]))
    assert diff.max() <= 2e-4
    assert diff.max() > 1e-5, "the note's last digits do differ (it starts from the rounded state)"


def test_gluon_layer_parameters_carry_the_given_weights(note_000_gluon):
    layer, _, _ = note_000_gluon
    params = {name.split("_", 1)[1]: p.data().asnumpy() for name, p in layer.collect_params().items()}
    assert set(params) == {"l0_i2h_weight", "l0_h2h_weight", "l0_i2h_bias", "l0_h2h_bias"}
    onp.testing.assert_allclose(params["l0_i2h_weight"], NOTE_000["weight_ih"], rtol=1e-7)
    onp.testing.assert_allclose(params["l0_h2h_weight"], NOTE_000["weight_hh"], rtol=1e-7)
    assert not params["l0_i2h_bias"].any() and not params["l0_h2h_bias"].any()


def test_gluon_rnn_with_weights_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match="expected shape"):
        gluon_rnn_with_weights([[0.1], [0.2]], [[0.1, 0.2, 0.3]] * 3)  # i2h (2, 1) but h2h (3, 3)


def test_scratch_rnn_with_transposed_weights_equals_gluon(note_000_gluon):
    from mxnet import np, npx
    from seqmx.rnn import rnn
    _, output, _ = note_000_gluon
    params = [np.array(onp.array(NOTE_000["weight_ih"]).T, dtype="float32"),
              np.array(onp.array(NOTE_000["weight_hh"]).T, dtype="float32"),
              np.zeros(3), np.eye(3), np.zeros(3)]  # identity output layer: O_t = H_t
    outputs, _ = rnn(np.array(NOTE_000["x"]), (np.array(NOTE_000["h0"][0]),), params, activation=npx.relu)
    onp.testing.assert_allclose(outputs.asnumpy().reshape(5, 2, 3), output, **FLOAT32)
