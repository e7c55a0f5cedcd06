"""Train the course's checkpoints into data/checkpoints/ (params, provenance JSON, SHA1SUMS).

Usage: OMP_NUM_THREADS=1 MXNET_ENGINE_TYPE=NaiveEngine python scripts/train_checkpoints.py [NAME ...]
       [--out DIR] [--max-batches N] [--max-epochs N] [--eval-tokens N] [--deadline HH:MM]

Without names, every model of seqmx.checkpoints.MODELS, in order (`make checkpoints`). The
shortening options are for smoke tests; the provenance records them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    from seqmx import checkpoints  # deferred: MXNet loads slowly and --help should not wait for it

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help=f"models to train (default all: {', '.join(checkpoints.MODELS)})")
    p.add_argument("--out", type=Path, default=None, help="directory (default data/checkpoints)")
    p.add_argument("--max-batches", type=int, default=None, help="minibatches per epoch (smoke tests)")
    p.add_argument("--max-epochs", type=int, default=None, help="cap on the epochs (smoke tests)")
    p.add_argument("--eval-tokens", type=int, default=None, help="evaluate on this many held-out tokens only")
    p.add_argument("--deadline", default=None, metavar="HH:MM",
                   help="UTC time: no epoch starts that would end after it (the provenance says so); "
                        "each model gets an equal share of the time left")
    args = p.parse_args(argv)
    names = args.names or list(checkpoints.MODELS)
    unknown = [n for n in names if n not in checkpoints.MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(checkpoints.MODELS)}")
    deadline = None
    if args.deadline:
        now = datetime.now(timezone.utc)
        hh, mm = map(int, args.deadline.split(":"))
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp()
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE") if k in os.environ)
    for i, name in enumerate(names):
        # a fair share of the time left: what one model leaves unused goes to the next
        share = None if deadline is None else time.time() + (deadline - time.time()) / (len(names) - i)
        command = " ".join(filter(None, [env, "python scripts/train_checkpoints.py", *(argv or sys.argv[1:])]))
        print(f"== {name}", flush=True)
        prov = checkpoints.train(name, args.out, max_batches=args.max_batches, max_epochs=args.max_epochs,
                                 eval_tokens=args.eval_tokens, command=command, deadline=share,
                                 log=lambda line: print("  " + line, flush=True))
        ppl = ", ".join(f"{k} {v:.2f}" for k, v in prov["perplexity"].items())
        print(f"   {name}: {prov['epochs']} epochs, {prov['cpu_seconds']:.0f} CPU s, "
              f"{prov['wall_seconds']:.0f} s wall, {prov['params_bytes']:,} bytes; perplexity {ppl}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
