"""What this CPU offers, and which inference path actually gains on it.

The build machines change from day to day (an Intel Xeon with AMX one day, an AMD EPYC with
AVX2 only another), and bfloat16 is only fast where the CPU has bfloat16 units: AMX or
AVX512-BF16. Elsewhere it is emulated and slower than float32, so ``--fast`` must not pick it.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

#: The engines a model runs on: ``inference_function(engine=...)``, ``--engine``.
ENGINES = ("keras", "openvino")
#: /proc/cpuinfo flags that matter here, in the order they are reported.
FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


@dataclass(frozen=True)
class CPU:
    model: str
    features: tuple[str, ...]
    vendor: str = ""  # "GenuineIntel", "AuthenticAMD"
    family: int = 0
    model_number: int = 0  # /proc/cpuinfo's "model": with the family, what a generic name hides

    @property
    def fp32_flops_per_cycle(self) -> int:
        """Peak float32 FLOP per cycle and core: two FMA units of the widest vector width the
        core executes natively. AMD before Zen 5 (family 26) runs AVX-512 as two 256-bit halves."""
        if "avx512f" in self.features and not (self.vendor == "AuthenticAMD" and self.family < 26):
            return 2 * 16 * 2
        return 2 * 8 * 2 if "avx2" in self.features or "avx512f" in self.features else 2 * 4 * 2

    @property
    def bfloat16_units(self) -> bool:
        """True where bfloat16 runs in hardware (AMX or AVX512-BF16)."""
        return "amx_bf16" in self.features or "avx512_bf16" in self.features

    @property
    def int8_units(self) -> str:
        """The int8 matrix units int8 inference runs on: ``"AMX"``, ``"AVX512-VNNI"``,
        ``"AVX-VNNI"``, or ``""`` where 8-bit products are emulated with wider instructions."""
        for flag, units in (("amx_int8", "AMX"), ("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI")):
            if flag in self.features:
                return units
        return ""


@functools.cache
def cpu() -> CPU:
    """This machine's CPU model and its features among ``FLAGS`` (Linux: /proc/cpuinfo)."""
    model, flags, fields = platform.processor() or platform.machine(), set(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or model
    flags = set(fields.get("flags", "").split())
    family, number = (int(fields[k]) if fields.get(k, "").isdigit() else 0 for k in ("cpu family", "model"))
    return CPU(model, tuple(f for f in FLAGS if f in flags), fields.get("vendor_id", ""), family, number)


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def installed_engines() -> tuple[str, ...]:
    """The ``ENGINES`` that can run here (OpenVINO is an extra)."""
    return ENGINES if openvino_available() else ("keras",)


def fast_plan(engine: str | None = None) -> tuple[str, str, str]:
    """``(precision, engine, note)`` for ``--fast`` on this CPU.

    bfloat16 where the CPU has bfloat16 units (on the engine asked for, Keras by default);
    otherwise float32 on the fastest float32 engine installed (OpenVINO if present), and a note
    saying why.
    """
    here = cpu()
    if here.bfloat16_units:
        return "bfloat16", engine or "keras", ""
    best = engine or ("openvino" if openvino_available() else "keras")
    note = (
        f"--fast: {here.model} has no bfloat16 units (no AMX or AVX512-BF16), where bfloat16 is "
        f"slower than float32; running float32 on the {best} engine"
    )
    return "float32", best, note
