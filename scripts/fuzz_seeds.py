#!/usr/bin/env python3
"""Seed a fuzz corpus from the committed fixture captures: fuzz_seeds.py TARGET DIR.

header, lz4, transform, stats and diff get whole capture files (lz4: compressed ones, without the magic
the target adds back); records and aggregated_records get the record streams of the
uncompressed full or aggregated captures (the bytes after the header, which the target
supplies itself). resolve (the symbolizer crate's target) gets small ELF files of this machine: the pyenv Pythons'
extension modules (built with DWARF) and system libraries.
"""
import subprocess
import sys
from pathlib import Path

from capture_layout import v13_header_len

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests" / "fixtures" / "captures"
LZ4_MAGIC = b"\x04\x22\x4d\x18"


def decompressed(path):
    data = path.read_bytes()
    if data.startswith(LZ4_MAGIC):
        return subprocess.run(["lz4", "-d", "-c", str(path)], capture_output=True, check=True).stdout
    return data


def records(data):
    """The bytes after a v13 header."""
    return data[v13_header_len(data):]


def elf_seeds(out, limit=24, max_size=256 * 1024):
    """Small ELF files: extension modules of the pyenv Pythons, then system libraries."""
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = sorted(pyenv.glob("*/lib/python*/lib-dynload/*.so"))
    candidates += sorted(Path("/usr/lib/x86_64-linux-gnu").glob("lib*.so.*"))
    taken = 0
    for path in candidates:
        try:
            data = path.read_bytes() if path.stat().st_size <= max_size else b""
        except OSError:
            continue
        if not data.startswith(b"\x7fELF"):
            continue
        (out / f"seed-{taken}-{path.name}").write_bytes(data)
        taken += 1
        if taken == limit:
            break


def main():
    target, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    if target == "resolve":
        elf_seeds(out)
        return
    for i, path in enumerate(sorted(CAPTURES.glob("v1.20.0-*.bin"))):
        raw = path.read_bytes()
        if target in ("header", "transform", "stats", "diff"):
            seed = raw
        elif target == "lz4":
            if not raw.startswith(LZ4_MAGIC):
                continue
            seed = raw[4:]
        else:
            data = decompressed(path)
            aggregated = data[16] == 1
            if aggregated != (target == "aggregated_records"):
                continue
            seed = records(data)
        (out / f"seed-{i}-{path.stem}").write_bytes(seed)


if __name__ == "__main__":
    main()
