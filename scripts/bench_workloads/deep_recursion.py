"""Deterministic workload with very deep stacks.

Usage: memray run --trace-python-allocators -o OUT.bin deep_recursion.py EVENTS
EVENTS is the approximate number of allocation calls to make (e.g. 5_000_000).

Two threads recurse 300-900 levels deep (one of 7 depths) through four mutually recursive
functions, allocating at every level on the way down (freed on the way up, when the level
returns), with a short-lived allocation every fifth level and an allocation kept for later
every 25th level. Which function runs at which level follows one of four fixed patterns,
so the number of distinct stacks stays bounded (~4 x 900 per allocating line) while their
depth reaches 900. As in bigcap.py, the heap peaks in the middle of the run: each thread's
kept set grows steadily to its maximum at the midpoint of its work and shrinks again; 100
objects per thread leak.
"""
import random
import sys
import threading

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
THREADS = 2
DEPTHS = (300, 400, 500, 600, 700, 800, 900)  # a recursion goes down to one of these
MAX_DEPTH = max(DEPTHS)
TEMP_EVERY = 5
KEEP_EVERY = 25
KEEP_MAX = 12_000  # per thread, at the midpoint
PATTERNS = [(0,), (0, 1), (2, 1, 3), (3, 2, 0, 1, 1)]
PLANS = 64

# Under memray's profile hook every call of a C method (rng.random(), list.append) and every
# int above 256 is an allocation of its own. So that the allocations at each level are the
# ones written there (plus the frame objects the hook makes), the levels and every level's
# sizes are made in advance: a recursion follows one of PLANS plans, a tuple with one
# (size here, temporary size or 0, kept size or 0) per level.
LEVELS = tuple(range(MAX_DEPTH + 1))


def make_plans():
    gen = random.Random(900)
    plans = []
    for _ in range(PLANS):
        plan = []
        for level in LEVELS:
            temp = gen.randint(100, 2000) if level % TEMP_EVERY == 0 else 0
            kept = gen.randint(4096, 16384) if level % KEEP_EVERY == 0 and gen.random() < 0.5 else 0
            plan.append((gen.randint(70, 1536), temp, kept))
        plans.append(tuple(plan))
    return tuple(plans)


PLAN_TABLE = make_plans()


def descend_a(level, levels, pattern, plan, keep):
    step = plan[level]
    here = bytearray(step[0])
    if step[1]:
        b"t" * step[1]
    if step[2]:
        keep.append(bytearray(step[2]))
    deeper = next(levels, 0)
    if deeper:
        STEPS[pattern[deeper % len(pattern)]](deeper, levels, pattern, plan, keep)
    here = None


def descend_b(level, levels, pattern, plan, keep):
    step = plan[level]
    here = [level] * step[0]
    if step[1]:
        bytes(step[1])
    if step[2]:
        keep.append(b"k" * step[2])
    deeper = next(levels, 0)
    if deeper:
        STEPS[pattern[deeper % len(pattern)]](deeper, levels, pattern, plan, keep)
    here = None


def descend_c(level, levels, pattern, plan, keep):
    step = plan[level]
    here = b"c" * step[0]
    if step[1]:
        [None] * step[1]
    if step[2]:
        keep.append([None] * step[2])
    deeper = next(levels, 0)
    if deeper:
        STEPS[pattern[deeper % len(pattern)]](deeper, levels, pattern, plan, keep)
    here = None


def descend_d(level, levels, pattern, plan, keep):
    step = plan[level]
    here = {level: bytearray(step[0])}
    if step[1]:
        (level,) * step[1]
    if step[2]:
        keep.append(bytearray(step[2]))
    deeper = next(levels, 0)
    if deeper:
        STEPS[pattern[deeper % len(pattern)]](deeper, levels, pattern, plan, keep)
    here = None


STEPS = [descend_a, descend_b, descend_c, descend_d]
LEAKED = []


def worker(seed, events):
    rng = random.Random(seed)
    keep = []
    done = 0
    half = max(1, events // 2)
    top = None  # size of the kept set at the midpoint
    while done < events:
        pattern = PATTERNS[rng.randrange(len(PATTERNS))]
        plan = PLAN_TABLE[rng.randrange(PLANS)]
        target = DEPTHS[rng.randrange(len(DEPTHS))]
        # Levels 1..target; level L runs STEPS[pattern[L % len(pattern)]].
        levels = iter(LEVELS[1 : target + 1])
        first = next(levels)
        STEPS[pattern[first % len(pattern)]](first, levels, pattern, plan, keep)
        done += target + target // TEMP_EVERY
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
    sys.setrecursionlimit(MAX_DEPTH + 1000)
    threading.stack_size(64 << 20)
    per = EVENTS // THREADS
    threads = [
        threading.Thread(target=worker, args=(i, per), name=f"deep-{i}")
        for i in range(THREADS - 1)
    ]
    for t in threads:
        t.start()
    worker(THREADS - 1, per)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
