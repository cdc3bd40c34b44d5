"""The wheel's ``memform`` command: the same command line as the Rust binary."""

import signal
import sys

from . import _memform


def main() -> None:
    # Ctrl-C ends the command at once, as it ends the Rust binary: Python's own handler would
    # only set a flag that no Python code looks at until the conversion is over. (While it
    # writes its outputs, the command's handler takes over and removes them.)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_memform.main(["memform", *sys.argv[1:]]))


if __name__ == "__main__":  # pragma: no cover
    main()
