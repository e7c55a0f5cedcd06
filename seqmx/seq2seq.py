"""Encoder-decoder (sequence to sequence) translation with a two-layer LSTM, teacher forcing and BLEU.

Taught in chapter "Encoder-decoder and sequence to sequence". The pieces:

- data: :func:`preprocess_nmt`, :func:`tokenize_nmt`, :func:`select_pairs`,
  :func:`split_heldout`, :func:`truncate_pad`, :func:`build_array_nmt`,
  :class:`BucketLoader` and :func:`load_data_nmt`, which turn the Tatoeba
  English-French pairs into padded minibatches with valid lengths;
- model: :class:`Seq2SeqEncoder` and :class:`Seq2SeqDecoder` (embedding plus
  a stacked Gluon ``rnn.LSTM``; the decoder starts from the encoder's final
  state, as in Sutskever et al. 2014), joined by :class:`EncoderDecoder`;
- training: :class:`MaskedSoftmaxCELoss` (padding does not count),
  :func:`forward_teacher_forcing` (ground truth or the model's own previous
  prediction, chosen per time step with probability
  ``teacher_forcing_ratio``) and :func:`train_seq2seq`;
- inference: :func:`predict_seq2seq` (greedy decoding),
  :func:`beam_search_seq2seq` (beam search, a batch of sources at once),
  :func:`evaluate_bleu` (``d2l.bleu`` over held-out pairs) and
  :func:`papineni_bleu` (the BLEU of Papineni et al. 2002 for one sentence:
  uniform weights over 1- to 4-grams, several references, brevity penalty),
  to compare with d2l's.

Shapes follow d2l: a minibatch ``X`` is (batch_size, num_steps) of token
indices, the recurrent layers run time-major (num_steps, batch_size, ...), and
the decoder returns logits (batch_size, num_steps, vocab_size). A state is the
list ``[H, C]`` of Gluon's ``rnn.LSTM``, each (num_layers, batch_size,
num_hiddens).
"""
from __future__ import annotations

import contextlib
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import d2l.mxnet as d2l
import mxnet as mx
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn, rnn

from seqmx import data
from seqmx.rnn import fused_weights, grad_clipping

npx.set_np()

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"

#: English beginnings kept by :func:`select_pairs` (after :func:`preprocess_nmt`, which
#: keeps apostrophes inside tokens: "i'm" is one token).
ENG_PREFIXES = ("i am ", "i'm ", "he is ", "he's ", "she is ", "she's ", "you are ", "you're ",
                "we are ", "we're ", "they are ", "they're ")


# --- data ------------------------------------------------------------------------------

def preprocess_nmt(text: str) -> str:
    """Lower-case, turn non-breaking spaces into spaces, put a space before , . ! ? (as d2l).

    d2l inserts the space character by character; one regular expression
    does the same (a punctuation mark not preceded by a space, and not at the
    start, gets a space before it) about twice as fast.
    """
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()  # French typography: "Cours\u202f!"
    return re.sub(r"(?<=[^ ])([,.!?])", r" \1", text)


def tokenize_nmt(pairs: list[tuple[str, str]]) -> tuple[list[list[str]], list[list[str]]]:
    """Preprocess and split every pair on spaces: ``(source token lists, target token lists)``."""
    source, target = [], []
    for src, tgt in pairs:
        source.append(preprocess_nmt(src).split())
        target.append(preprocess_nmt(tgt).split())
    return source, target


def select_pairs(source: list[list[str]], target: list[list[str]], max_len: int = 6,
                 prefixes: tuple[str, ...] | None = ENG_PREFIXES) -> tuple[list, list]:
    """Keep the pairs whose two sides have at most ``max_len`` tokens and whose source starts with a prefix.

    ``prefixes=None`` keeps every short pair. The filter makes a small, fairly
    homogeneous task ("i am cold ." -> "j'ai froid .") that a small model can
    learn in a minute on a CPU.
    """
    keep = [i for i, (s, t) in enumerate(zip(source, target))
            if len(s) <= max_len and len(t) <= max_len
            and (prefixes is None or " ".join(s).startswith(prefixes))]
    return [source[i] for i in keep], [target[i] for i in keep]


def split_heldout(source: list[list[str]], target: list[list[str]], heldout_fraction: float = 0.1,
                  seed: int = 0) -> tuple[tuple[list, list], tuple[list, list]]:
    """Split pairs into training and held-out pairs by *source sentence*, seeded.

    Tatoeba often has several translations of one English sentence; all of
    them go to the same side, so no held-out source sentence is ever seen in
    training. Returns ``((train_src, train_tgt), (heldout_src, heldout_tgt))``.
    """
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    sentences = sorted({" ".join(s) for s in source})
    random.Random(seed).shuffle(sentences)
    heldout = set(sentences[:int(len(sentences) * heldout_fraction)])
    train, held = ([], []), ([], [])
    for s, t in zip(source, target):
        side = held if " ".join(s) in heldout else train
        side[0].append(s)
        side[1].append(t)
    return train, held


def make_vocab(sentences: list[list[str]], min_freq: int = 2) -> d2l.Vocab:
    """A d2l vocabulary with ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>``; rarer tokens become ``<unk>``."""
    return d2l.Vocab(sentences, min_freq=min_freq, reserved_tokens=[PAD, BOS, EOS])


def truncate_pad(line: list[int], num_steps: int, padding_token: int) -> list[int]:
    """Cut ``line`` to ``num_steps`` tokens or pad it with ``padding_token`` up to that length."""
    if len(line) > num_steps:
        return line[:num_steps]
    return line + [padding_token] * (num_steps - len(line))


def build_array_nmt(lines: list[list[str]], vocab: d2l.Vocab, num_steps: int):
    """Token lists -> indices with ``<eos>`` appended, padded to ``num_steps``, and their valid lengths.

    Returns ``(array (len(lines), num_steps), valid_len (len(lines),))``; the
    valid length counts ``<eos>`` but no padding.
    """
    lines = [vocab[line] + [vocab[EOS]] for line in lines]
    array = np.array([truncate_pad(line, num_steps, vocab[PAD]) for line in lines])
    valid_len = np.array([min(len(line), num_steps) for line in lines])
    return array, valid_len


class BucketLoader:
    """Minibatches ``(X, Y, Y_valid_len)`` whose source sentences all have the same length.

    MXNet's CPU LSTM ignores ``sequence_length`` (the final state is always the
    one after the last, possibly padded, step), so a padded source would feed
    ``<pad>`` tokens into the encoder's final state. Grouping pairs by source
    length (*bucketing*) removes source padding altogether; targets are padded
    with ``<pad>`` to the longest target of the minibatch and masked in the
    loss through ``Y_valid_len``. Batches are reshuffled every pass from a
    seeded generator.
    """

    def __init__(self, source: list[list[str]], target: list[list[str]], src_vocab: d2l.Vocab,
                 tgt_vocab: d2l.Vocab, batch_size: int, seed: int = 0, shuffle: bool = True):
        self.src = [src_vocab[s] + [src_vocab[EOS]] for s in source]
        self.tgt = [tgt_vocab[t] + [tgt_vocab[EOS]] for t in target]
        self.pad = tgt_vocab[PAD]
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rng = random.Random(seed)
        self.buckets: dict[int, list[int]] = {}
        for i, s in enumerate(self.src):
            self.buckets.setdefault(len(s), []).append(i)

    def reseed(self, seed: int) -> None:
        """Restart the generator: the following passes repeat those of a new loader with this seed."""
        self.rng = random.Random(seed)

    def batches(self) -> list[list[int]]:
        """The index lists of one pass (shuffled within buckets, then in order of batches)."""
        batches = []
        for length in sorted(self.buckets):
            idx = list(self.buckets[length])
            if self.shuffle:
                self.rng.shuffle(idx)
            batches += [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        if self.shuffle:
            self.rng.shuffle(batches)
        return batches

    def __iter__(self):
        for idx in self.batches():
            num_steps = max(len(self.tgt[i]) for i in idx)
            X = np.array([self.src[i] for i in idx])                                     # (batch_size, src_len)
            Y = np.array([truncate_pad(self.tgt[i], num_steps, self.pad) for i in idx])  # (batch_size, num_steps)
            Y_valid_len = np.array([len(self.tgt[i]) for i in idx])                      # (batch_size,)
            yield X, Y, Y_valid_len

    def __len__(self) -> int:
        return sum(math.ceil(len(b) / self.batch_size) for b in self.buckets.values())


@dataclass
class NMTData:
    """What :func:`load_data_nmt` returns: the loader, both vocabularies and the pairs as token lists."""
    train_iter: BucketLoader
    src_vocab: d2l.Vocab
    tgt_vocab: d2l.Vocab
    train: tuple[list, list]
    heldout: tuple[list, list]


def load_data_nmt(batch_size: int, max_len: int = 6, prefixes: tuple[str, ...] | None = ENG_PREFIXES,
                  heldout_fraction: float = 0.1, min_freq: int = 2, seed: int = 0) -> NMTData:
    """English -> French pairs of at most ``max_len`` tokens, split by source sentence, vocabularies from training pairs.

    The vocabularies are built from the training pairs only, so a held-out
    word unseen in training becomes ``<unk>``, as it would for a new sentence.
    """
    # Preprocessing only adds spaces, so a pair with more than max_len whitespace-separated
    # words can never pass the length filter: drop it before the (slower) preprocessing.
    pairs = [(src, tgt) for src, tgt in data.read_fra_eng()
             if len(src.split()) <= max_len and len(tgt.split()) <= max_len]
    source, target = tokenize_nmt(pairs)
    source, target = select_pairs(source, target, max_len, prefixes)
    train, heldout = split_heldout(source, target, heldout_fraction, seed)
    src_vocab, tgt_vocab = make_vocab(train[0], min_freq), make_vocab(train[1], min_freq)
    train_iter = BucketLoader(*train, src_vocab, tgt_vocab, batch_size, seed)
    return NMTData(train_iter, src_vocab, tgt_vocab, train, heldout)


# --- the model -------------------------------------------------------------------------

class Seq2SeqEncoder(nn.HybridBlock):
    """Embedding plus a stacked LSTM; its final state ``[H, C]`` (all layers) is the context."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)  # token index -> dense vector
        self.rnn = rnn.LSTM(num_hiddens, num_layers, dropout=dropout)

    def hybrid_forward(self, F, X, state):
        # X: (batch_size, num_steps) token indices; state: [H, C], each (num_layers, batch_size, num_hiddens)
        X = self.embedding(X.T)                # (num_steps, batch_size, embed_size)
        outputs, state = self.rnn(X, state)    # outputs: (num_steps, batch_size, num_hiddens), top layer only
        return outputs, state

    def begin_state(self, batch_size: int, ctx=None) -> list:
        """Zeros ``[H, C]``, each (num_layers, batch_size, num_hiddens)."""
        return self.rnn.begin_state(batch_size=batch_size, ctx=ctx or mx.cpu())


class Seq2SeqDecoder(nn.HybridBlock):
    """Embedding, a stacked LSTM started from the encoder's final state, and a dense layer to the vocabulary.

    As in note 003 (and Sutskever et al.), the context reaches the decoder
    only through its initial state: layer ``l`` starts from the encoder's
    final ``(H, C)`` of layer ``l``, so both need the same ``num_hiddens`` and
    ``num_layers``. (d2l also concatenates the context to every decoder input.)
    """

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = rnn.LSTM(num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Dense(vocab_size, flatten=False)  # top hidden state -> logits

    def init_state(self, enc_outputs) -> list:
        """The decoder's initial state: the encoder's final ``[H, C]``."""
        return enc_outputs[1]

    def hybrid_forward(self, F, X, state):
        # X: (batch_size, num_steps) decoder inputs (<bos>, y_1, ..., or one step at a time)
        X = self.embedding(X.T)                          # (num_steps, batch_size, embed_size)
        outputs, state = self.rnn(X, state)              # (num_steps, batch_size, num_hiddens)
        outputs = self.dense(outputs).swapaxes(0, 1)     # (batch_size, num_steps, vocab_size)
        return outputs, state


class EncoderDecoder(nn.Block):
    """Encode ``enc_X``, start the decoder from the encoder's final state, decode ``dec_X``."""

    def __init__(self, encoder: Seq2SeqEncoder, decoder: Seq2SeqDecoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder

    def encode(self, enc_X) -> list:
        """The decoder's initial state for source minibatch ``enc_X`` (batch_size, src_len)."""
        enc_outputs = self.encoder(enc_X, self.encoder.begin_state(enc_X.shape[0], enc_X.ctx))
        return self.decoder.init_state(enc_outputs)

    def forward(self, enc_X, dec_X):
        return self.decoder(dec_X, self.encode(enc_X))  # logits (batch_size, num_steps, vocab_size), state


def make_seq2seq(src_vocab_size: int, tgt_vocab_size: int, embed_size: int = 64, num_hiddens: int = 128,
                 num_layers: int = 2, dropout: float = 0.0, hybridize: bool = True) -> EncoderDecoder:
    """A Xavier-initialised two-layer LSTM encoder-decoder (call ``seqmx.rnn.set_seed`` first)."""
    net = EncoderDecoder(Seq2SeqEncoder(src_vocab_size, embed_size, num_hiddens, num_layers, dropout),
                         Seq2SeqDecoder(tgt_vocab_size, embed_size, num_hiddens, num_layers, dropout))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()  # the encoder and decoder are HybridBlocks: each becomes one cached graph
    return net


# --- training --------------------------------------------------------------------------

class MaskedSoftmaxCELoss(gluon.loss.Loss):
    """Softmax cross-entropy summed over the valid positions of each sequence; padding counts zero.

    ``pred`` (batch_size, num_steps, vocab_size) logits, ``label``
    (batch_size, num_steps), ``valid_len`` (batch_size,). Returns the loss of
    each sequence (batch_size,); divide the sum by ``valid_len.sum()`` for the
    mean loss per token.
    """

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, pred, label, valid_len):
        nll = -F.npx.pick(F.npx.log_softmax(pred, axis=-1), label, axis=-1)  # (batch_size, num_steps)
        mask = F.npx.sequence_mask(F.np.ones_like(nll), valid_len,          # 1 for t < valid_len, else 0
                                   use_sequence_length=True, value=0, axis=1)
        return (nll * mask).sum(axis=1)                                      # (batch_size,)


def shift_right(Y, bos: int):
    """Decoder inputs for targets ``Y`` (batch_size, num_steps): ``<bos>`` then ``Y`` without its last column."""
    bos_col = np.full((Y.shape[0], 1), bos, dtype=Y.dtype)  # (batch_size, 1)
    return np.concatenate([bos_col, Y[:, :-1]], axis=1)     # (batch_size, num_steps)


def forward_teacher_forcing(net: EncoderDecoder, X, dec_input, teacher_forcing_ratio: float = 1.0,
                            rng: random.Random | None = None):
    """Decoder logits for training, with ground-truth inputs at a given ratio of time steps.

    ``dec_input`` (batch_size, num_steps) is ``<bos>, y_1, ..., y_{T-1}``, the
    ground truth shifted right. Step 0 always reads ``<bos>``; at every later
    step one coin (for the whole minibatch, as in note 003) decides: with
    probability ``teacher_forcing_ratio`` the decoder reads the true previous
    token, otherwise its own previous greedy prediction. Ratio 1 is plain
    teacher forcing and runs all steps in one call. Returns the logits
    (batch_size, num_steps, vocab_size) and the inputs actually fed
    (batch_size, num_steps).
    """
    state = net.encode(X)
    if teacher_forcing_ratio >= 1:
        Y_hat, _ = net.decoder(dec_input, state)
        return Y_hat, dec_input
    rng = rng or random.Random(0)
    fed, outputs = [dec_input[:, :1]], []
    for t in range(dec_input.shape[1]):
        Y_t, state = net.decoder(fed[-1], state)      # (batch_size, 1, vocab_size)
        outputs.append(Y_t)
        if t + 1 < dec_input.shape[1]:
            if rng.random() < teacher_forcing_ratio:
                fed.append(dec_input[:, t + 1:t + 2])  # ground truth y_{t+1}
            else:
                with autograd.pause():                # a prediction is data, not a path for gradients
                    fed.append(Y_t.argmax(axis=2).astype(dec_input.dtype))  # (batch_size, 1)
    return np.concatenate(outputs, axis=1), np.concatenate(fed, axis=1)


@dataclass
class Seq2SeqHistory:
    """Per-epoch training loss (mean cross-entropy per target token) and throughput."""
    train_loss: list = field(default_factory=list)
    tokens_per_sec: list = field(default_factory=list)
    seconds: float = 0.0


def train_seq2seq(net: EncoderDecoder, train_iter: BucketLoader, lr: float, num_epochs: int,
                  tgt_vocab: d2l.Vocab, teacher_forcing_ratio: float = 1.0, clip_theta: float | None = 1.0,
                  seed: int = 0, verbose_every: int = 0,
                  trainer: gluon.Trainer | None = None) -> Seq2SeqHistory:
    """Train with Adam on the masked loss per token, clipping gradients, teacher forcing at a ratio.

    ``seed`` reseeds the minibatch order of ``train_iter`` and seeds the
    teacher-forcing coins, so runs with the same seed see the same
    minibatches in the same order, whatever their ratio. Pass a ``trainer``
    to continue training with its optimizer state (``lr`` is then ignored).
    """
    train_iter.reseed(seed)
    loss = MaskedSoftmaxCELoss()
    rng = random.Random(seed)
    bos = tgt_vocab[BOS]
    history = Seq2SeqHistory()
    start = time.perf_counter()
    # without a caller's Trainer the LSTMs train on one flat weight vector each (seqmx.rnn.fused_weights):
    # the same numbers, less copying; a caller's Trainer holds the named weights, so they stay
    fused = contextlib.nullcontext() if trainer else fused_weights(net, lambda: net(np.zeros((1, 1)), np.zeros((1, 1))))
    with fused:
        trainer = trainer or gluon.Trainer(net.collect_params(), "adam", {"learning_rate": lr})
        for epoch in range(num_epochs):
            total, count, epoch_start = 0.0, 0, time.perf_counter()
            for X, Y, Y_valid_len in train_iter:
                dec_input = shift_right(Y, bos)  # (batch_size, num_steps): <bos>, y_1, ..., y_{T-1}
                num_tokens = float(Y_valid_len.sum())
                with autograd.record():
                    Y_hat, _ = forward_teacher_forcing(net, X, dec_input, teacher_forcing_ratio, rng)
                    l = loss(Y_hat, Y, Y_valid_len).sum() / num_tokens
                l.backward()
                grad_clipping(net, clip_theta)
                trainer.step(1)  # the loss is already a mean per token
                total += float(l) * num_tokens
                count += num_tokens
            history.train_loss.append(total / count)
            history.tokens_per_sec.append(count / (time.perf_counter() - epoch_start))
            if verbose_every and (epoch + 1) % verbose_every == 0:
                print(f"epoch {epoch + 1}: loss {history.train_loss[-1]:.3f}, "
                      f"{history.tokens_per_sec[-1]:,.0f} tokens/s")
    history.seconds = time.perf_counter() - start
    return history


# --- inference -------------------------------------------------------------------------

def predict_seq2seq(net: EncoderDecoder, src_sentences: str | list[str], src_vocab: d2l.Vocab,
                    tgt_vocab: d2l.Vocab, num_steps: int) -> str | list[str]:
    """Greedy decoding: feed back the most likely token until ``<eos>`` or ``num_steps`` tokens.

    Each source is preprocessed like the training data and ends with
    ``<eos>``. Sentences of equal length are decoded together as one
    minibatch (no padding, so each translation is the same as decoded alone).
    Returns the predicted target tokens joined by spaces, without ``<eos>``:
    a string for a string, a list for a list.
    """
    single = isinstance(src_sentences, str)
    sentences = [src_sentences] if single else list(src_sentences)
    sources = [src_vocab[preprocess_nmt(s).split()] + [src_vocab[EOS]] for s in sentences]
    eos = tgt_vocab[EOS]
    translations = [""] * len(sources)
    buckets: dict[int, list[int]] = {}
    for i, src in enumerate(sources):
        buckets.setdefault(len(src), []).append(i)
    for idx in buckets.values():
        state = net.encode(np.array([sources[i] for i in idx]))   # X: (batch_size, src_len)
        dec_X = np.full((len(idx), 1), tgt_vocab[BOS])            # (batch_size, 1): <bos>
        preds = []
        for _ in range(num_steps):
            Y, state = net.decoder(dec_X, state)                  # (batch_size, 1, vocab_size)
            dec_X = Y.argmax(axis=2).astype(dec_X.dtype)          # the prediction is the next input
            preds.append(dec_X)
            if bool((np.concatenate(preds, axis=1) == eos).any(axis=1).all()):
                break                                             # every sentence has ended
        preds = np.concatenate(preds, axis=1).asnumpy().astype(int).tolist()  # (batch_size, <= num_steps)
        for i, row in zip(idx, preds):
            row = row[:row.index(eos)] if eos in row else row    # cut at the first <eos>
            # (d2l's Vocab.to_tokens fails on lists of length 0 or 1, so index directly)
            translations[i] = " ".join(tgt_vocab.idx_to_token[j] for j in row)
    return translations[0] if single else translations


def beam_search_seq2seq(net: EncoderDecoder, src_sentences: str | list[str], src_vocab: d2l.Vocab,
                        tgt_vocab: d2l.Vocab, num_steps: int, beam_size: int = 4) -> str | list[str]:
    """Beam search: keep the ``beam_size`` most probable partial translations of each source at every step.

    Same interface and output as :func:`predict_seq2seq`. A translation's score is the sum of the
    log-probabilities of its tokens, ``<eos>`` included (no length normalisation). At each step
    every kept translation that has not ended is extended by every target token, and the
    ``beam_size`` best of all extensions of a source are kept; one that has emitted ``<eos>`` stays
    in the beam with its score (it competes with the longer ones, and is not extended). Decoding
    stops when every kept translation has ended, or after ``num_steps`` tokens; the best kept one is
    returned. ``beam_size=1`` is greedy decoding. Sources of equal length are decoded together, the
    beams of each source as rows of one minibatch of ``len(sources) * beam_size`` rows.
    """
    import numpy as onp
    single = isinstance(src_sentences, str)
    sentences = [src_sentences] if single else list(src_sentences)
    sources = [src_vocab[preprocess_nmt(s).split()] + [src_vocab[EOS]] for s in sentences]
    bos, eos, K, V = tgt_vocab[BOS], tgt_vocab[EOS], beam_size, len(tgt_vocab)
    translations = [""] * len(sources)
    buckets: dict[int, list[int]] = {}
    for i, src in enumerate(sources):
        buckets.setdefault(len(src), []).append(i)
    for idx in buckets.values():
        B = len(idx)
        state = net.encode(np.array([sources[i] for i in idx]))          # [H, C], each (layers, B, hiddens)
        rows = np.array(onp.repeat(onp.arange(B), K))                     # row b * K + k: beam k of source b
        state = [s.take(rows, axis=1) for s in state]                     # each (layers, B * K, hiddens)
        scores = onp.full((B, K), -onp.inf)
        scores[:, 0] = 0.0                                                # one beam at the start
        tokens = onp.zeros((B, K, 0), dtype=int)
        ended = onp.zeros((B, K), dtype=bool)
        dec_X = np.full((B * K, 1), bos)
        for _ in range(num_steps):
            Y, state = net.decoder(dec_X, state)                          # (B * K, 1, V)
            log_p = npx.log_softmax(Y[:, 0]).asnumpy().astype(float).reshape(B, K, V)
            log_p[ended] = -onp.inf                                       # an ended beam is not extended:
            log_p[ended, eos] = 0.0                                       # it stays, with its score
            candidates = (scores[:, :, None] + log_p).reshape(B, K * V)
            best = onp.argsort(-candidates, axis=1, kind="stable")[:, :K]  # (B, K) the K best extensions
            beam, token = best // V, best % V                             # which beam, which new token
            scores = onp.take_along_axis(candidates, best, axis=1)
            tokens = onp.concatenate([onp.take_along_axis(tokens, beam[:, :, None], axis=1),
                                      token[:, :, None]], axis=2)
            ended = onp.take_along_axis(ended, beam, axis=1) | (token == eos)
            if ended.all():
                break
            parents = np.array((onp.arange(B)[:, None] * K + beam).reshape(-1))
            state = [s.take(parents, axis=1) for s in state]              # each kept beam's own state
            dec_X = np.array(token.reshape(-1, 1)).astype(dec_X.dtype)
        for b, i in enumerate(idx):
            row = tokens[b, scores[b].argmax()].tolist()
            row = row[:row.index(eos)] if eos in row else row
            translations[i] = " ".join(tgt_vocab.idx_to_token[j] for j in row)
    return translations[0] if single else translations


def papineni_bleu(pred_seq: str, label_seqs: str | list[str], max_n: int = 4) -> float:
    """BLEU of Papineni et al. (2002) for one prediction, against one or several references.

    Tokens are separated by spaces, as in ``d2l.bleu``. For each order ``n`` up to ``max_n``,
    the modified precision ``p_n`` counts each n-gram of the prediction at most as often as
    it occurs in the reference that has it most often. The score is the geometric mean of
    ``p_1, ..., p_max_n`` with equal weights ``1/max_n`` (d2l weighs ``p_n`` by ``1/2**n``),
    times the brevity penalty ``exp(1 - r/c)`` when the prediction's length ``c`` is at most
    ``r``, the reference length closest to ``c`` (the shorter one on a tie). No smoothing: a
    prediction with no matching n-gram of some order, or shorter than ``max_n`` tokens,
    scores 0. Papineni et al. pool the counts of a whole corpus before dividing; this is
    their formula applied to a single sentence.
    """
    references = [label_seqs] if isinstance(label_seqs, str) else list(label_seqs)
    pred = pred_seq.split()
    refs = [ref.split() for ref in references]
    c = len(pred)
    if c == 0:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_n + 1):
        pred_ngrams = Counter(tuple(pred[i:i + n]) for i in range(c - n + 1))
        most = Counter()  # for each n-gram, its largest count in any one reference
        for ref in refs:
            most |= Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
        matches = sum(min(count, most[g]) for g, count in pred_ngrams.items())
        if matches == 0:
            return 0.0
        log_precision += math.log(matches / (c - n + 1)) / max_n
    r = min((abs(len(ref) - c), len(ref)) for ref in refs)[1]
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return brevity * math.exp(log_precision)


def evaluate_bleu(net: EncoderDecoder, source: list[list[str]], target: list[list[str]], src_vocab: d2l.Vocab,
                  tgt_vocab: d2l.Vocab, num_steps: int, k: int = 2) -> list[dict]:
    """Translate each source greedily and score it with ``d2l.bleu`` against its reference.

    Returns one dict per pair: ``source``, ``reference``, ``prediction``, ``bleu``.
    """
    sources, references = [" ".join(s) for s in source], [" ".join(t) for t in target]
    predictions = predict_seq2seq(net, sources, src_vocab, tgt_vocab, num_steps)
    return [{"source": src, "reference": ref, "prediction": pred, "bleu": d2l.bleu(pred, ref, k)}
            for src, ref, pred in zip(sources, references, predictions)]


def evaluate_loss(net: EncoderDecoder, data_iter: BucketLoader, tgt_vocab: d2l.Vocab,
                  teacher_forcing_ratio: float = 1.0, seed: int = 0) -> float:
    """Mean masked cross-entropy per target token of the references, decoder fed at the given ratio.

    With ratio 1 the decoder reads the true previous tokens (the training
    condition of teacher forcing); with ratio 0 it reads its own greedy
    predictions (the condition at test time), and the loss is that of the
    reference tokens in the context the model made for itself.
    """
    loss, rng = MaskedSoftmaxCELoss(), random.Random(seed)
    total, count = 0.0, 0
    for X, Y, Y_valid_len in data_iter:
        dec_input = shift_right(Y, tgt_vocab[BOS])
        Y_hat, _ = forward_teacher_forcing(net, X, dec_input, teacher_forcing_ratio, rng)
        total += float(loss(Y_hat, Y, Y_valid_len).sum())
        count += float(Y_valid_len.sum())
    return total / count
