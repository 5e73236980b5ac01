"""Sphinx configuration for chainrule's user guide and API reference.

Build with warnings as errors, as CI does::

    pip install -e '.[docs]'
    sphinx-build -W docs docs/_build/html
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The chainrule next to these docs, not another one installed elsewhere.
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_ext"))

import chainrule  # noqa: E402

project = "chainrule"
author = "the chainrule authors"
copyright = "the chainrule authors"
release = chainrule.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "chainrule_docs",
]

exclude_patterns = ["_build", "images/README*"]
templates_path: list[str] = []

# The docstrings are numpydoc; napoleon reads them without another dependency.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
# "Shapes" lists each array's shape the way "Parameters" lists arguments.
napoleon_custom_sections = [("Shapes", "params_style")]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# The optional extras are documented from their source; a machine without one
# of their libraries still builds the docs (the signatures stay exact).
autodoc_mock_imports = [
    name
    for name in ("sklearn", "onnx", "onnxruntime", "torch", "matplotlib", "mpi4py")
    if importlib.util.find_spec(name) is None
]

# Keep "--out" as typed (no en dash) in the text of command-line options.
smartquotes_action = "qe"

html_theme = "alabaster"
html_title = f"chainrule {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Neural networks on NumPy with every backward pass written out.",
    "fixed_sidebar": True,
}

# A reference to a chainrule name that does not exist (renamed, removed, a
# typo) fails the build; the types the numpydoc sections spell in words
# ("ndarray, shape (N, K)", "path-like") and other libraries' classes are
# plain text, not references.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!chainrule\.).*"),
    (r"py:.*", r"chainrule\.(.*\.)?_\w+"),  # private bases such as sklearn's
]
