"""The CPU environment the PyTorch reference scripts (bench/*_reference.py)
set before `import torch`: a competent baseline, since Debian's torch does its
GEMMs through the system BLAS.

OpenBLAS 0.3.21 does not recognise this CPU (it falls back to SSE3 kernels)
unless told its core type, and its own thread pool must match --threads. Both
are read when the library loads, so a script calls configure() first and
imports torch after it.
"""
import os
import sys


def _threads_argument():
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


def _cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " avx512f" in line for line in cpuinfo)
    except OSError:
        return False


def configure():
    # An inherited OPENBLAS_CORETYPE=Haswell (some images set it) halves
    # OpenBLAS's GEMM speed on an AVX-512 CPU, so SkylakeX overrides it there.
    if _cpu_has_avx512():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    else:
        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads_argument())
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
