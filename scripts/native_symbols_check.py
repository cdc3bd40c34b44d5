#!/usr/bin/env python3
"""Compare memform's native symbol resolver with memray's, stack by stack.

For every capture recorded with --native in the corpus (manifest.json cases whose
capture_mode is "native"), memray itself (in the venv of the version that recorded the
capture) lists every distinct (native_stack_id, generation) of the allocation records with
AllocationRecord.native_stack_trace(); memform's examples/native_resolve resolves the same
stacks from the capture's `memray parse` dump. The frames must be identical.

With --synthetic N, it also writes a capture of its own with memray 1.20's
RecordWriterTestHarness: every ELF file named in the corpus captures, the pyenv Pythons,
the venvs' extension modules and the system libraries, mapped at made-up addresses (some in
a second generation), and about N sampled instruction pointers per file (segment
boundaries included), each its own one-frame stack; plus a missing file and a file that is
not ELF.

Prints `native symbols: P stacks matched, F differed` and the first differences. Exit
status 1 when any stack differs.

    scripts/native_symbols_check.py [--corpus DIR] [--venvs DIR] [--versions 1.20.0,...]
                                    [--synthetic N]

The captures must be checked on the machine that recorded them (the resolver reads the
ELF files named in the capture).
"""

import argparse
import glob
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import zlib

ORACLE = r"""
import json, sys
import memray
reader = memray.FileReader(sys.argv[1])
seen = {}
for record in reader.get_allocation_records():
    key = (record.native_stack_id, record.native_segment_generation)
    if key in seen:
        continue
    try:
        seen[key] = record.native_stack_trace()
    except NotImplementedError:
        continue
json.dump([[sid, gen, [list(f) for f in frames]] for (sid, gen), frames in sorted(seen.items())],
          sys.stdout)
"""

SYNTHETIC_GROUP = 100

SYNTHETIC_WRITER = r"""
import json, sys
import memray, memray._memray as _memray
path, plan = sys.argv[1], json.load(open(sys.argv[2]))
malloc = int(memray.AllocatorType.MALLOC)
writer = _memray.RecordWriterTestHarness(path, native_traces=True)
frame_id = 0
for generation in plan:
    writer.write_mappings([
        {"filename": name, "addr": addr, "segments": [{"vaddr": v, "memsz": m} for v, m in segments]}
        for name, addr, segments in generation["mappings"]
    ])
    for ip in generation["ips"]:
        writer.write_unresolved_native_frame(ip, 0)
        frame_id += 1
        writer.write_allocation_record(1, 0x10000 + 16 * frame_id, 16, malloc, frame_id)
writer.write_trailer()
"""


def load_segments(path):
    """(p_vaddr, p_memsz, executable) of an ELF file's PT_LOAD headers, or None."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2:
                return None
            phoff, = struct.unpack_from("<Q", header, 32)
            phentsize, phnum = struct.unpack_from("<HH", header, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return None
    segments = []
    for i in range(phnum):
        entry = table[i * phentsize:(i + 1) * phentsize]
        if len(entry) < 56:
            return None
        kind, flags = struct.unpack_from("<II", entry, 0)
        vaddr, = struct.unpack_from("<Q", entry, 16)
        memsz, = struct.unpack_from("<Q", entry, 40)
        if kind == 1:
            segments.append((vaddr, memsz, bool(flags & 1)))
    return segments or None


def synthetic_files(corpus_images, venvs):
    """The corpus captures' images, then every other ELF file worth a look, each file once."""
    patterns = [
        os.path.expanduser("~/.pyenv/versions/*/bin/python3.*"),
        os.path.expanduser("~/.pyenv/versions/*/lib/libpython*.so*"),
        os.path.expanduser("~/.pyenv/versions/*/lib/python*/lib-dynload/*.so"),
        os.path.join(venvs, "*", "lib", "python*", "site-packages", "**", "*.so*"),
        "/usr/lib/x86_64-linux-gnu/*.so*",
    ]
    seen, files = set(), []
    for name in list(corpus_images) + [p for pattern in patterns for p in sorted(glob.glob(pattern, recursive=True))]:
        real = os.path.realpath(name)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        files.append(name)
    return files


def synthetic_plan(files, samples, work):
    """Mappings and sampled ips of a two-generation synthetic capture."""
    garbage = os.path.join(work, "not-elf.so")
    with open(garbage, "wb") as f:
        f.write(b"not an ELF file\n" * 64)
    images = []
    for name in files:
        segments = load_segments(name)
        if segments:
            images.append((name, segments))
    fake = [(0, 0x2000, True), (0x2000, 0x1000, False)]
    images.append((os.path.join(work, "missing.so"), fake))
    images.append((garbage, fake))
    plan = []
    layouts = [
        (0x7E0000000000, 0x100000000, images),
        (0x100000000000, 0x40000000, images[::3]),
    ]
    for generation, (base, step, chosen) in enumerate(layouts):
        mappings, ips = [], []
        for i, (name, segments) in enumerate(chosen):
            addr = base + i * step
            mappings.append((name, addr, [(v, m) for v, m, _ in segments]))
            rng = random.Random(zlib.crc32(name.encode()) + generation)
            total_exec = sum(m for _, m, x in segments if x) or 1
            for vaddr, memsz, executable in segments:
                start, end = addr + vaddr, addr + vaddr + memsz
                ips.extend([start, start + 1, end - 1, end, end + 1])
                share = samples * memsz // total_exec if executable else samples // 20
                ips.extend(rng.randrange(start, end + 1) for _ in range(min(share, memsz)))
        if generation == 0 and len(chosen) > 1:
            # Another image's segments nested in the first one's: memray's segment search
            # (std::lower_bound on the segment ends) then misses ips that a segment holds.
            nested = base + 0x3000
            mappings.append((chosen[1][0], nested, [(0, 0x800), (0x1000, 0x800)]))
            ips.extend(nested - 0x800 + 0x40 * k for k in range(0x80))
        plan.append({"mappings": mappings, "ips": ips})
    return plan


def compare(capture, interpreter, tool, work):
    """(matched, differences, images) of memform against memray for one capture."""
    dump = os.path.join(work, "dump.txt")
    with open(dump, "w") as out:
        subprocess.run([interpreter, "-m", "memray", "parse", capture], stdout=out,
                       stderr=subprocess.DEVNULL, check=True)
    images = set()
    prefix = "SEGMENT_HEADER filename="
    with open(dump) as f:
        for line in f:
            if line.startswith(prefix):
                images.add(line[len(prefix):].rsplit(" num_segments=", 1)[0])
    oracle = json.loads(subprocess.run([interpreter, "-c", ORACLE, capture], capture_output=True,
                                       text=True, check=True).stdout)
    queries = "".join(f"{sid} {gen}\n" for sid, gen, _ in oracle)
    result = subprocess.run([tool, "dump", dump], input=queries, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{capture}: {result.stderr.strip()}")
    ours = [json.loads(line) for line in result.stdout.splitlines()]
    if len(ours) != len(oracle):
        raise RuntimeError(f"{capture}: {len(ours)} answers for {len(oracle)} stacks")
    matched, differences = 0, []
    for (sid, gen, expected), got in zip(oracle, ours):
        if expected == got:
            matched += 1
            continue
        first = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
                     min(len(expected), len(got)))
        differences.append((os.path.basename(capture), sid, gen, first, expected, got))
    return matched, differences, images


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("MEMFORM_CORPUS", os.path.join(repo, "..", "corpus")))
    parser.add_argument("--venvs", default=os.environ.get(
        "MEMFORM_VENVS", os.path.expanduser("~/.cache/memform-corpus/venvs")))
    parser.add_argument("--versions", default="", help="comma-separated memray versions (default: all)")
    parser.add_argument("--tool", default=os.path.join(repo, "target", "release", "examples", "native_resolve"))
    parser.add_argument("--show", type=int, default=10, help="differences to print")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also check about N sampled ips per ELF file on this machine")
    parser.add_argument("--keep", metavar="DIR",
                        help="work in DIR and leave the dumps, the synthetic plan and differences.json there")
    args = parser.parse_args()

    manifest_path = os.path.join(args.corpus, "manifest.json")
    if not os.path.exists(manifest_path):
        print(f"native symbols: no corpus at {args.corpus}; skipped", file=sys.stderr)
        return 0
    if not os.path.exists(args.tool):
        subprocess.run(["cargo", "build", "--release", "-q", "--example", "native_resolve"], cwd=repo, check=True)

    with open(manifest_path) as f:
        manifest = json.load(f)
    versions = set(filter(None, args.versions.split(",")))
    captures = {}
    for case in manifest["cases"]:
        if case.get("capture_mode") != "native":
            continue
        if versions and case["memray_version"] not in versions:
            continue
        captures[case["capture"]] = (case["memray_version"], case["python"])

    matched = 0
    differences = []
    corpus_images = set()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or temporary
        os.makedirs(work, exist_ok=True)
        for capture, (version, python) in sorted(captures.items()):
            interpreter = os.path.join(args.venvs, f"memray-{version}-py{python}", "bin", "python")
            if not os.path.exists(interpreter):
                print(f"native symbols: no venv for memray {version} / Python {python}; {capture} skipped",
                      file=sys.stderr)
                continue
            try:
                ok, diffs, images = compare(os.path.join(args.corpus, capture), interpreter, args.tool, work)
            except (RuntimeError, subprocess.CalledProcessError) as error:
                print(f"native symbols: {error}", file=sys.stderr)
                return 1
            matched += ok
            differences += diffs
            corpus_images |= images
        if args.synthetic:
            # Several captures of a limited number of images each: libbacktrace maps memory
            # for every image it loads, and a reader holding a thousand of them runs out of
            # memory mappings (then memray resolves nothing at all).
            interpreter = os.path.join(args.venvs, "memray-1.20.0-py3.11", "bin", "python")
            files = synthetic_files(sorted(corpus_images), args.venvs)
            groups = [files[i:i + SYNTHETIC_GROUP] for i in range(0, len(files), SYNTHETIC_GROUP)]
            total_ips = 0
            for number, group in enumerate(groups):
                plan = synthetic_plan(group, args.synthetic, work)
                total_ips += sum(len(g["ips"]) for g in plan)
                plan_path = os.path.join(work, f"plan-{number}.json")
                with open(plan_path, "w") as f:
                    json.dump(plan, f)
                capture = os.path.join(work, f"synthetic-{number}.bin")
                subprocess.run([interpreter, "-c", SYNTHETIC_WRITER, capture, plan_path], check=True)
                try:
                    ok, diffs, _ = compare(capture, interpreter, args.tool, work)
                except (RuntimeError, subprocess.CalledProcessError) as error:
                    print(f"native symbols: {error}", file=sys.stderr)
                    return 1
                matched += ok
                differences += diffs
            print(f"native symbols: synthetic captures of {len(files)} images, {total_ips} ips",
                  file=sys.stderr)
        if args.keep:
            with open(os.path.join(work, "differences.json"), "w") as f:
                json.dump(differences, f)

    print(f"native symbols: {matched} stacks matched, {len(differences)} differed")
    for capture, sid, gen, first, expected, got in differences[:args.show]:
        print(f"  {capture} stack {sid} generation {gen}, frame {first}:")
        print(f"    memray:  {expected[first:first + 3]} ({len(expected)} frames)")
        print(f"    memform: {got[first:first + 3]} ({len(got)} frames)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
