"""seqmx.blas: MXNet's bundled OpenBLAS runs kernels this CPU supports, never beyond them."""
import json
import os
import subprocess
import sys

import pytest

from seqmx import blas

SSE = {"sse", "sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "avx"}


@pytest.mark.parametrize("flags, want", [
    (SSE | blas.AVX2 | blas.AVX512, "SkylakeX"),
    (SSE | blas.AVX2 | {"avx512f"}, "Haswell"),     # AVX-512 foundation alone is not what SkylakeX runs
    (SSE | blas.AVX2, "Haswell"),
    (SSE | {"avx2"}, None),                          # no FMA: Haswell's kernels would fault
    (SSE, None),
    (set(), None),
])
def test_the_kernels_never_need_an_instruction_the_cpu_lacks(flags, want):
    assert blas.coretype(flags) == want


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert blas.cpu_flags(info) == {"fpu", "sse2", "avx2", "fma"}
    assert blas.cpu_flags(tmp_path / "missing") == set()


def test_a_choice_already_in_the_environment_is_kept():
    environ = {blas.VARIABLE: "Prescott"}
    assert blas.configure(environ) == "Prescott" and environ == {blas.VARIABLE: "Prescott"}
    environ = {}
    assert blas.configure(environ) == blas.coretype() == environ.get(blas.VARIABLE)


def _run(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != blas.VARIABLE}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(blas.coretype() is None, reason="OpenBLAS's own choice on this CPU")
def test_importing_seqmx_first_gives_mxnet_the_kernels_for_this_cpu():
    # a fresh interpreter without the variable, as a student's script starts
    got = _run("import seqmx, mxnet; from seqmx import blas; print(blas.mxnet_kernels())")
    # asked for SkylakeX, the OpenBLAS in MXNet falls back to Haswell's kernels where it lacks AVX-512 ones (here)
    assert got in ({"Haswell", "SkylakeX"} if blas.coretype() == "SkylakeX" else {"Haswell"})
    # the same interpreter importing MXNet first keeps OpenBLAS's own guess; on a CPU newer than
    # OpenBLAS 0.3.13 (this course's machines) that is a kernel without AVX2
    print("OpenBLAS's own choice here:", _run("import mxnet; from seqmx import blas; print(blas.mxnet_kernels())"))


def test_the_course_kernel_carries_the_choice(tmp_path):
    spec = blas.install_kernel(prefix=str(tmp_path)) / "kernel.json"
    kernel = json.loads(spec.read_text())
    assert kernel["argv"][0] == sys.executable
    want = blas.coretype()
    assert kernel.get("env", {}).get(blas.VARIABLE) == want
