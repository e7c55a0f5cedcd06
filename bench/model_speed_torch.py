"""The PyTorch peer of bench/model_speed.py: one model trained on given minibatches, result as JSON.

Usage (from bench/model_speed.py, in the benchmark-only venv, never the course's .venv):
  .venv-bench/bin/python bench/model_speed_torch.py train --cell gru --data BATCHES.npy --vocab-size 28
  .venv-bench/bin/python bench/model_speed_torch.py train --cell lstm --num-layers 2 --embed-size 200 \
      --num-hiddens 200 --dropout 0.2 --tied --data PTB.npy --vocab-size 10000 --lr 20 --clip 0.25
  .venv-bench/bin/python bench/model_speed_torch.py params --vocab-size 28 --num-hiddens 256
  .venv-bench/bin/python bench/model_speed_torch.py gemm --sizes 1024 2048

The model is the course's language model (seqmx.rnn.RNNModel) in PyTorch:
one-hot input of the vocabulary, one torch.nn.RNN (tanh) / GRU / LSTM layer,
a Linear head to the logits. ``train`` reads the minibatches that
model_speed.py cut with the course's sampler, an int array (num_batches, 2,
batch_size, num_steps) holding X and Y, trains on the first ``--warmup``
(not timed) and then on the next ``--timed`` ones, with the state carried and
detached between minibatches, mean cross-entropy, gradient clipping of the
joint norm at ``--clip`` and plain SGD at ``--lr``: the course's
train_epoch step, written as a PyTorch user would write it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LAYERS = {"rnn": lambda v, h: nn.RNN(v, h, nonlinearity="tanh"), "gru": nn.GRU, "lstm": nn.LSTM}


class TorchLM(nn.Module):
    """One-hot (or, with ``embed_size``, embedded) input -> recurrent layer(s) -> Linear head.

    The larger variants of model_speed.py: ``num_layers``, ``bidirectional``,
    and the PTB model's embedding, dropout (on the embeddings, between the
    layers, on the outputs, as seqmx.wordlm.WordLM) and tied output weight.
    """

    def __init__(self, cell: str, vocab_size: int, num_hiddens: int, num_layers: int = 1,
                 bidirectional: bool = False, embed_size: int | None = None, dropout: float = 0.0,
                 tied: bool = False):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_size) if embed_size else None
        width = embed_size or vocab_size
        kw = dict(num_layers=num_layers, bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.rnn = (nn.RNN(width, num_hiddens, nonlinearity="tanh", **kw) if cell == "rnn"
                    else LAYERS[cell](width, num_hiddens, **kw))
        self.drop = nn.Dropout(dropout)
        self.dense = nn.Linear(num_hiddens * (2 if bidirectional else 1), vocab_size)
        if tied:
            self.dense.weight = self.embedding.weight        # (vocab_size, embed_size == num_hiddens)

    def forward(self, X, state):
        if self.embedding is None:
            X = F.one_hot(X.T, self.vocab_size).float()       # (num_steps, batch_size, vocab_size)
        else:
            X = self.drop(self.embedding(X.T))                # (num_steps, batch_size, embed_size)
        Y, state = self.rnn(X, state)                         # Y: (num_steps, batch_size, num_hiddens * dirs)
        return self.dense(self.drop(Y)).reshape(-1, self.vocab_size), state  # (num_steps * batch_size, vocab)


def num_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def train(net: TorchLM, batches, lr: float, clip: float) -> tuple[float, float]:
    """One pass over ``batches``; returns (tokens, seconds)."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    state, total, count = None, 0.0, 0
    start = time.perf_counter()
    for X, Y in batches:
        state = None if state is None else detach(state)      # None: zeros, as the course's begin_state
        y = Y.T.reshape(-1)                                   # time-major, to match the outputs
        y_hat, state = net(X, state)
        loss = F.cross_entropy(y_hat, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        total += loss.item() * y.numel()                      # a host sync per step, as float(l) in the course
        count += y.numel()
    return count, time.perf_counter() - start


def gemm_gflops(sizes: list[int], repeat: int) -> float:
    """Best float32 square matmul rate over ``sizes`` and ``repeat`` runs each."""
    best = 0.0
    for n in sizes:
        a, b = torch.rand(n, n), torch.rand(n, n)
        torch.mm(a, b)  # warm-up
        for _ in range(repeat):
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["train", "params", "gemm"])
    p.add_argument("--cell", choices=sorted(LAYERS), default="rnn")
    p.add_argument("--data", help="minibatches .npy (num_batches, 2, batch_size, num_steps)")
    p.add_argument("--vocab-size", type=int, default=28)
    p.add_argument("--num-hiddens", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--embed-size", type=int)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--tied", action="store_true")
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--timed", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.mode == "gemm":
        out["gflops"] = gemm_gflops(args.sizes, args.repeat)
    elif args.mode == "params":  # every cell at once: one interpreter start for the test
        out["parameters"] = {cell: num_params(TorchLM(cell, args.vocab_size, args.num_hiddens, args.num_layers,
                                                      args.bidirectional, args.embed_size, args.dropout, args.tied))
                             for cell in LAYERS}
    else:
        net = TorchLM(args.cell, args.vocab_size, args.num_hiddens, args.num_layers, args.bidirectional,
                      args.embed_size, args.dropout, args.tied)
        data = torch.from_numpy(np.load(args.data).astype(np.int64))  # (num_batches, 2, batch_size, num_steps)
        batches = [(b[0], b[1]) for b in data]
        train(net, batches[:args.warmup], args.lr, args.clip)
        tokens, seconds = train(net, batches[args.warmup:args.warmup + args.timed], args.lr, args.clip)
        out.update(parameters=num_params(net), tokens=tokens, seconds=seconds, tokens_per_sec=tokens / seconds)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
