"""A tight allocation loop for memray to record: a capture of several million records in a
few seconds (test_gil.py)."""
import sys
n = int(sys.argv[1])
keep = []
for i in range(n):
    keep.append(bytearray(1000 + i % 7))
    if len(keep) > 100:
        keep.clear()
