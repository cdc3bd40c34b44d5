"""The wheel's ``memform`` command: the same command line as the Rust binary."""

import sys

from . import _memform


def main() -> None:
    sys.exit(_memform.main(["memform", *sys.argv[1:]]))


if __name__ == "__main__":  # pragma: no cover
    main()
