"""Which matrix-product kernels MXNet's bundled OpenBLAS runs (chapter "RNN from scratch").

The scratch models' products (``np.dot``) run in the OpenBLAS that the MXNet
1.9.1 wheel bundles: version 0.3.13, from 2020. It chooses its kernels by
the CPU's model number, and a CPU model newer than it (the course's Xeon,
family 6 model 207) is unknown to it: it falls back to its Prescott
kernels, SSE3 only. Measured here, 2 threads, float32 2048 x 2048:
``mx.nd.dot`` at 38 GFLOP/s as detected, 161 with
``OPENBLAS_CORETYPE=Haswell`` (AVX2 and FMA); in one run each, the 256-unit
scratch LSTM trained at 8.6k tokens/s against 5.6k. The choice is read once, when the library
is loaded, so it must be in the environment before ``import mxnet``:
:func:`configure` puts it there when ``seqmx`` is imported, and ``make
venv`` writes it into the Jupyter kernel the course starts
(:func:`install_kernel`).

The kernel is picked from the instruction sets the CPU reports, never
beyond them: SkylakeX where it has AVX-512 (the OpenBLAS in MXNet then runs
its Haswell kernels, the newer one in NumPy its AVX-512 ones: NumPy's 2048
product here 222 -> 311 GFLOP/s), Haswell where it has AVX2 and FMA, and
OpenBLAS's own choice otherwise. A value already in the environment is
kept.
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path

VARIABLE = "OPENBLAS_CORETYPE"
AVX512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}  # what OpenBLAS's SkylakeX kernels use
AVX2 = {"avx2", "fma"}


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags of the first processor in ``cpuinfo`` (empty where there is none)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def coretype(flags: set[str] | None = None) -> str | None:
    """The ``OPENBLAS_CORETYPE`` for a CPU with these flags (this one by default), or None."""
    if flags is None:
        if sys.platform != "linux" or platform.machine() != "x86_64":
            return None  # aarch64 and macOS: OpenBLAS's own detection
        flags = cpu_flags()
    if AVX512 <= flags:
        return "SkylakeX"
    if AVX2 <= flags:
        return "Haswell"
    return None


def configure(environ=os.environ) -> str | None:
    """Put this CPU's kernel choice into ``environ`` unless one is there; return the value in force.

    It reaches MXNet (and NumPy) only if they are imported after this, and
    every process started from here: the grader's sandboxed kernels, the
    book's kernels, nbgrader.
    """
    if VARIABLE not in environ:
        value = coretype()
        if value:
            environ[VARIABLE] = value
    return environ.get(VARIABLE)


def mxnet_kernels() -> str | None:
    """The kernels MXNet's bundled OpenBLAS runs (it is loaded with MXNet), e.g. 'Haswell'; None without one."""
    import ctypes

    import mxnet
    path = Path(mxnet.__file__).parent / "libopenblas.so.0"
    if not path.exists():  # a wheel without OpenBLAS (macOS uses Accelerate)
        return None
    lib = ctypes.CDLL(str(path))  # the library MXNet loaded: dlopen returns it again, it is not re-initialised
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return lib.openblas_get_corename().decode()


def dot_rate(n: int = 1024, repeat: int = 5) -> float:
    """Best GFLOP/s of ``mx.nd.dot`` on two float32 n x n matrices, in this process."""
    import time

    import mxnet as mx
    a, b = mx.nd.random.uniform(shape=(n, n)), mx.nd.random.uniform(shape=(n, n))
    mx.nd.dot(a, b).wait_to_read()  # warm-up: OpenBLAS's buffers and threads
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        mx.nd.dot(a, b).wait_to_read()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def compare_kernels(n: int = 1024) -> dict:
    """``{"own choice": (kernels, GFLOP/s), "seqmx.blas": (kernels, GFLOP/s)}``: MXNet's matrix product
    in two fresh interpreters, one as OpenBLAS detects this CPU, one with :func:`coretype`'s kernels."""
    import subprocess
    code = ("import json, mxnet; from seqmx import blas; "
            f"print(json.dumps([blas.mxnet_kernels(), blas.dot_rate({n})]))")
    rates = {}
    for name, value in (("own choice", None), ("seqmx.blas", coretype())):
        env = {k: v for k, v in os.environ.items() if k != VARIABLE}
        if value:
            env[VARIABLE] = value
        # mxnet before seqmx: importing seqmx first would set the variable
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        kernels, rate = json.loads(out.stdout.strip().splitlines()[-1])
        rates[name] = (kernels, rate)
    return rates


def install_kernel(prefix: str = sys.prefix) -> Path:
    """Write the ``python3`` Jupyter kernel of the environment at ``prefix`` with the choice in its env."""
    from ipykernel.kernelspec import install
    value = coretype()
    env = {VARIABLE: value} if value else {}
    return Path(install(kernel_name="python3", display_name="Python 3 (ipykernel)", prefix=prefix, env=env))

