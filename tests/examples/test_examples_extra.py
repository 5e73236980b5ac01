"""What examples/ imports, ``pip install '.[examples]'`` brings; its README
points at nothing outside the repository."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Import names whose distribution is named otherwise.
DISTRIBUTION = {"PIL": "pillow", "sklearn": "scikit-learn"}


def _third_party_imports() -> set[str]:
    names = set()
    for script in (REPO / "examples").glob("*.py"):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    local = {p.stem for p in (REPO / "examples").glob("*.py")}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    return {n for n in names if n not in stdlib | local | {"chainrule", "numpy"}}


def test_the_examples_extra_covers_every_import():
    # tomllib is Python 3.11+; the extra is one line of quoted requirements.
    line = re.search(
        r"^examples = \[(.*)\]$", (REPO / "pyproject.toml").read_text(), re.M
    )
    assert line, "pyproject.toml declares no examples extra"
    extra = {
        re.split(r"[<>=!~ \[]", r)[0].lower() for r in re.findall(r'"([^"]+)"', line[1])
    }
    needed = {DISTRIBUTION.get(n, n).lower() for n in _third_party_imports()}
    assert needed >= {"scipy", "matplotlib"}  # what the scan must find
    assert needed <= extra, f"add {sorted(needed - extra)} to the examples extra"


def test_the_readme_says_how_to_install_and_stays_inside_the_repository():
    text = (REPO / "examples" / "README.md").read_text(encoding="utf-8")
    assert "pip install '.[examples]'" in text
    assert "../" not in text and "shared/seeds" not in text
    for seed in ("000", "001", "002", "003", "004"):
        assert re.search(rf"^\| {seed} \| \"", text, re.M), seed
