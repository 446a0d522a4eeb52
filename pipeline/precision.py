"""Choosing the Keras dtype policy of a run: float32, or mixed precision where the hardware has it.

bfloat16 pays off on CPUs that compute it natively (AVX512_BF16 or AMX-BF16: oneDNN then runs the
convolutions in bfloat16); elsewhere it is emulated and slower, so 'auto' picks it only there.
float16 is for GPUs.
"""
from __future__ import annotations

from pathlib import Path

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU feature flags of this machine (Linux /proc/cpuinfo; empty set elsewhere)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        try:
            cpuinfo = path.read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(flags: set[str] | None = None) -> bool:
    """True when the CPU has bfloat16 arithmetic (AVX512_BF16 or AMX-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in BF16_CPU_FLAGS)


def resolve_precision(precision: str, has_gpu: bool, flags: set[str] | None = None) -> str:
    """The concrete precision ('float32', 'bfloat16' or 'float16') of a config's ``precision``.

    'auto' is bfloat16 on a CPU-only machine with native bfloat16, else float32.
    """
    if precision != "auto":
        if precision not in POLICIES:
            raise ValueError(f"unknown precision {precision!r}; choose auto, {', '.join(POLICIES)}")
        return precision
    if not has_gpu and cpu_has_native_bf16(flags):
        return "bfloat16"
    return "float32"


def keras_policy(precision: str) -> str:
    """The Keras dtype policy name of a concrete precision."""
    return POLICIES[precision]
