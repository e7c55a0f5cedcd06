"""seqmx: the course library of *Sequence Models with MXNet*.

Each function is taught by one chapter of the book, which shows its code, and
is imported by later chapters and by the exercises. MXNet is imported only by
the modules that need it (not by ``data`` or ``ngram``).

- :mod:`seqmx.data`:  corpora in ``data/`` (checksums), tokenisation, splits, minibatch samplers
- :mod:`seqmx.ngram`: n-gram counting, MLE, Laplace and Kneser-Ney models
- :mod:`seqmx.rnn`:   scratch and Gluon RNN language models, clipping, training, prediction
- :mod:`seqmx.bptt`:  gradient checks, BPTT by hand, gradient norms over time steps
- :mod:`seqmx.gru`:   GRU from scratch (d2l and cuDNN/Gluon "reset-after" forms), Gluon weight copy, forced gates
- :mod:`seqmx.lstm`:  scratch LSTM, peephole and coupled variants, copying Gluon rnn.LSTM weights
- :mod:`seqmx.longrange`: the first-symbol task (a long-range dependency), Gluon RNN/GRU/LSTM on it, state gradients
- :mod:`seqmx.deep`:  deep (stacked) and bidirectional RNNs from scratch, Gluon weight copying, masked-character task
- :mod:`seqmx.seq2seq`: encoder-decoder (2-layer LSTM), masked loss, teacher forcing, greedy decoding, BLEU
- :mod:`seqmx.wordlm`: the PTB word-level LSTM (tied, dropout), its training, evaluation, interpolation with KN
- :mod:`seqmx.checkpoints`: trained models in ``data/checkpoints/``: training with provenance, checksummed loading
- :mod:`seqmx.worked`: the notes' worked-example numbers (001 §6.3, 000, 004) and helpers
- :mod:`seqmx.blas`:  which matrix-product kernels MXNet's bundled OpenBLAS runs on this CPU

Importing ``seqmx`` first sets ``OPENBLAS_CORETYPE`` for this CPU (see :mod:`seqmx.blas`), before
MXNet is loaded: its OpenBLAS does not know recent CPUs and would run its slowest kernels.
"""
from seqmx import blas as _blas

_blas.configure()
