"""Deterministic workload with thousands of distinct call sites, for large memray captures.

Usage: memray run --trace-python-allocators -o OUT.bin many_sites.py EVENTS
EVENTS is the approximate number of allocation calls to make (e.g. 5_000_000).

At import time 200 modules of 20 functions each are generated (compiled from source into
module objects registered in sys.modules, with their source in linecache), every function
allocating from 1-4 lines of its own and calling one of 2-3 functions of other modules, so
the capture holds ~4000 functions, ~8300 allocation statements (plus the lines whose
temporaries get recorded) and some 10^5 distinct stacks through 4-13 generated functions.
Eight threads walk these call chains, each entering through its own functions. As in
bigcap.py, the heap peaks in the middle of the run: each thread's kept set grows steadily
to its maximum at the midpoint of its work and shrinks again; 100 objects per thread leak.
"""
import linecache
import random
import sys
import threading
import types

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
THREADS = 8
MODULES = 200
FUNCS = 20
KEEP_MAX = 25_000  # per thread, at the midpoint

# Allocation expressions; the size range is drawn per line so sizes differ between sites.
# Sizes come from rng.random() (C code), so that the allocating line is the stack's leaf.
ALLOCS = [
    ("bytearray({size})", 520, 2048),
    ("[None] * {size}", 70, 300),
    ('b"x" * {size}', 512, 8192),
    ('"s" * {size}', 64, 4096),
    ("bytes({size})", 16, 1024),
    ("(0,) * {size}", 8, 200),
    ("dict.fromkeys(range({size}))", 4, 96),
]


def function_source(gen, j, lines):
    """Source of function f{j}: a few allocating lines around a call to one callee."""
    body = [
        f"def f{j}(rng, keep, depth):",
        "    n = 0",
    ]
    sites = 0

    def alloc(indent):
        nonlocal sites
        sites += 1
        expr, lo, hi = gen.choice(ALLOCS)
        a = gen.randint(lo, hi)
        b = gen.randint(lo, hi)
        lo, hi = min(a, b), max(a, b)
        keep = gen.choice(["0.2", "0.3", "0.4"])
        size = f"({lo} + int(rng.random() * {hi - lo + 1}))"
        body.append(f"{indent}obj = {expr.format(size=size)}")
        body.append(f"{indent}if rng.random() < {keep}:")
        body.append(f"{indent}    keep.append(obj)")
        body.append(f"{indent}n += 1")

    for _ in range(gen.randint(0, 2)):
        alloc("    ")
    if gen.random() < 0.5:
        body.append(f"    for _ in range(1 + int(rng.random() * {gen.randint(2, 4)})):")
        alloc("        ")
    body.append("    if depth:")
    body.append(f"        n += CALLEES[{j}][depth % len(CALLEES[{j}])](rng, keep, depth - 1)")
    if gen.random() < 0.5 or not sites:
        alloc("    ")
    body.append("    return n")
    lines.extend(body)
    lines.append("")
    lines.append("")


def build_modules():
    """Generate and register the modules; return the list of all their functions."""
    gen = random.Random(20240601)
    modules = []
    for i in range(MODULES):
        name = f"many_sites_gen.pkg_{i // 20:02d}.mod_{i:03d}"
        filename = f"<many_sites_gen>/pkg_{i // 20:02d}/mod_{i:03d}.py"
        lines = [f'"""Generated module {i}."""', "CALLEES = {}", "", ""]
        for j in range(FUNCS):
            # Vary line numbers between modules too.
            lines.extend(["# padding"] * gen.randint(0, 3))
            function_source(gen, j, lines)
        src = "\n".join(lines) + "\n"
        module = types.ModuleType(name)
        module.__file__ = filename
        exec(compile(src, filename, "exec"), module.__dict__)
        sys.modules[name] = module
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        modules.append(module)
    functions = [getattr(m, f"f{j}") for m in modules for j in range(FUNCS)]
    # Wire the call graph: every function calls 2-3 functions of other modules.
    for i, module in enumerate(modules):
        for j in range(FUNCS):
            callees = []
            count = gen.randint(2, 3)
            while len(callees) < count:
                k = gen.randrange(len(functions))
                if k // FUNCS != i:
                    callees.append(functions[k])
            module.CALLEES[j] = callees
    # Each entry point is walked at one depth, which fixes its chain of callees (callee
    # index = depth % number of callees), so the number of distinct stacks stays bounded.
    depths = [gen.randint(3, 12) for _ in functions]
    return functions, depths


FUNCTIONS, ENTRY_DEPTHS = build_modules()
LEAKED = []


def worker(seed, events):
    rng = random.Random(seed)
    keep = []
    done = 0
    half = max(1, events // 2)
    top = None  # size of the kept set at the midpoint
    while done < events:
        # Each thread enters through its own eighth of the functions; deeper down the
        # chains of all threads go through every module.
        entry = rng.randrange(seed, len(FUNCTIONS), THREADS)
        for _ in range(rng.randint(1, 8)):
            done += FUNCTIONS[entry](rng, keep, ENTRY_DEPTHS[entry])
        # The kept set (oldest dropped first) follows a triangle: up to KEEP_MAX objects by
        # the midpoint, then down from what it was there to 100 at the end, which leak.
        if done <= half:
            limit = KEEP_MAX * done // half
        else:
            if top is None:
                top = len(keep)
            limit = max(100, top * (events - done) // half)
        if len(keep) > limit:
            del keep[: len(keep) - limit]
    LEAKED.extend(keep[-100:])


def main():
    per = EVENTS // THREADS
    threads = [
        threading.Thread(target=worker, args=(i, per), name=f"sites-{i}")
        for i in range(THREADS - 1)
    ]
    for t in threads:
        t.start()
    worker(THREADS - 1, per)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
