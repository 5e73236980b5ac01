"""Sphinx helpers for chainrule's documentation, generated from the code itself.

- The API reference: one page per public module, written into ``docs/api/``
  when the build starts. A module's public names are its ``__all__``; a module
  without one offers the classes and functions it defines and the UPPERCASE
  constants it assigns. So a name added to ``__all__``, or a new module, shows
  up with no list to update here.
- ``.. chainrule-cli::``: the command line's reference, read from the argparse
  parser that ``chainrule`` runs, so options cannot drift from the docs.
- The house style writes formulas as plain text (``dx = dy @ weight``,
  ``|z|``, an indented block after a colon); :func:`plain_text_formulas`
  shows those as typed instead of reading them as reStructuredText markup.

Every object is documented once, on the page of the public module that defines
it (``chainrule.layers.Linear``, defined in ``chainrule/layers/linear.py``); a
module that re-exports it (``chainrule.Sequential``) lists it with a link.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

PACKAGE = "chainrule"
# Modules with a public name that are documented elsewhere, and why.
EXCLUDED = {
    "chainrule.cli": "its interface is the command line (the cli page)",
}


# ---------------------------------------------------------------- the modules
def public_modules() -> list[str]:
    """Every public module: chainrule itself, each submodule without a leading
    underscore and, inside a package, the submodules its ``__all__`` names or,
    when it has no ``__all__`` (``chainrule.interop``), each public one."""
    root = importlib.import_module(PACKAGE)
    found = [PACKAGE]

    def walk(package) -> None:
        for info in pkgutil.iter_modules(package.__path__):
            name = f"{package.__name__}.{info.name}"
            if info.name.startswith("_") or name in EXCLUDED:
                continue
            found.append(name)
            if info.ispkg:
                module = importlib.import_module(name)
                if not hasattr(module, "__all__"):
                    walk(module)
                    continue
                for attr in module.__all__:  # a submodule it offers by name
                    sub = getattr(module, attr)
                    if inspect.ismodule(sub) and sub.__name__ not in found:
                        found.append(sub.__name__)

    walk(root)
    return found


def _assigned_constants(module) -> list[str]:
    """UPPERCASE names the module's own source assigns (not ones it imports)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return []
    names = []
    for stmt in tree.body:
        targets = []
        if isinstance(stmt, ast.Assign):
            targets = [t for t in stmt.targets if isinstance(t, ast.Name)]
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            targets = [stmt.target]
        names += [t.id for t in targets if t.id.isupper() and not t.id.startswith("_")]
    return names


def public_names(module_name: str) -> list[str]:
    """The names a user of ``module_name`` may rely on, in a stable order."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    defined = [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == module_name
    ]
    return defined + _assigned_constants(module)


def homes(modules: list[str]) -> dict[int, str]:
    """Where each public class and function is documented: ``module.name`` for
    the longest public module its ``__module__`` lies in, when that module lists
    it; else on the first page that lists it. Keyed by ``id(obj)``."""
    found: dict[int, str] = {}
    listed = {m: public_names(m) for m in modules}
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in listed[module_name]:
            obj = getattr(module, name)
            if id(obj) in found or _role(obj) not in ("class", "exc", "func"):
                continue
            defined_in = getattr(obj, "__module__", None) or ""
            inside = [
                m for m in modules if defined_in == m or defined_in.startswith(m + ".")
            ]
            home = max(inside, key=len) if inside else module_name
            if getattr(importlib.import_module(home), name, None) is not obj or (
                name not in listed[home]
            ):
                home = module_name
            found[id(obj)] = f"{home}.{name}"
    return found


def _role(obj) -> str:
    if inspect.ismodule(obj):
        return "mod"
    if not (getattr(obj, "__module__", None) or "").startswith(PACKAGE):
        return "data"  # a constant that holds another library's object
    if inspect.isclass(obj):
        return "exc" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "func"
    return "data"


def _summary(obj) -> str:
    """The first line of a docstring, with the markup that cannot stand alone
    (a sentence cut off inside ``literal`` or a role) left whole."""
    if not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj)):
        return ""
    doc = inspect.getdoc(obj) or ""
    return _safe_line(doc.strip().split("\n\n")[0].replace("\n", " ").strip())


def _safe_line(first: str) -> str:
    """A summary line that reads as one line of reStructuredText, or nothing."""
    if first.count("``") % 2 or first.count("`") % 2:
        return ""
    return _escape_bars(first)


def _doc_comment(module, name: str) -> list[str]:
    """The ``#:`` comment above ``name`` in the module or one of its
    submodules (where a package's constant is defined), as lines."""
    from sphinx.pycode import ModuleAnalyzer, PycodeError

    for mod_name in [module.__name__] + sorted(
        m for m in list(sys.modules) if m.startswith(module.__name__ + ".")
    ):
        try:
            docs = ModuleAnalyzer.for_module(mod_name).find_attr_docs()
        except PycodeError:
            continue
        if ("", name) in docs:
            return [line for line in docs["", name] if line.strip()]
    return []


def _describe(value) -> str:
    """One line saying what a constant holds, as reStructuredText."""
    kind = type(value).__name__
    if inspect.isclass(value):
        return f"``{value.__module__}.{value.__qualname__}``"
    if isinstance(value, (str, int, float, bool)):
        return f"``{value!r}``"
    if isinstance(value, dict):
        keys = ", ".join(f"``{k!r}``" for k in value)
        return f"A ``{kind}`` with the keys {keys}."
    if isinstance(value, (tuple, list, set, frozenset)) and len(value) <= 12:
        return f"``{value!r}``"
    return f"A ``{kind}``."


def module_page(module_name: str, homes: dict[int, str]) -> str:
    module = importlib.import_module(module_name)
    title = f"``{module_name}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {module_name}", ""]
    names = public_names(module_name)
    if not names:
        return "\n".join(lines) + "\n"
    lines += [
        ".. list-table::",
        "   :widths: 30 70",
        "   :class: chainrule-names",
        "",
    ]
    here = []
    for name in names:
        obj = getattr(module, name)
        role = _role(obj)
        if role == "mod":
            target = obj.__name__
        else:
            target = homes.get(id(obj), f"{module_name}.{name}")
            if target == f"{module_name}.{name}":
                here.append((name, obj, role))
        summary = (
            _summary(obj)
            if role != "data"
            else _safe_line(" ".join(_doc_comment(module, name)).split(". ")[0])
        )
        lines += [
            f"   * - :py:{role}:`{name} <{target}>`",
            f"     - {summary}",
        ]
    lines.append("")
    for name, obj, role in here:
        full = f"{module_name}.{name}"
        if role in ("class", "exc"):
            lines += [
                f".. auto{'exception' if role == 'exc' else 'class'}:: {full}",
                "   :members:",
            ]
            if obj.__bases__ != (object,):
                lines.append("   :show-inheritance:")
            lines.append("")
        elif role == "func":
            lines += [f".. autofunction:: {full}", ""]
        else:
            # A constant: its #: comment where it has one, and what it holds.
            text = plain_text_formulas(_doc_comment(module, name)) + [
                "",
                _describe(obj),
            ]
            lines += [f".. py:data:: {name}", f"   :module: {module_name}", ""]
            lines += [f"   {t}" if t else "" for t in text] + [""]
    return "\n".join(lines) + "\n"


# id(object) -> the dotted name it is documented under; set by write_api.
_HOMES: dict[int, str] = {}


def write_api(app) -> None:
    """Write ``docs/api/*.rst`` (one page per public module, and the index)."""
    out = Path(app.srcdir) / "api"
    out.mkdir(exist_ok=True)
    modules = public_modules()
    pages = {"index": _api_index(modules)}
    where = homes(modules)
    _HOMES.clear()
    _HOMES.update(where)
    for name in modules:
        pages[name] = module_page(name, where)
    for stale in out.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink()
    for stem, text in pages.items():
        path = out / f"{stem}.rst"
        # Rewrite only what changed, so an unchanged page is not read again.
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _api_index(modules: list[str]) -> str:
    lines = [
        "API reference",
        "=============",
        "",
        "Every public module of chainrule, and in each every name in its",
        "``__all__`` (or, for a module without one, every class and function",
        "it defines). Each object is described once, on the page of the module",
        "that defines it; a module that re-exports it links there.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    lines += [f"   {name}" for name in modules]
    return "\n".join(lines) + "\n"


def _lookup(dotted: str):
    """``a.b.c`` as Python reads it: attributes first, else submodules."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=2):
        obj = (
            getattr(obj, part)
            if hasattr(obj, part)
            else importlib.import_module(".".join(parts[:i]))
        )
    return obj


def _resolve_alias(app, env, node, contnode):
    """Resolve ``chainrule.Sequential`` (the name users type) to where the
    object is documented (``chainrule.models.Sequential``)."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    candidates = [target]
    if not target.startswith(PACKAGE + ".") and node.get("py:module"):
        candidates.insert(0, f"{node['py:module']}.{target}")
    for name in candidates:
        if not name.startswith(PACKAGE):
            continue
        try:
            obj = _lookup(name)
        except (ImportError, AttributeError):
            continue
        home = obj.__name__ if inspect.ismodule(obj) else _HOMES.get(id(obj))
        if home and home != target:
            return env.get_domain("py").resolve_xref(
                env, node["refdoc"], app.builder, "obj", home, node, contnode
            )
    return None


# ------------------------------------------------------- plain-text formulas
_SECTION = re.compile(r"^-{3,}\s*$")
_FREE_TEXT = {"", "notes"}  # the extended description and Notes hold prose
_BULLET = re.compile(r"^(?:[-*+] |\d+\. |#\. )")
_BARS = re.compile(r"(?<![\\|`])\|(?=[^|\s])([^|`\n]*?[^|\s\\])\|(?![|_`])")


# Python's star in plain text: ``(N, *shape)``, ``f(*args, **kwargs)``.
_STAR = re.compile(r"(?:(?<=[(\[,])|(?<=, ))(\*\*?)(?=[A-Za-z_]\w*(?![\w*]))")
# scikit-learn's fitted attributes in plain text: ``best_loss_`` is a name,
# not a hyperlink reference.
_TRAILING = re.compile(r"(?<=\w)_(?=[\s,.;:)\]]|$)")


def _escape_bars(line: str) -> str:
    """Outside ````literals````: ``|x|`` is an absolute value, not a
    substitution, ``(N, *shape)`` a star, not the start of emphasis, and
    ``coef_`` a name, not a reference."""
    parts = line.split("``")
    parts[::2] = [
        _TRAILING.sub(
            r"\\_",
            _STAR.sub(lambda m: "\\*" * len(m.group(1)), _BARS.sub(r"\\|\1\\|", p)),
        )
        for p in parts[::2]
    ]
    return "``".join(parts)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def plain_text_formulas(lines: list[str]) -> list[str]:
    """Read a docstring's plain-text formulas as text, not markup.

    In the description and Notes: a paragraph whose later lines are indented
    deeper than its first (``L = ...`` then ``  = ...``), or that starts with
    ``Forward``/``Backward``, becomes a literal block, and an indented block
    after a line ending in one colon becomes literal too (``::``), as a reader
    of the source sees them. Everywhere outside literals, ``|x|`` is an
    absolute value, not a substitution, and ``(N, *shape)`` holds a star.
    """
    out: list[str] = []
    section = ""
    i = 0
    in_literal = False  # inside a literal block or a doctest
    literal_indent = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and _SECTION.match(lines[i + 1]) and line.strip():
            section = line.strip().lower()
            out += [line, lines[i + 1]]
            i += 2
            in_literal = False
            continue
        if in_literal:
            if line.strip() and _indent(line) <= literal_indent:
                in_literal = False
            else:
                out.append(line)
                i += 1
                continue
        if not line.strip():
            out.append(line)
            i += 1
            continue
        # One paragraph: the run of non-blank lines from here.
        j = i
        while (
            j < len(lines)
            and lines[j].strip()
            and not (j + 1 < len(lines) and _SECTION.match(lines[j + 1]))
        ):
            j += 1
        para = lines[i:j]
        first = _indent(para[0])
        if para[0].lstrip().startswith(">>>"):
            out += para
            i = j
            continue
        if section in _FREE_TEXT and not _BULLET.match(para[0].lstrip()):
            deeper = any(_indent(p) > first for p in para[1:])
            formula = para[0].lstrip().startswith(("Forward", "Backward"))
            if (deeper or formula) and not para[-1].rstrip().endswith("::"):
                out += [" " * first + "::", ""]
                out += ["    " + p for p in para]
                i = j
                continue
            end = para[-1].rstrip()
            if end.endswith(":") and not end.endswith("::"):
                # Is the next paragraph an indented block? Then it is literal.
                k = j
                while k < len(lines) and not lines[k].strip():
                    k += 1
                if k < len(lines) and _indent(lines[k]) > first:
                    para = para[:-1] + [end + ":"]
        # In Parameters, Returns...: an entry's "name : type" line is napoleon's.
        out += [
            p if section not in _FREE_TEXT and not _indent(p) else _escape_bars(p)
            for p in para
        ]
        if para[-1].rstrip().endswith("::"):
            in_literal, literal_indent = True, first
        i = j
    return out


def _process_docstring(app, what, name, obj, options, lines) -> None:
    lines[:] = plain_text_formulas(lines)


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Leave out members another library put on our classes (scikit-learn's
    ``set_fit_request`` and the like): they are documented there."""
    module = getattr(obj, "__module__", None)
    if what == "class" and isinstance(module, str) and not module.startswith(PACKAGE):
        return True
    return None


# ------------------------------------------------------------ the command line
class ChainruleCLI(SphinxDirective):
    """``.. chainrule-cli::``: every command and option of ``chainrule``."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from chainrule.cli import build_parser

        parser = build_parser()
        rst = _parser_rst(parser, "chainrule")
        subactions = [
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        ]
        for action in subactions:
            helps = {c.dest: c.help for c in action._choices_actions}
            for name, sub in action.choices.items():
                rst += _parser_rst(sub, f"chainrule {name}", helps.get(name))
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(rst, "<chainrule-cli>"), node)
        return node.children


def _parser_rst(parser: argparse.ArgumentParser, prog: str, summary=None) -> list[str]:
    title = f"``{prog}``"
    lines = [title, "-" * len(title), ""]
    if summary:
        lines += [_escape(summary[0].upper() + summary[1:]) + ".", ""]
    if parser.description and parser.description != summary:
        lines += [_escape(parser.description), ""]
    usage = parser.format_usage().strip()
    lines += ["::", "", *("   " + u for u in usage.splitlines()), ""]
    lines += [f".. program:: {prog}", ""]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        # argparse's own spelling: "--optimizer {sgd,adam}", "--out OUT".
        if action.option_strings:
            names = formatter._format_action_invocation(action)
        else:  # a positional by its name, not by its choices ("{mnist}")
            names = action.metavar or action.dest
        lines += [f".. option:: {names}", ""]
        text = action.help or ""
        if action.choices and not action.option_strings:
            text += " (one of: " + ", ".join(map(str, action.choices)) + ")"
        if action.required and action.option_strings:
            text += " (required)"
        if text:
            lines += ["   " + _escape(text), ""]
    return lines


def _escape(text: str) -> str:
    """Plain text for reStructuredText: a ``*`` or a backquote is literal."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`")


def setup(app):
    app.connect("builder-inited", write_api)
    # Before napoleon (priority 500) turns numpydoc sections into fields.
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("missing-reference", _resolve_alias)
    app.add_directive("chainrule-cli", ChainruleCLI)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
