"""Deterministic workload with many threads allocating and freeing concurrently.

Usage: memray run --trace-python-allocators -o OUT.bin many_threads.py EVENTS
EVENTS is the approximate number of allocation calls to make (e.g. 5_000_000).

32 threads run at once (started together behind a barrier, with a short GIL switch
interval so that their records interleave finely), each allocating from its own call
chains of depth 5-15 and handing a few objects to the next thread, which frees them: some
deallocations happen in another thread than their allocation. What each thread does is
deterministic; how the threads interleave is up to the scheduler. As in bigcap.py, the
heap peaks in the middle of the run: each thread's kept set grows steadily to its maximum
at the midpoint of its work and shrinks again; 50 objects per thread leak.
"""
import collections
import random
import sys
import threading

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
THREADS = 32
KEEP_MAX = 6_000  # per thread, at the midpoint
HANDOFF = 0.02  # fraction of allocations passed to the next thread to free


def make_chain(depth, fn, tag):
    """Build a chain of distinct functions so every depth gives its own stack."""
    def wrap(inner, level):
        def f(*args):
            return inner(*args)
        f.__name__ = f"t{tag}_level_{level}"
        f.__qualname__ = f"t{tag}_level_{level}"
        return f

    chain = fn
    for level in range(depth):
        chain = wrap(chain, level)
    return chain


def leaf_alloc(rng, keep, outbox, budget):
    """Allocate a mix of sizes; keep some, hand some over, free most."""
    n = 0
    while n < budget:
        kind = rng.random()
        if kind < 0.5:
            obj = bytearray(rng.randint(520, 2048))
        elif kind < 0.75:
            obj = [None] * rng.randint(70, 300)
        elif kind < 0.9:
            obj = b"x" * rng.randint(64, 4096)
        elif kind < 0.998:
            obj = {i: None for i in range(rng.randint(4, 40))}
        else:
            obj = bytearray(rng.randint(65536, 1 << 18))
        r = rng.random()
        if r < 0.3:
            keep.append(obj)
        elif r < 0.3 + HANDOFF:
            outbox.append(obj)
        n += 1
    return n


def small_churn(rng, budget):
    """Short-lived small objects (temporary allocations)."""
    total = 0
    for _ in range(budget):
        total += len(str(rng.random()) * rng.randint(1, 8))
    return budget


INBOXES = [collections.deque() for _ in range(THREADS)]
LEAKED = []
START = threading.Barrier(THREADS)


def worker(index, events):
    rng = random.Random(1000 + index)
    chains = [make_chain(rng.randint(5, 15), leaf_alloc, index) for _ in range(16)]
    inbox = INBOXES[index]
    outbox = INBOXES[(index + 1) % THREADS]
    keep = []
    done = 0
    half = max(1, events // 2)
    top = None  # size of the kept set at the midpoint
    START.wait()
    while done < events:
        chain = chains[rng.randrange(len(chains))]
        done += chain(rng, keep, outbox, rng.randint(20, 200))
        if rng.random() < 0.2:
            done += small_churn(rng, 16)
        # Free what the previous thread handed over (deque.popleft is thread-safe).
        while inbox:
            inbox.popleft()
        # The kept set (oldest dropped first) follows a triangle: up to KEEP_MAX objects by
        # the midpoint, then down from what it was there to 50 at the end, which leak.
        if done <= half:
            limit = KEEP_MAX * done // half
        else:
            if top is None:
                top = len(keep)
            limit = max(50, top * (events - done) // half)
        if len(keep) > limit:
            del keep[: len(keep) - limit]
    LEAKED.extend(keep[-50:])


def main():
    sys.setswitchinterval(0.0005)
    per = EVENTS // THREADS
    threads = [
        threading.Thread(target=worker, args=(i, per), name=f"mt-{i:02d}")
        for i in range(1, THREADS)
    ]
    for t in threads:
        t.start()
    worker(0, per)
    for t in threads:
        t.join()
    # What the last threads handed over after their neighbours finished also leaks.
    LEAKED.extend(obj for inbox in INBOXES for obj in inbox)


if __name__ == "__main__":
    main()
