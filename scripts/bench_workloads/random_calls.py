"""Deterministic workload of generated functions calling each other at random depths.

Usage: memray run --trace-python-allocators -o OUT.bin random_calls.py EVENTS
EVENTS is the approximate number of allocation calls to make (e.g. 3_300_000).

At start-up 2,400 functions are generated from a seeded random source text (24 modules of
100 functions, compiled into module objects registered in sys.modules, with their source in
linecache), each allocating from 1-3 lines of its own (before and after its call) with sizes
drawn per line from 16 bytes to 64 KiB, and calling one of 4 functions of other modules.
Eight threads each start call chains at random functions and random depths 5-40; the callee
at each level is fixed by the function, the remaining depth (modulo 4) and one of two routes
drawn per chain, so the 172,800 possible chains (a chain is a prefix of the one 4 deeper)
run through ~730,000 distinct call stacks and ~1.6 million distinct stacks of allocating
lines, and the objects alive at any time mostly come from distinct stacks. Lifetimes are
mixed, drawn per allocation: most objects die at once (when the next line replaces them or
the function returns), about a quarter are kept for a while in a per-thread list (replacing
a random older one once the list is full, so their lifetimes spread widely), and 1 in 500 is
kept to the end (they leak). As in bigcap.py, the heap peaks in the middle of the run: each
thread's list may hold up to KEEP_MAX objects at the midpoint of its work, fewer before and
after.
"""
import linecache
import random
import sys
import threading
import types

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
THREADS = 8
MODULES = 24
FUNCS = 100  # per module
CALLEES = 4  # per function
ROUTES = 2
DEPTHS = (5, 40)
KEEP_MAX = 7_000  # per thread, at the midpoint
KEEP_P = (0.15, 0.35)  # per line, the chance that an allocation is kept for a while
FOREVER_P = 0.002  # the chance that an allocation is kept to the end

# Allocation expressions and their size ranges; each line draws its own range within them.
# Sizes come from rng.random() (C code), so that the allocating line is the stack's leaf.
ALLOCS = [
    ("bytearray({size})", 16, 4096),
    ("bytearray({size})", 4096, 65536),
    ("[None] * {size}", 2, 600),
    ('b"r" * {size}', 16, 16384),
    ('"c" * {size}', 16, 2048),
    ("bytes({size})", 64, 8192),
    ("(None,) * {size}", 1, 120),
    ("dict.fromkeys(range({size}))", 1, 60),
    ("list(range({size}))", 1, 200),
]


class State:
    """One thread's lists and the limit on its kept list."""

    __slots__ = ("keep", "forever", "limit", "route")

    def __init__(self):
        self.keep = []
        self.forever = []
        self.limit = 1
        self.route = 0


def function_source(gen, j, lines):
    """Source of function f{j}: allocating lines around one call deeper."""
    body = [f"def f{j}(rng, st, depth):", "    n = 0"]

    def alloc():
        expr, lo, hi = gen.choice(ALLOCS)
        a, b = sorted((gen.randint(lo, hi), gen.randint(lo, hi)))
        size = f"({a} + int(rng.random() * {b - a + 1}))"
        keep = round(gen.uniform(*KEEP_P), 3)
        body.extend(
            [
                f"    obj = {expr.format(size=size)}",
                "    r = rng.random()",
                f"    if r < {keep}:",
                "        keep = st.keep",
                "        if len(keep) < st.limit:",
                "            keep.append(obj)",
                "        else:",
                "            keep[int(r * 1e9) % len(keep)] = obj",
                f"    elif r > {1 - FOREVER_P}:",
                "        st.forever.append(obj)",
                "    n += 1",
            ]
        )

    before = gen.randint(0, 2)
    after = gen.randint(0 if before else 1, 3 - before)
    for _ in range(before):
        alloc()
    body.append("    if depth:")
    body.append(f"        n += CALLEES[{j}][(depth ^ st.route) % {CALLEES}](rng, st, depth - 1)")
    for _ in range(after):
        alloc()
    body.append("    return n")
    lines.extend(body)
    lines.extend(["", ""])


def build_modules():
    """Generate and register the modules; return the list of all their functions."""
    gen = random.Random(24_000)
    modules = []
    for i in range(MODULES):
        name = f"random_calls_gen.mod_{i:02d}"
        filename = f"<random_calls_gen>/mod_{i:02d}.py"
        lines = [f'"""Generated module {i}."""', "CALLEES = {}", "", ""]
        for j in range(FUNCS):
            lines.extend(["# padding"] * gen.randint(0, 2))
            function_source(gen, j, lines)
        src = "\n".join(lines) + "\n"
        module = types.ModuleType(name)
        module.__file__ = filename
        exec(compile(src, filename, "exec"), module.__dict__)
        sys.modules[name] = module
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        modules.append(module)
    functions = [getattr(m, f"f{j}") for m in modules for j in range(FUNCS)]
    # Wire the call graph: every function calls CALLEES functions of other modules.
    for i, module in enumerate(modules):
        for j in range(FUNCS):
            callees = []
            while len(callees) < CALLEES:
                k = gen.randrange(len(functions))
                if k // FUNCS != i:
                    callees.append(functions[k])
            module.CALLEES[j] = callees
    return functions


FUNCTIONS = build_modules()
LEAKED = []


def worker(seed, events):
    rng = random.Random(seed)
    st = State()
    done = 0
    half = max(1, events // 2)
    top = None  # size of the kept list at the midpoint
    while done < events:
        st.route = rng.randrange(ROUTES)
        entry = FUNCTIONS[rng.randrange(len(FUNCTIONS))]
        done += entry(rng, st, rng.randint(*DEPTHS))
        # The kept list's limit follows a triangle: up to KEEP_MAX objects by the midpoint,
        # then down from what it was there to none at the end.
        if done <= half:
            st.limit = max(1, KEEP_MAX * done // half)
        else:
            if top is None:
                top = len(st.keep)
            st.limit = max(1, top * (events - done) // half)
            if len(st.keep) > st.limit:
                del st.keep[st.limit :]
    LEAKED.extend(st.forever)


def main():
    sys.setrecursionlimit(10_000)
    per = EVENTS // THREADS
    threads = [
        threading.Thread(target=worker, args=(i, per), name=f"random-{i}")
        for i in range(THREADS - 1)
    ]
    for t in threads:
        t.start()
    worker(THREADS - 1, per)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
