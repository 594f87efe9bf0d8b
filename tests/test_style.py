"""House style checked by the test suite: import layers, lint, and functions that fit on a screen."""

import ast
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT

#: The most code lines (docstrings, comments and blank lines excluded) a function may have.
MAX_FUNCTION_LINES = 60


def tool(name):
    """The path of a console script installed beside this interpreter (or on PATH)."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    found = beside if os.path.exists(beside) else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def test_import_layers_hold():
    # the contracts are in .importlinter: no import runs back up, methods never import each other
    proc = subprocess.run([tool("lint-imports")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_code_is_ruff_clean():
    proc = subprocess.run(
        [tool("ruff"), "check", "speechbrain_unlearn", "tests", "recipes"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_hparams_are_yamllint_clean():
    files = [str(p) for p in pathlib.Path(ROOT).glob("hparams/*.yaml")]
    files += [str(p) for p in pathlib.Path(ROOT).glob("recipes/*/hparams/*.yaml")]
    proc = subprocess.run([tool("yamllint"), "-s", *files], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]


def code_lines(path):
    """``(code lines, name)`` of every function in a Python file."""
    source = path.read_text(encoding="utf-8")
    lines, tree = source.splitlines(), ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            docstrings.update(range(node.lineno, node.end_lineno + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            span = range(node.body[0].lineno, node.end_lineno + 1)
            code = [
                i
                for i in span
                if i not in docstrings and lines[i - 1].strip() and not lines[i - 1].strip().startswith("#")
            ]
            yield len(code), f"{path.relative_to(ROOT)}:{node.name}"


def test_every_function_fits_on_a_screen():
    sizes = [
        size for path in sorted(pathlib.Path(ROOT, "speechbrain_unlearn").rglob("*.py")) for size in code_lines(path)
    ]
    too_long = sorted((n, name) for n, name in sizes if n > MAX_FUNCTION_LINES)
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} code lines: {too_long}"
