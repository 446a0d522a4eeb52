"""Precision choice (pipeline.precision): bfloat16 only where the CPU computes it natively."""
from __future__ import annotations

import pytest

from pipeline.precision import cpu_flags, cpu_has_native_bf16, keras_policy, resolve_precision

CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbogomips\t: 4000\n"


def test_flags_are_read_from_cpuinfo():
    assert cpu_flags(CPUINFO.format(extra="amx_bf16")) >= {"avx512f", "amx_bf16"}
    assert cpu_flags("no flags line here") == set()


@pytest.mark.parametrize("extra, native", [("avx512_bf16", True), ("amx_bf16", True), ("avx512_vnni", False)])
def test_auto_is_bfloat16_only_on_native_cpus_without_gpu(extra, native):
    flags = cpu_flags(CPUINFO.format(extra=extra))
    assert cpu_has_native_bf16(flags) is native
    assert resolve_precision("auto", has_gpu=False, flags=flags) == ("bfloat16" if native else "float32")
    assert resolve_precision("auto", has_gpu=True, flags=flags) == "float32"


def test_explicit_choices_are_kept_and_mapped_to_keras_policies():
    none = set()
    assert resolve_precision("bfloat16", False, none) == "bfloat16"  # the user's word wins
    assert [keras_policy(p) for p in ("float32", "bfloat16", "float16")] == [
        "float32", "mixed_bfloat16", "mixed_float16"]
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int8", False, none)
