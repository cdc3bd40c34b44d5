"""The byte layout of memray captures, for the fixture and fuzz-seed scripts."""


def v13_header_len(data):
    """Bytes before the first record of a header version 13 capture (decompressed)."""
    # magic(7) version(4) python(4) native(1) format(1) stats(32), command line, NUL,
    # pid(4) main_tid(8) skipped(8) allocator(1) trace(1) lifetimes(1), then NUL-terminated
    # libdest and two NUL-terminated lists each ended by an empty string.
    pos = 49
    pos = data.index(b"\0", pos) + 1 + 23
    pos = data.index(b"\0", pos) + 1
    for _ in range(2):
        while True:
            end = data.index(b"\0", pos)
            empty = end == pos
            pos = end + 1
            if empty:
                break
    return pos
