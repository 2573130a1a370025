"""Which kernel ISAs this CPU has, read from /proc/cpuinfo (Linux x86-64)."""

from pathlib import Path

NEEDS = {"ref": set(), "avx2": {"avx2", "fma"},
         "avx512": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_vpopcntdq"}}


def supported(isa: str) -> bool:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return isa == "ref"
    return NEEDS[isa] <= flags
