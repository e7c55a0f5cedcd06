"""Encoder-decoder: data preparation, shapes, masked loss, teacher forcing, greedy decoding, BLEU, training."""
import math
import random

import d2l.mxnet as d2l
import numpy as onp
import pytest
from mxnet import np, npx

from seqmx import seq2seq as s2s
from seqmx.rnn import set_seed

npx.set_np()

# float32 arithmetic: values of order 1 agree with a float64 hand computation to ~1e-6;
# 1e-5 leaves room for the order of summation.
TOL = 1e-5


def tiny_vocab(tokens="a b c d e f g h"):
    return s2s.make_vocab([tokens.split()], min_freq=1)


def tiny_net(src_vocab_size=12, tgt_vocab_size=12, embed_size=8, num_hiddens=16, num_layers=2, seed=0):
    set_seed(seed)
    return s2s.make_seq2seq(src_vocab_size, tgt_vocab_size, embed_size, num_hiddens, num_layers)


# --- data ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["Go.", "Run!", "Cours\u202f!", "Attends\xa0!", "Hi, Tom?!", "!Wow", "I'm OK . Fine."])
def test_preprocess_matches_d2l_character_loop(text):
    expected = d2l.MTFraEng._preprocess(None, text)  # d2l's method does not use self
    assert s2s.preprocess_nmt(text) == expected, f"{text!r}: expected {expected!r}"


def test_preprocess_lowercases_and_separates_punctuation():
    assert s2s.preprocess_nmt("Cours\u202f!") == "cours !"
    assert s2s.preprocess_nmt("Hi, Tom.") == "hi , tom ."
    assert s2s.tokenize_nmt([("I'm cold.", "J'ai froid.")]) == ([["i'm", "cold", "."]], [["j'ai", "froid", "."]])


def test_select_pairs_keeps_short_pairs_with_a_listed_prefix():
    src = [["i", "am", "cold", "."], ["he", "is", "a", "very", "tall", "man", "."], ["go", "."], ["she's", "ok", "."]]
    tgt = [["j'ai", "froid", "."], ["il", "est", "grand", "."], ["va", "!"], ["elle", "va", "bien", "."]]
    kept_src, kept_tgt = s2s.select_pairs(src, tgt, max_len=6)
    assert kept_src == [src[0], src[3]] and kept_tgt == [tgt[0], tgt[3]]
    assert s2s.select_pairs(src, tgt, max_len=6, prefixes=None)[0] == [src[0], src[2], src[3]]


def test_heldout_source_sentences_never_occur_in_training():
    src = [[f"s{i % 30}"] for i in range(100)]  # 30 sentences, most with several translations
    tgt = [[f"t{i}"] for i in range(100)]
    (train_src, train_tgt), (held_src, held_tgt) = s2s.split_heldout(src, tgt, 0.2, seed=3)
    assert len(train_src) + len(held_src) == 100, "every pair must land on one side"
    assert {s[0] for s in held_src} and not {s[0] for s in held_src} & {s[0] for s in train_src}
    assert len({s[0] for s in held_src}) == 6, "20% of the 30 distinct sources"
    assert s2s.split_heldout(src, tgt, 0.2, seed=3) == ((train_src, train_tgt), (held_src, held_tgt))


def test_vocab_has_reserved_tokens_and_maps_rare_words_to_unk():
    vocab = s2s.make_vocab([["a", "b", "a"], ["c", "a", "b"]], min_freq=2)
    for token in ("<pad>", "<bos>", "<eos>", "<unk>", "a", "b"):
        assert token in vocab.token_to_idx
    assert vocab["c"] == vocab["<unk>"]


def test_build_array_appends_eos_pads_and_counts_valid_length():
    vocab = tiny_vocab()
    array, valid_len = s2s.build_array_nmt([["a", "b"], ["c", "d", "e", "f", "g"]], vocab, num_steps=4)
    pad, eos = vocab["<pad>"], vocab["<eos>"]
    assert array.asnumpy().tolist() == [[vocab["a"], vocab["b"], eos, pad], [vocab[t] for t in "cdef"]]
    assert valid_len.asnumpy().tolist() == [3, 4]


def test_bucket_loader_batches_equal_length_sources_and_padded_targets():
    vocab = tiny_vocab()
    rng = random.Random(0)
    src = [[rng.choice("abcdefgh") for _ in range(rng.randint(1, 4))] for _ in range(50)]
    tgt = [[rng.choice("abcdefgh") for _ in range(rng.randint(1, 5))] for _ in range(50)]
    loader = s2s.BucketLoader(src, tgt, vocab, vocab, batch_size=8, seed=0)
    seen = 0
    for X, Y, Y_valid_len in loader:
        X, Y, vl = X.asnumpy(), Y.asnumpy(), Y_valid_len.asnumpy().astype(int)
        assert (X != vocab["<pad>"]).all() and (X[:, -1] == vocab["<eos>"]).all(), "sources are never padded"
        for row, n in zip(Y, vl):
            assert row[n - 1] == vocab["<eos>"] and (row[n:] == vocab["<pad>"]).all()
            assert (row[:n - 1] != vocab["<eos>"]).all()
        assert vl.max() == Y.shape[1], "targets are padded to the longest of the minibatch"
        seen += len(X)
    assert seen == 50 and len(loader) == len(loader.batches())
    order = loader.batches()
    loader.reseed(0)
    assert loader.batches() == s2s.BucketLoader(src, tgt, vocab, vocab, 8, seed=0).batches() != order


# --- model -----------------------------------------------------------------------------

def test_encoder_and_decoder_output_and_state_shapes():
    batch_size, src_len, tgt_len, embed_size, num_hiddens, num_layers = 4, 7, 5, 8, 16, 2
    encoder = s2s.Seq2SeqEncoder(10, embed_size, num_hiddens, num_layers)
    decoder = s2s.Seq2SeqDecoder(12, embed_size, num_hiddens, num_layers)
    encoder.initialize()
    decoder.initialize()
    X = np.zeros((batch_size, src_len))
    outputs, state = encoder(X, encoder.begin_state(batch_size))
    assert outputs.shape == (src_len, batch_size, num_hiddens)
    assert [s.shape for s in state] == [(num_layers, batch_size, num_hiddens)] * 2  # H and C
    Y_hat, dec_state = decoder(np.zeros((batch_size, tgt_len)), decoder.init_state((outputs, state)))
    assert Y_hat.shape == (batch_size, tgt_len, 12)
    assert [s.shape for s in dec_state] == [(num_layers, batch_size, num_hiddens)] * 2


def test_decoder_starts_from_the_encoders_final_state():
    net = tiny_net()
    X = np.array([[1, 2, 3]])
    _, enc_state = net.encoder(X, net.encoder.begin_state(1))
    state = net.encode(X)
    for a, b in zip(state, enc_state):
        assert onp.array_equal(a.asnumpy(), b.asnumpy())
    assert float(np.abs(state[1]).sum()) > 0, "the context must not be the zero state"


# --- loss ------------------------------------------------------------------------------

def test_masked_loss_ignores_logits_at_padded_positions():
    rng = onp.random.default_rng(0)
    pred = rng.normal(size=(3, 5, 7)).astype("float32")
    label = np.array(rng.integers(0, 7, size=(3, 5)))
    valid_len = np.array([5, 2, 3])
    loss = s2s.MaskedSoftmaxCELoss()
    base = loss(np.array(pred), label, valid_len).asnumpy()
    changed = pred.copy()
    changed[1, 2:] = rng.normal(scale=10, size=(3, 7))
    changed[2, 3:] = rng.normal(scale=10, size=(2, 7))
    assert onp.array_equal(loss(np.array(changed), label, valid_len).asnumpy(), base)
    changed[1, 1, 0] += 1.0  # a valid position does count
    assert not onp.allclose(loss(np.array(changed), label, valid_len).asnumpy()[1], base[1])


def test_masked_loss_hand_computed():
    # sequence 0, valid length 2: softmax([0, ln 2, ln 5]) = [1/8, 2/8, 5/8], label 2 -> -ln(5/8);
    # then uniform logits over 3 tokens -> ln 3; position 2 is padding.
    # sequence 1, valid length 1: label 1 of [0, ln 2, ln 5] -> -ln(2/8).
    row = [0.0, math.log(2), math.log(5)]
    pred = np.array([[row, [0.0, 0.0, 0.0], [9.0, -9.0, 3.0]],
                     [row, [5.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    label = np.array([[2, 0, 1], [1, 2, 2]])
    got = s2s.MaskedSoftmaxCELoss()(pred, label, np.array([2, 1])).asnumpy()
    expected = [-math.log(5 / 8) + math.log(3), -math.log(2 / 8)]
    assert onp.allclose(got, expected, atol=TOL), f"expected {expected}, got {got}"


# --- teacher forcing -------------------------------------------------------------------

def _tf_batch(seed=1):
    rng = onp.random.default_rng(seed)
    X = np.array(rng.integers(4, 12, size=(5, 4)))
    Y = np.array(rng.integers(4, 12, size=(5, 6)))
    return X, s2s.shift_right(Y, bos=1)


def test_ratio_one_feeds_exactly_the_ground_truth_and_equals_stepwise_decoding():
    net = tiny_net()
    X, dec_input = _tf_batch()
    Y_hat, fed = s2s.forward_teacher_forcing(net, X, dec_input, 1.0)
    assert onp.array_equal(fed.asnumpy(), dec_input.asnumpy())
    state, steps = net.encode(X), []
    for t in range(dec_input.shape[1]):  # one step at a time, always the true previous token
        Y_t, state = net.decoder(dec_input[:, t:t + 1], state)
        steps.append(Y_t)
    assert onp.allclose(Y_hat.asnumpy(), np.concatenate(steps, axis=1).asnumpy(), atol=TOL)


def test_ratio_zero_feeds_only_the_models_own_predictions():
    net = tiny_net()
    X, dec_input = _tf_batch()
    Y_hat, fed = s2s.forward_teacher_forcing(net, X, dec_input, 0.0, random.Random(0))
    fed, preds = fed.asnumpy(), Y_hat.asnumpy().argmax(axis=2)
    assert (fed[:, 0] == 1).all(), "step 0 reads <bos>"
    assert onp.array_equal(fed[:, 1:], preds[:, :-1]), "step t reads the prediction of step t-1"
    assert not onp.array_equal(fed, dec_input.asnumpy()), "the test needs predictions that differ from the truth"


def test_intermediate_ratio_follows_one_seeded_coin_per_step():
    net = tiny_net()
    X, dec_input = _tf_batch()
    Y_hat, fed = s2s.forward_teacher_forcing(net, X, dec_input, 0.5, random.Random(7))
    fed, preds, truth = fed.asnumpy(), Y_hat.asnumpy().argmax(axis=2), dec_input.asnumpy()
    coins = random.Random(7)
    for t in range(1, truth.shape[1]):
        expected = truth[:, t] if coins.random() < 0.5 else preds[:, t - 1]
        assert onp.array_equal(fed[:, t], expected), f"step {t}"


# --- greedy decoding -------------------------------------------------------------------

class ScriptedNet:
    """A deterministic stand-in: row ``b`` of the decoder emits ``scripts[b][t]`` at step ``t``."""

    def __init__(self, scripts, vocab_size):
        self.scripts, self.vocab_size, self.fed = scripts, vocab_size, []

    def encode(self, X):
        return [0]  # the state is the step counter

    def decoder(self, dec_X, state):
        t = state[0]
        self.fed.append(dec_X.asnumpy()[:, 0].astype(int).tolist())
        logits = onp.zeros((len(self.scripts), 1, self.vocab_size), dtype="float32")
        for b, script in enumerate(self.scripts):
            logits[b, 0, script[min(t, len(script) - 1)]] = 1.0
        return np.array(logits), [t + 1]


def test_greedy_decoding_stops_at_eos_and_feeds_back_its_predictions():
    vocab = tiny_vocab()
    a, b, c, eos = vocab["a"], vocab["b"], vocab["c"], vocab["<eos>"]
    net = ScriptedNet([[a, b, eos, c, c, c]], len(vocab))
    assert s2s.predict_seq2seq(net, "a b", vocab, vocab, num_steps=6) == "a b"
    assert net.fed == [[vocab["<bos>"]], [a], [b]], "three steps: stop right after <eos>"


def test_greedy_decoding_respects_max_length():
    vocab = tiny_vocab()
    net = ScriptedNet([[vocab["a"]]], len(vocab))  # never emits <eos>
    assert s2s.predict_seq2seq(net, "a", vocab, vocab, num_steps=4) == "a a a a"
    assert len(net.fed) == 4


def test_batched_greedy_decoding_cuts_each_sentence_at_its_own_eos():
    vocab = tiny_vocab()
    a, b, eos = vocab["a"], vocab["b"], vocab["<eos>"]
    net = ScriptedNet([[eos, a, a], [a, b, eos, a], [b, b, b, b, b]], len(vocab))
    assert s2s.predict_seq2seq(net, ["c d", "e f", "g h"], vocab, vocab, num_steps=5) == ["", "a b", "b b b b b"]


def test_batched_and_single_sentence_decoding_agree_on_a_real_model():
    vocab = tiny_vocab()
    net = tiny_net(len(vocab), len(vocab))
    sentences = ["a b c", "d e f", "a", "h g f e"]
    batched = s2s.predict_seq2seq(net, sentences, vocab, vocab, num_steps=6)
    assert batched == [s2s.predict_seq2seq(net, s, vocab, vocab, num_steps=6) for s in sentences]


# --- BLEU ------------------------------------------------------------------------------

def test_bleu_of_a_perfect_translation_is_one_and_of_a_disjoint_one_zero():
    assert d2l.bleu("je suis calme .", "je suis calme .", k=2) == pytest.approx(1.0)
    assert d2l.bleu("il a faim", "je suis calme .", k=2) == 0.0


def test_bleu_hand_computed():
    # p1 = 3/4 (a, b, c match), p2 = 2/3 (ab, bc match), no brevity penalty:
    # BLEU = p1^(1/2) * p2^(1/4)
    assert d2l.bleu("a b c d", "a b c e", k=2) == pytest.approx((3 / 4) ** 0.5 * (2 / 3) ** 0.25, rel=1e-12)
    # a correct but short prediction: p1 = p2 = 1, brevity penalty exp(1 - 4/2)
    assert d2l.bleu("a b", "a b c d", k=2) == pytest.approx(math.exp(-1), rel=1e-12)


def test_papineni_bleu_modified_precision_example_of_the_paper():
    # Papineni et al. (2002), section 2.1, example 2: the candidate "the the the the the the the"
    # against "The cat is on the mat." and "There is a cat on the mat." has modified unigram
    # precision 2/7 ("the" occurs at most twice in one reference). With max_n = 1 the score is
    # that precision times the brevity penalty, 1 here: the closest reference length is 7 = c.
    candidate = "the the the the the the the"
    references = ["the cat is on the mat", "there is a cat on the mat"]
    assert s2s.papineni_bleu(candidate, references, max_n=1) == pytest.approx(2 / 7, rel=1e-12)
    assert s2s.papineni_bleu(candidate, references, max_n=2) == 0.0   # no bigram matches


def test_papineni_bleu_hand_computed():
    # p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2, c = r = 5 so no penalty: the geometric mean
    # with equal weights 1/4, (4/5 * 3/4 * 2/3 * 1/2)^(1/4) = 0.2^(1/4)
    assert s2s.papineni_bleu("a b c d e", "a b c d f") == pytest.approx(0.2 ** 0.25, rel=1e-12)
    # d2l's weights 1/2^n on the same pair with k = 2: p1^(1/2) p2^(1/4), a different number
    assert d2l.bleu("a b c d e", "a b c d f", k=2) == pytest.approx((4 / 5) ** 0.5 * (3 / 4) ** 0.25, rel=1e-12)
    # correct but short: every p_n = 1, brevity penalty exp(1 - r/c) = exp(1 - 6/4)
    assert s2s.papineni_bleu("a b c d", "a b c d e f") == pytest.approx(math.exp(-0.5), rel=1e-12)
    # the reference closest in length sets r: 4 (|4 - 4| = 0), not 6, so no penalty
    assert s2s.papineni_bleu("a b c d", ["a b c d e f", "a b c d"]) == pytest.approx(1.0)
    # on a tie the shorter reference counts: c = 4, references of 3 and 5 tokens, r = 3 < c
    assert s2s.papineni_bleu("a b c d", ["a b c", "a b c d e"], max_n=1) == pytest.approx(1.0)
    # shorter than max_n, or a perfect match
    assert s2s.papineni_bleu("a b c", "a b c") == 0.0
    assert s2s.papineni_bleu("a b c", "a b c", max_n=3) == pytest.approx(1.0)
    assert s2s.papineni_bleu("", "a b c") == 0.0


def test_papineni_bleu_agrees_with_nltk_when_installed():
    translate = pytest.importorskip("nltk.translate.bleu_score")
    pairs = [("je suis un étudiant .", ["je suis étudiant .", "je suis une étudiante ."]),
             ("il est très fatigué aujourd'hui .", ["il est très fatigué ."]),
             ("nous sommes en retard .", ["nous sommes en retard .", "on est en retard ."])]
    for pred, refs in pairs:
        expected = translate.sentence_bleu([r.split() for r in refs], pred.split())
        assert s2s.papineni_bleu(pred, refs) == pytest.approx(expected, rel=1e-12)


# --- training --------------------------------------------------------------------------

def _copy_task(seed=0, n=240):
    rng = random.Random(seed)
    seqs = [[rng.choice("abcdefgh") for _ in range(rng.randint(2, 5))] for _ in range(n)]
    vocab = tiny_vocab()
    return seqs, vocab, s2s.BucketLoader(seqs, seqs, vocab, vocab, batch_size=32, seed=seed)


@pytest.mark.parametrize("ratio", [1.0, 0.5])
def test_training_on_a_copy_task_reduces_the_loss(ratio):
    seqs, vocab, loader = _copy_task()
    net = tiny_net(len(vocab), len(vocab), embed_size=16, num_hiddens=32)
    history = s2s.train_seq2seq(net, loader, lr=0.01, num_epochs=25, tgt_vocab=vocab,
                                teacher_forcing_ratio=ratio, seed=0)
    first, last = history.train_loss[0], history.train_loss[-1]
    assert last < 0.25 * first, f"loss went from {first:.3f} to {last:.3f}"
    copies = s2s.predict_seq2seq(net, [" ".join(s) for s in seqs[:40]], vocab, vocab, num_steps=8)
    exact = sum(c == " ".join(s) for c, s in zip(copies, seqs[:40]))
    assert exact >= 20, f"only {exact} of 40 training sequences copied exactly"


@pytest.mark.parametrize("ratio", [1.0, 0.5])
def test_training_on_fused_weights_gives_the_named_weights_numbers_bit_for_bit(ratio, monkeypatch):
    # without a Trainer, train_seq2seq trains both LSTMs on one flat weight vector each (seqmx.rnn.FusedRNN);
    # with a caller's Trainer over the named weights it cannot, so that run is the unfused reference
    from mxnet import gluon

    from seqmx import rnn
    fused_layers = []
    original = rnn.FusedRNN.__init__

    def spy(self, layer):
        fused_layers.append(layer)
        original(self, layer)
    monkeypatch.setattr(rnn.FusedRNN, "__init__", spy)
    _, vocab, loader = _copy_task(n=96)
    set_seed(0)
    fused = s2s.make_seq2seq(len(vocab), len(vocab), 8, 16, 2, dropout=0.2)
    got = s2s.train_seq2seq(fused, loader, 0.01, 2, vocab, teacher_forcing_ratio=ratio, seed=4).train_loss
    assert len(fused_layers) == 2  # the encoder's LSTM and the decoder's
    set_seed(0)
    named = s2s.make_seq2seq(len(vocab), len(vocab), 8, 16, 2, dropout=0.2)
    trainer = gluon.Trainer(named.collect_params(), "adam", {"learning_rate": 0.01})
    want = s2s.train_seq2seq(named, loader, 0.01, 2, vocab, teacher_forcing_ratio=ratio, seed=4,
                             trainer=trainer).train_loss
    assert len(fused_layers) == 2
    assert got == want
    a, b = fused.collect_params(), named.collect_params()
    assert [n.split("_", 1)[1] for n in a] == [n.split("_", 1)[1] for n in b]  # the named weights are back
    for p, q in zip(a.values(), b.values()):
        assert onp.array_equal(p.data().asnumpy(), q.data().asnumpy()), p.name


def test_training_is_reproducible_with_a_seed():
    _, vocab, loader = _copy_task(n=64)
    losses = []
    for _ in range(2):
        net = tiny_net(len(vocab), len(vocab))
        losses.append(s2s.train_seq2seq(net, loader, 0.01, 2, vocab, teacher_forcing_ratio=0.5, seed=4).train_loss)
    assert losses[0] == losses[1]
