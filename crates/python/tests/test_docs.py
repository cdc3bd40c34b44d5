"""docs/python.md is true and complete: each of its Python examples runs as written against
real captures and passes `mypy --strict` with the package's types; every public function has
its section there, naming each of its parameters; `help()` shows each function's
documentation; the compiled module's stubs match it (mypy's stubtest)."""

import inspect
import pydoc
import re
import shutil
import subprocess
import sys

import pytest

import memform
from conftest import EXAMPLE_CAPTURE, ROOT

DOC = ROOT / "docs" / "python.md"
EXAMPLES = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.S | re.M)
FUNCTIONS = ["report", "report_stream", "transform", "events", "stats", "diff", "dataset_part"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with the captures the examples name, and the examples as files."""
    folder = tmp_path_factory.mktemp("docs")
    shutil.copyfile(EXAMPLE_CAPTURE, folder / "run.bin")
    shutil.copyfile(ROOT / "tests" / "fixtures" / "diff" / "diff-n1.bin", folder / "before.bin")
    shutil.copyfile(ROOT / "tests" / "fixtures" / "diff" / "diff-n2.bin", folder / "after.bin")
    for index, code in enumerate(EXAMPLES):
        (folder / f"example_{index}.py").write_text(code)
    return folder


def test_the_page_has_an_example_for_each_function():
    assert len(EXAMPLES) >= len(FUNCTIONS)
    for name in FUNCTIONS:
        assert any(f"memform.{name}(" in code for code in EXAMPLES), name


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_each_example_runs(workdir, index):
    done = subprocess.run(
        [sys.executable, f"example_{index}.py"], cwd=workdir, capture_output=True, text=True
    )
    assert done.returncode == 0, EXAMPLES[index] + done.stderr
    assert done.stdout.strip(), "every example prints what it found"


def mypy(*args):
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict", *map(str, args)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found"), done.stdout


def test_the_examples_pass_mypy_strict(workdir):
    examples = sorted(workdir.glob("example_*.py"))
    assert len(examples) == len(EXAMPLES)
    # dask.distributed has no annotations of its own: calls into it are not checked.
    mypy("--untyped-calls-exclude=distributed", *examples, ROOT / "examples" / "dask_dataset.py")


def test_the_package_passes_mypy_strict():
    mypy("-p", "memform")


def test_the_stubs_match_the_compiled_module():
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "memform._memform"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def section(name):
    """The text of docs/python.md's section `## name`."""
    text = DOC.read_text()
    start = text.index(f"\n## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_has_its_section_with_every_parameter(name):
    text = section(name)
    parameters = inspect.signature(getattr(memform, name)).parameters
    for parameter in parameters:
        assert f"`{parameter}`" in text or f"`{parameter}`," in text, (name, parameter)
    # The section opens with the signature, defaults as they are.
    parts = []
    for parameter in parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        default = parameter.default
        plain = default is parameter.empty
        parts.append(parameter.name if plain else f"{parameter.name}={default!r}")
    signature = f"{name}({', '.join(parts)}) -> ".replace("'", '"')
    assert f"\n```\n{signature}" in text, (signature, text[:300])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_help_shows_each_function_documentation(name):
    function = getattr(memform, name)
    text = pydoc.render_doc(function, renderer=pydoc.plaintext)
    first_line = function.__doc__.strip().splitlines()[0]
    assert first_line in text
    for parameter in inspect.signature(function).parameters:
        assert parameter in text
    assert len(function.__doc__) > 200, "more than one line"
