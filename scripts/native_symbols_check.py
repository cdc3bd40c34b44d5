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
boundaries included), each its own one-frame stack; plus a missing file, a file that is
not ELF, segments nested in another image's, and (with gcc) small C and C++ libraries
built in every DWARF version, with compressed sections, debug files found through
.gnu_debuglink and MiniDebugInfo, sampled every few bytes.

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


TEST_HEADER = r"""
static inline __attribute__((always_inline)) int helper_inner(int x) { return x * 3 + (x >> 2); }
static inline __attribute__((always_inline)) int helper_outer(int x)
{
    int s = 0;
    for (int i = 0; i < x; i++)
        s += helper_inner(i) ^ (s >> 3);
    return s;
}
"""

TEST_C = r"""
#include <stdlib.h>
#include "lib.h"
int global_counter;
static int table[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
__attribute__((noinline)) static int local_fn(int x) { return helper_outer(x) + table[x & 63]; }
int exported(int x) { global_counter++; return local_fn(x) * helper_inner(x); }
__attribute__((cold, noinline)) int cold_fn(int x)
{
    if (x > 100) abort();
    return helper_outer(x + 1) - 7;
}
int recursive(int n) { return n <= 1 ? 1 : n * recursive(n - 1) + cold_fn(n); }
void *allocate(int n) { return malloc((size_t)helper_outer(n)); }
#line 100 "renamed.c"
int after_line_directive(int x) { return x + exported(x); }
int main(int argc, char **argv) { (void)argv; return recursive(argc); }
"""

TEST_CXX = r"""
#include <vector>
#include <string>
namespace ns {
template <typename T> struct Box {
    T v;
    T get() const;
    template <typename U> U as() const { return static_cast<U>(v) + U(1); }
};
template <typename T> T Box<T>::get() const { return v * 2; }
namespace {
int hidden(int x) { return x ^ 0x55; }
}
}  // namespace ns
struct Widget {
    std::vector<std::string> names;
    virtual ~Widget() = default;
    virtual int size() const { return static_cast<int>(names.size()); }
    void add(const char* n) { names.emplace_back(n); }
};
extern "C" int cpp_entry(int x)
{
    ns::Box<int> b{x};
    auto lam = [&](int y) { return b.get() + y + ns::hidden(y); };
    Widget w;
    w.add("a");
    w.add("b");
    return lam(x) + static_cast<int>(ns::Box<long>{x}.get()) + b.as<short>() + w.size();
}
"""


def build_test_images(work):
    """Small libraries built here in the DWARF versions, layouts and debug-file
    arrangements libbacktrace handles differently; [] without gcc."""
    out = os.path.join(work, "built")
    os.makedirs(os.path.join(out, ".debug"), exist_ok=True)
    for name, text in [("lib.h", TEST_HEADER), ("lib.c", TEST_C), ("lib.cc", TEST_CXX)]:
        with open(os.path.join(out, name), "w") as f:
            f.write(text)
    built = []

    def run(*command):
        return subprocess.run(command, cwd=out, capture_output=True).returncode == 0

    def compile(name, source, *flags, shared=True):
        compiler = "g++" if source.endswith(".cc") else "gcc"
        kind = ["-shared", "-fPIC"] if shared else ["-no-pie"]
        if run(compiler, *kind, *flags, "-o", name, source):
            built.append(os.path.join(out, name))
            return True
        return False

    try:
        subprocess.run(["gcc", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    for version in ("2", "3", "4", "5"):
        compile(f"c-dwarf{version}.so", "lib.c", f"-gdwarf-{version}", "-O2")
    compile("c-dwarf4-O0.so", "lib.c", "-gdwarf-4", "-O0")
    compile("c-dwarf5-sections.so", "lib.c", "-gdwarf-5", "-O1", "-ffunction-sections")
    compile("c-dwarf5-g1.so", "lib.c", "-g1", "-O2")
    compile("c-nobuildid.so", "lib.c", "-g", "-O2", "-Wl,--build-id=none")
    compile("c-exec-dwarf4", "lib.c", "-gdwarf-4", "-O2", shared=False)
    compile("cxx-dwarf4.so", "lib.cc", "-gdwarf-4", "-O2")
    compile("cxx-dwarf5.so", "lib.cc", "-gdwarf-5", "-O2")
    compile("cxx-dwarf5-O0.so", "lib.cc", "-gdwarf-5", "-O0")
    for codec in ("zlib-gnu", "zlib-gabi", "zstd"):
        target = f"c-{codec}.so"
        if compile(target, "lib.c", "-gdwarf-5", "-O2"):
            if not run("objcopy", f"--compress-debug-sections={codec}", target):
                built.remove(os.path.join(out, target))
    # Separate debug files found through .gnu_debuglink: beside the library, in .debug/,
    # and two whose CRC no longer matches: ignored, except when the name's length is a
    # multiple of 4 ("c-link-badcrc.so.dbg"), where libbacktrace reads the CRC from the
    # name's padding (0: not checked).
    for target, debug_dir, spoil in [("c-link-same.so", "", False), ("c-link-sub.so", ".debug", False),
                                     ("c-link-bad.so", "", True), ("c-link-badcrc.so", "", True)]:
        debug = os.path.join(debug_dir, target + ".dbg")
        if (compile(target, "lib.c", "-gdwarf-4", "-O2", "-Wl,--build-id=none")
                and run("objcopy", "--only-keep-debug", target, debug)
                and run("objcopy", "--strip-debug", "--strip-unneeded", f"--add-gnu-debuglink={debug}", target)):
            if spoil:
                with open(os.path.join(out, debug), "ab") as f:
                    f.write(b"\0")
        elif os.path.join(out, target) in built:
            built.remove(os.path.join(out, target))
    # MiniDebugInfo: a stripped library whose .gnu_debugdata holds an xz-compressed ELF with
    # the function symbols.
    target = "c-minidebug.so"
    if compile(target, "lib.c", "-g", "-O2"):
        ok = run("objcopy", "--only-keep-debug", target, "mini.full")
        if ok:
            listing = subprocess.run(["nm", "--format=posix", "--defined-only", "mini.full"], cwd=out,
                                     capture_output=True, text=True).stdout
            with open(os.path.join(out, "mini.keep"), "w") as f:
                f.writelines(line.split()[0] + "\n" for line in listing.splitlines()
                             if len(line.split()) > 1 and line.split()[1] in "TtDdBb")
        ok = (ok and run("objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment",
                         "--keep-symbols=mini.keep", "mini.full", "mini.elf")
              and run("xz", "-f", "-k", "mini.elf")
              and run("objcopy", "--strip-all", "--add-section", ".gnu_debugdata=mini.elf.xz", target))
        if not ok:
            built.remove(os.path.join(out, target))
    return built


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


def synthetic_plan(files, samples, work, dense=False):
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
                if dense:
                    ips.extend(range(start, end + 2, 3 if executable else 17))
                    continue
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
    parser.add_argument("--tool", help="native_resolve binary (default: build examples/native_resolve)")
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
    if not args.tool:
        subprocess.run(["cargo", "build", "--release", "-q", "--example", "native_resolve"], cwd=repo, check=True)
        metadata = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=repo,
                                  check=True, capture_output=True, text=True).stdout
        args.tool = os.path.join(json.loads(metadata)["target_directory"], "release", "examples", "native_resolve")

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
            groups = [(files[i:i + SYNTHETIC_GROUP], False) for i in range(0, len(files), SYNTHETIC_GROUP)]
            built = build_test_images(work)
            if built:
                groups.insert(0, (built, True))
            total_ips = 0
            for number, (group, dense) in enumerate(groups):
                plan = synthetic_plan(group, args.synthetic, work, dense)
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
            print(f"native symbols: synthetic captures of {len(files)} images and {len(built)} built here, "
                  f"{total_ips} ips", file=sys.stderr)
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
