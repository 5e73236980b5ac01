"""The documentation builds with warnings as errors, names every public name,
lists every command-line option, and its examples run.

The build takes a few seconds; it needs the ``docs`` extra (Sphinx). Without
Sphinx these tests skip, except in CI (``CI=true``), where a missing Sphinx
fails the run instead of hiding it.
"""

from __future__ import annotations

import argparse
import doctest
import importlib
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from _requires import importorskip

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = sorted(p.name for p in (DOCS / "guide").glob("*.rst"))
# The modules the reference must have whatever else is added (issue 19).
REQUIRED_MODULES = {
    "chainrule",
    "chainrule.callbacks",
    "chainrule.data",
    "chainrule.functional",
    "chainrule.gradcheck",
    "chainrule.init",
    "chainrule.interop.torch",
    "chainrule.io",
    "chainrule.layers",
    "chainrule.losses",
    "chainrule.metrics",
    "chainrule.models",
    "chainrule.onnx",
    "chainrule.optim",
    "chainrule.plots",
    "chainrule.sklearn",
    "chainrule.spec",
}
# Guide pages whose examples run another library.
PAGE_NEEDS = {"sklearn.rst": ["sklearn"], "onnx.rst": ["onnx", "onnxruntime"]}


def _need(module: str):
    return importorskip(module)  # in CI (CI=true), missing means failed


@pytest.fixture(scope="module")
def ext():
    _need("sphinx")
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import chainrule_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return chainrule_docs


@pytest.fixture(scope="module")
def html(tmp_path_factory, ext) -> Path:
    """The HTML docs, built as CI builds them: every warning is an error."""
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E"]
        + ["-b", "html", "-d", str(out / ".doctrees"), str(DOCS), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"sphinx-build -W failed (status {proc.returncode}):\n{proc.stderr[-6000:]}"
    )
    return out


@pytest.fixture(scope="module")
def inventory(html) -> dict[str, tuple[str, str]]:
    """Every documented object: name -> (domain:role, page#anchor)."""
    *head, packed = (html / "objects.inv").read_bytes().split(b"\n", 4)
    assert head[0] == b"# Sphinx inventory version 2"
    body = zlib.decompress(packed).decode()
    found = {}
    for line in body.splitlines():
        m = re.match(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)$", line)
        assert m, line
        name, role, _, uri, _ = m.groups()
        found[name] = (role, uri.replace("$", name))
    return found


def _python(inventory) -> list[str]:
    return [name for name, (role, _) in inventory.items() if role.startswith("py:")]


def _resolve(dotted: str) -> list:
    """What a documented dotted name can stand for. Usually one object; two
    where a package attribute shadows a submodule of the same name:
    ``chainrule.models.summary`` reads as the function in Python, while the
    page of the module ``chainrule.gradcheck`` documents
    ``chainrule.gradcheck.GradcheckError``."""
    parts = dotted.split(".")
    found = []
    for i in range(len(parts), 0, -1):  # the longest importable module first
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            continue
        found.append(obj)
        break
    obj = importlib.import_module(parts[0])  # attribute by attribute
    try:
        for attr in parts[1:]:
            obj = getattr(obj, attr)
        found.append(obj)
    except AttributeError:
        pass
    return found


def test_reference_covers_the_required_modules(ext, inventory):
    modules = set(ext.public_modules())
    assert REQUIRED_MODULES <= modules, REQUIRED_MODULES - modules
    for name in modules:
        assert inventory.get(name, ("",))[0] == "py:module", name


def test_every_public_name_is_documented(ext, inventory, html):
    """Each name in each public module's ``__all__`` (or, without one, each
    class and function it defines) has an entry in the index that is the same
    object, and the module's page links to it."""
    by_tail: dict[str, list[str]] = {}
    for entry in _python(inventory):
        by_tail.setdefault(entry.rsplit(".", 1)[-1], []).append(entry)
    missing = []
    for module_name in ext.public_modules():
        module = importlib.import_module(module_name)
        page = (html / "api" / f"{module_name}.html").read_text()
        for name in ext.public_names(module_name):
            obj = getattr(module, name)
            if getattr(obj, "__name__", None) in inventory and isinstance(
                obj, type(module)
            ):
                continue  # a submodule: its own page
            homes = [
                e for e in by_tail.get(name, []) if any(o is obj for o in _resolve(e))
            ]
            if not homes:
                missing.append(f"{module_name}.{name}: not in the index")
            elif not any(
                f'href="{_link(inventory[h][1], module_name)}"' in page for h in homes
            ):
                missing.append(f"{module_name}.{name}: not linked from its page")
    assert not missing, "\n".join(missing)


def _link(uri: str, module_name: str) -> str:
    """The href with which a page under api/ links to ``uri``."""
    page, _, anchor = uri.partition("#")
    here = f"api/{module_name}.html"
    return f"#{anchor}" if page == here else f"{Path(page).name}#{anchor}"


def test_all_names_of_chainrule_are_in_the_index(inventory):
    """The names a user types first (``cr.fit``, ``cr.Sequential``...)."""
    import chainrule

    ids = {id(o) for e in _python(inventory) for o in _resolve(e)}
    absent = [n for n in chainrule.__all__ if id(getattr(chainrule, n)) not in ids]
    assert not absent, absent


def test_command_line_page_has_every_command_and_option(inventory):
    from chainrule.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    expected = []
    for command, subparser in sub.choices.items():
        for action in subparser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings or [action.metavar or action.dest]:
                expected.append(f"chainrule-{command}.{option}")
    absent = [e for e in expected if inventory.get(e, ("",))[0] != "std:cmdoption"]
    assert not absent, absent
    assert all(inventory[e][1].startswith("guide/cli.html#") for e in expected)


@pytest.mark.parametrize("page", GUIDE)
def test_guide_examples_run(page, tmp_path, monkeypatch):
    """The ``>>>`` examples of each guide page, as doctests."""
    for module in PAGE_NEEDS.get(page, []):
        _need(module)
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    result = doctest.testfile(
        str(DOCS / "guide" / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS,
        verbose=False,
    )
    assert result.failed == 0, f"{result.failed} example(s) of {page} failed"


def test_every_guide_page_is_in_the_index_page():
    index = (DOCS / "index.rst").read_text()
    for page in GUIDE:
        assert f"guide/{page[:-4]}" in index, page
