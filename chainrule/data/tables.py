"""CSV and TSV tables: read, choose columns, fit and apply the preprocessing.

The reader is the standard library's ``csv`` module: it handles quoting,
embedded delimiters and newlines inside quotes exactly as spreadsheets write
them, its ``Sniffer`` tells comma, semicolon and tab apart, it streams row by
row (so a file of any size is read in bounded memory), and it adds no
dependency. NumPy's ``loadtxt``/``genfromtxt`` do not handle quoted fields and
would need the whole file's text at once; pandas would be a large optional
dependency for what two passes of ``csv`` do.

The rules, in the order they apply:

- The first non-blank row is the header; blank lines are skipped; every other
  row must have as many fields as the header (else the line is named).
- A value is *missing* when it is empty or one of ``NA``, ``N/A``, ``NaN``,
  ``null``, ``None``, ``?`` (any case).
- A column is *numeric* when more than half of its non-missing values are
  finite numbers; a value that is not one in a numeric column is an error
  naming its line and column. Other columns are *text*.
- Numeric inputs are standardised, ``(x - mean) / std``, with the training
  rows' mean and standard deviation (a constant column keeps scale 1).
- Text inputs with at most :data:`MAX_CATEGORIES` distinct values are one-hot
  encoded (one 0/1 column per category, categories from the whole file, in
  sorted order); text columns with more values (names, ids) are left out
  when ``features`` is not given, and are an error when named in it.
- Missing inputs are filled (``missing="impute"``, the default) with the
  training rows' median (numeric) or most frequent category (text), counted
  and reported; with ``missing="refuse"`` the first one is an error naming
  its line and column. A missing target is always an error.

Limits, each an error naming what was exceeded: at most :data:`MAX_COLUMNS`
columns, fields of at most 128 KiB (the ``csv`` module's limit), class
targets of at most :data:`MAX_CLASSES` classes, and an input array of at most
:data:`MAX_ARRAY_BYTES` bytes. Rows are otherwise unlimited: the file is
streamed twice (pass 1 learns the columns' kinds, categories and the row
count; pass 2 writes float32 values straight into one preallocated array),
so memory stays at about twice the float32 array, whatever the file's size.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._progress import PROGRESS_MIN_BYTES, ReadProgress

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
#: Most columns a table may have.
MAX_COLUMNS = 10_000
#: Most distinct values of a text input that is one-hot encoded.
MAX_CATEGORIES = 50
#: Most classes of a class target.
MAX_CLASSES = 1_000
#: Largest float32 input array a table may become (8 GiB).
MAX_ARRAY_BYTES = 8 * 2**30
#: Rows parsed into one block before it is copied into the result.
CHUNK_ROWS = 65_536
#: An integer target with at most this many distinct values is read as classes
#: when no task is given.
CLASS_INFER_MAX = 20


class TableError(ValueError):
    """A table that cannot be read as asked; the message names the line,
    column or value."""


# ----------------------------------------------------------------- reading
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _is_missing(text: str) -> bool:
    return text.lower() in MISSING_MARKERS


def _sniff(head: bytes, path: Path) -> str:
    """The delimiter, from the first 64 KiB: comma, semicolon or tab."""
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if len(lines) > 1 and not head.endswith((b"\n", b"\r")):
        lines = lines[:-1]  # the last line may be cut in the middle
    sample = "\n".join(lines[:200])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        # One column, or too few rows to tell: the suffix decides.
        if path.suffix.lower() in (".tsv", ".tab"):
            return "\t"
        first = lines[0] if lines else ""
        return ";" if first.count(";") > first.count(",") else ","


def _lines(f, progress: ReadProgress, path: Path) -> Iterator[str]:
    done = 0
    for number, raw in enumerate(f, start=1):
        done += len(raw)
        if done & 0xFFFF < len(raw):  # about every 64 KiB
            progress.update(done)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TableError(
                f"{str(path)!r}: line {number} is not UTF-8 text; save the file as "
                "UTF-8 CSV."
            ) from None


def csv_rows(path, label: str = "reading") -> Iterator:
    """Stream a CSV/TSV file: first ``(delimiter, header)``, then
    ``(line_number, fields)`` for each non-blank row.

    Raises
    ------
    TableError
        A missing or empty file, no header, a ragged row (naming its line),
        more than :data:`MAX_COLUMNS` columns, duplicate column names, or text
        the ``csv`` module cannot parse.
    """
    path = Path(path)
    if path.is_dir():
        raise TableError(f"{str(path)!r} is a directory, not a CSV file.")
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise TableError(f"no such file {str(path)!r}.") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(65536)
        if not head.strip():
            raise TableError(f"{str(path)!r} is empty; expected a header row and data.")
        f.seek(3 if head.startswith(b"\xef\xbb\xbf") else 0)  # a UTF-8 BOM
        delimiter = _sniff(head.removeprefix(b"\xef\xbb\xbf"), path)
        progress = ReadProgress(
            f"{label} {path.name}", size, enabled=size >= PROGRESS_MIN_BYTES
        )
        reader = csv.reader(_lines(f, progress, path), delimiter=delimiter)
        try:
            header = next((r for r in reader if r), None)
            if header is None:
                raise TableError(f"{str(path)!r} has no header row.")
            header = [h.strip() or f"column {i + 1}" for i, h in enumerate(header)]
            if len(header) > MAX_COLUMNS:
                raise TableError(
                    f"{str(path)!r} has {len(header):,} columns; at most "
                    f"{MAX_COLUMNS:,} are supported."
                )
            seen: set[str] = set()
            for h in header:
                if h in seen:
                    raise TableError(
                        f"{str(path)!r}: column name {h!r} appears twice in the "
                        "header; names must be unique."
                    )
                seen.add(h)
            yield delimiter, header
            width = len(header)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip() and width > 1):
                    continue  # a blank line
                if len(row) != width:
                    raise TableError(
                        f"{str(path)!r}: line {reader.line_num} has {len(row)} "
                        f"fields; the header has {width}. Check for a missing or "
                        "extra delimiter (or an unquoted one inside a value)."
                    )
                yield reader.line_num, row
        except csv.Error as exc:
            raise TableError(
                f"{str(path)!r}: line {reader.line_num} cannot be parsed as CSV: {exc}."
            ) from None
        progress.finish()


# -------------------------------------------------------------- pass 1: scan
@dataclass
class ColumnStats:
    """What pass 1 learns about one column."""

    name: str
    numbers: int = 0
    texts: int = 0
    missing: int = 0
    integers: bool = True
    first_text: tuple[int, str] | None = None
    first_missing: int | None = None
    #: Counts of each distinct value (as written), None once over its cap.
    counts: dict[str, int] | None = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        """More than half of the non-missing values are numbers."""
        return self.numbers > self.texts

    @property
    def n_distinct(self) -> int | None:
        return None if self.counts is None else len(self.counts)

    def categories(self) -> list[str]:
        """Distinct values in sorted order (numerically for numbers)."""
        keys = list(self.counts or ())
        if self.numeric:
            # "1" and "1.0" are one class: key by value, name by first spelling.
            by_value: dict[float, str] = {}
            for k in keys:
                by_value.setdefault(float(k), k)
            return [by_value[v] for v in sorted(by_value)]
        return sorted(keys)


@dataclass
class TableScan:
    """Pass 1's result: the file's delimiter, columns and row count."""

    path: Path
    delimiter: str
    columns: list[ColumnStats]
    n_rows: int

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str, role: str) -> ColumnStats:
        for c in self.columns:
            if c.name == name:
                return c
        raise TableError(
            f"unknown {role} column {name!r} in {str(self.path)!r}; the columns "
            f"are {', '.join(self.names)}."
        )


def scan_table(path, targets: Sequence[str] = ()) -> TableScan:
    """Pass 1 over a CSV/TSV file: kinds, categories and missing values of
    every column, and the number of data rows.

    Distinct values are counted up to :data:`MAX_CLASSES` for the ``targets``
    and up to ``MAX_CATEGORIES + 1`` for other columns, so that a wide file of
    numbers costs little memory in this pass.
    """
    rows = csv_rows(path, "reading (pass 1 of 2)")
    delimiter, header = next(rows)
    stats = [ColumnStats(h) for h in header]
    caps = [MAX_CLASSES if h in targets else MAX_CATEGORIES + 1 for h in header]
    n = 0
    for line, row in rows:
        n += 1
        for st, value, cap in zip(stats, row, caps):
            s = value.strip()
            if _is_missing(s):
                st.missing += 1
                if st.first_missing is None:
                    st.first_missing = line
                continue
            v = _number(s)
            if v is None:
                st.texts += 1
                if st.first_text is None:
                    st.first_text = (line, s)
            else:
                st.numbers += 1
                if st.integers and not v.is_integer():
                    st.integers = False
            counts = st.counts
            if counts is not None:
                counts[s] = counts.get(s, 0) + 1
                if len(counts) > cap:
                    st.counts = None
    if n == 0:
        raise TableError(f"{str(path)!r} has a header but no data rows.")
    return TableScan(Path(path), delimiter, stats, n)


# ------------------------------------------------------------ choosing columns
def _not_a_number(path, st: ColumnStats) -> TableError:
    line, text = st.first_text
    return TableError(
        f"{str(path)!r}: line {line}, column {st.name!r}: {text!r} is not a number "
        f"(the column is numeric: {st.numbers:,} of its values are numbers). Fix "
        "the value, leave it empty to mark it missing, or leave the column out "
        "with --features."
    )


@dataclass
class TablePlan:
    """The columns a model reads: inputs (numeric or one-hot) and targets."""

    inputs: list[dict]
    targets: list[ColumnStats]
    notes: list[str]


def plan_table(
    scan: TableScan,
    targets: Sequence[str] = (),
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> TablePlan:
    """Choose input and target columns and check that they can be used.

    Parameters
    ----------
    scan : TableScan
    targets : sequence of str
        Columns to predict (none for an autoencoder).
    features : sequence of str, optional
        Input columns; default every other column except ``exclude``, leaving
        out text columns of more than :data:`MAX_CATEGORIES` values (noted).
    exclude : sequence of str
        Columns that are neither inputs nor targets (an id, a label to colour by).

    Raises
    ------
    TableError
        Unknown columns (the message lists the file's columns), a column both
        input and target, a number-column value that is not a number, a text
        input of too many categories, or a column with no values.
    """
    target_stats = [scan.column(t, "target") for t in targets]
    for t in exclude:
        scan.column(t, "--id/--label")
    notes: list[str] = []
    if features is not None:
        chosen = [scan.column(f, "feature") for f in features]
        both = sorted(set(features) & set(targets))
        if both:
            raise TableError(
                f"column {both[0]!r} is both a feature and a target; a model "
                "cannot be given the answer."
            )
    else:
        skip = set(targets) | set(exclude)
        chosen = []
        for st in scan.columns:
            if st.name in skip:
                continue
            many = st.n_distinct is None or st.n_distinct > MAX_CATEGORIES
            if not st.numeric and st.texts and many:
                notes.append(
                    f"column {st.name!r} left out: text with over {MAX_CATEGORIES} "
                    f"distinct values (one-hot encoding takes at most {MAX_CATEGORIES})"
                )
                continue
            chosen.append(st)
    inputs = []
    for st in chosen:
        if st.numbers == 0 and st.texts == 0:
            raise TableError(
                f"{str(scan.path)!r}: column {st.name!r} has no values (all "
                f"{st.missing:,} are missing); leave it out with --features."
            )
        if st.numeric:
            if st.texts:
                raise _not_a_number(scan.path, st)
            inputs.append({"name": st.name, "type": "numeric"})
        else:
            if st.n_distinct is None or st.n_distinct > MAX_CATEGORIES:
                raise TableError(
                    f"{str(scan.path)!r}: column {st.name!r} is text with over "
                    f"{MAX_CATEGORIES} distinct values; one-hot encoding takes at most "
                    f"{MAX_CATEGORIES}. Leave it out of --features."
                )
            inputs.append(
                {"name": st.name, "type": "category", "categories": st.categories()}
            )
    if not inputs:
        raise TableError(
            f"{str(scan.path)!r} has no input columns left besides the target(s); "
            f"the columns are {', '.join(scan.names)}."
        )
    for st in target_stats:
        if st.first_missing is not None:
            raise TableError(
                f"{str(scan.path)!r}: line {st.first_missing}, target column "
                f"{st.name!r}: the value is missing ({st.missing:,} rows without a "
                "target); remove those rows."
            )
        if st.numeric and st.texts:
            raise _not_a_number(scan.path, st)
        if st.n_distinct == 1:
            raise TableError(
                f"{str(scan.path)!r}: target column {st.name!r} has one distinct "
                f"value ({next(iter(st.counts))!r}) in all {scan.n_rows:,} rows; "
                "there is nothing to learn."
            )
    width = sum(1 if i["type"] == "numeric" else len(i["categories"]) for i in inputs)
    need = scan.n_rows * width * 4
    if need > MAX_ARRAY_BYTES:
        raise TableError(
            f"{str(scan.path)!r} would need {need / 2**30:.1f} GiB as float32 "
            f"({scan.n_rows:,} rows x {width:,} input columns); the limit is "
            f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB. Pick fewer columns with --features "
            "or fewer rows."
        )
    return TablePlan(inputs, target_stats, notes)


# ------------------------------------------------------------- pass 2: values
@dataclass
class RawTable:
    """Pass 2's result, before the fitted transform: numeric inputs with NaN
    for missing, category codes with -1 for missing, raw targets, ids."""

    numeric: np.ndarray  # (N, n_numeric) float32
    codes: np.ndarray  # (N, n_category) int32
    targets: list[np.ndarray] = field(default_factory=list)
    ids: list[str] | None = None
    label: list[str] | None = None
    #: (line, column) of the first missing input, for missing="refuse".
    first_missing: tuple[int, str] | None = None

    def __len__(self) -> int:
        return len(self.numeric)


def read_values(
    path,
    inputs: list[dict],
    targets: list[dict],
    n_rows: int | None = None,
    id_column: str | None = None,
    label_column: str | None = None,
    label: str = "reading",
) -> RawTable:
    """Pass 2: parse the chosen columns into arrays, block by block.

    Parameters
    ----------
    inputs : list of dict
        ``{"name", "type": "numeric"}`` or ``{"name", "type": "category",
        "categories": [...]}``, as in a fitted preprocessing's JSON.
    targets : list of dict
        ``{"name", "type": "numeric"}`` or ``{"name", "type": "class",
        "classes": [...]}``.
    n_rows : int, optional
        The row count from pass 1: the arrays are then allocated once.

    Raises
    ------
    TableError
        A column missing from the file (all of them named), a value that is not
        a number in a numeric column, a category or class the model does not
        know, a missing target: each with its line and column.
    """
    rows = csv_rows(path, label if n_rows is None else "reading (pass 2 of 2)")
    _, header = next(rows)
    where = {h: i for i, h in enumerate(header)}
    wanted = [c["name"] for c in inputs + targets]
    wanted += [c for c in (id_column, label_column) if c]
    missing = [c for c in wanted if c not in where]
    if missing:
        raise TableError(
            f"{str(path)!r} lacks column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (it has "
            f"{', '.join(header)})."
        )
    num_cols = [where[c["name"]] for c in inputs if c["type"] == "numeric"]
    num_names = [c["name"] for c in inputs if c["type"] == "numeric"]
    cats = [c for c in inputs if c["type"] == "category"]
    cat_cols = [where[c["name"]] for c in cats]
    cat_maps = [{k: j for j, k in enumerate(c["categories"])} for c in cats]
    tgt_cols = [where[t["name"]] for t in targets]
    tgt_maps = [
        _class_lookup(t["classes"]) if t["type"] == "class" else None for t in targets
    ]
    id_col = where.get(id_column) if id_column else None
    label_col = where.get(label_column) if label_column else None

    block = min(CHUNK_ROWS, n_rows) if n_rows else CHUNK_ROWS
    num_buf = np.empty((block, len(num_cols)), np.float32)
    cat_buf = np.empty((block, len(cat_cols)), np.int32)
    tgt_buf = np.empty((block, len(tgt_cols)), np.float64)
    if n_rows is not None:
        num_out = np.empty((n_rows, len(num_cols)), np.float32)
        cat_out = np.empty((n_rows, len(cat_cols)), np.int32)
        tgt_out = np.empty((n_rows, len(tgt_cols)), np.float64)
    parts: list[tuple] = []
    ids: list[str] | None = [] if id_col is not None else None
    labels: list[str] | None = [] if label_col is not None else None
    first_missing = None
    filled = done = 0

    def flush():
        nonlocal filled, done
        if n_rows is not None:
            num_out[done : done + filled] = num_buf[:filled]
            cat_out[done : done + filled] = cat_buf[:filled]
            tgt_out[done : done + filled] = tgt_buf[:filled]
        else:
            parts.append(
                (num_buf[:filled].copy(), cat_buf[:filled].copy(), tgt_buf[:filled].copy())
            )
        done += filled
        filled = 0

    for line, row in rows:
        if n_rows is not None and done + filled >= n_rows:
            raise TableError(f"{str(path)!r} changed while it was being read.")
        r = filled
        for j, (c, name) in enumerate(zip(num_cols, num_names)):
            s = row[c].strip()
            if _is_missing(s):
                num_buf[r, j] = np.nan
                if first_missing is None:
                    first_missing = (line, name)
                continue
            v = _number(s)
            if v is None:
                raise TableError(
                    f"{str(path)!r}: line {line}, column {name!r}: {s!r} is not a "
                    "number; the column is numeric."
                )
            if abs(v) > _FLOAT32_MAX:
                # float32 would hold it as inf, and every step after as NaN.
                raise TableError(
                    f"{str(path)!r}: line {line}, column {name!r}: {s} is beyond "
                    "the float32 range the model computes in (about 3.4e38)."
                )
            num_buf[r, j] = v
        for j, (c, lookup, spec) in enumerate(zip(cat_cols, cat_maps, cats)):
            s = row[c].strip()
            if _is_missing(s):
                cat_buf[r, j] = -1
                if first_missing is None:
                    first_missing = (line, spec["name"])
                continue
            code = lookup.get(s)
            if code is None:
                raise TableError(
                    f"{str(path)!r}: line {line}, column {spec['name']!r}: category "
                    f"{s!r} is not one the model knows ({_preview(spec['categories'])})."
                )
            cat_buf[r, j] = code
        for j, (c, lookup, spec) in enumerate(zip(tgt_cols, tgt_maps, targets)):
            s = row[c].strip()
            if _is_missing(s):
                raise TableError(
                    f"{str(path)!r}: line {line}, target column {spec['name']!r}: "
                    "the value is missing; remove the row."
                )
            if lookup is None:
                v = _number(s)
                if v is None:
                    raise TableError(
                        f"{str(path)!r}: line {line}, column {spec['name']!r}: {s!r} "
                        "is not a number; the column is numeric."
                    )
                tgt_buf[r, j] = v
            else:
                code = lookup(s)
                if code is None:
                    raise TableError(
                        f"{str(path)!r}: line {line}, target column {spec['name']!r}: "
                        f"class {s!r} is not one the model knows "
                        f"({_preview(spec['classes'])})."
                    )
                tgt_buf[r, j] = code
        if ids is not None:
            ids.append(row[id_col])
        if labels is not None:
            labels.append(row[label_col].strip())
        filled += 1
        if filled == block:
            flush()
    flush()
    if done == 0:
        raise TableError(f"{str(path)!r} has a header but no data rows.")
    if n_rows is None:
        num_out = np.concatenate([p[0] for p in parts])
        cat_out = np.concatenate([p[1] for p in parts])
        tgt_out = np.concatenate([p[2] for p in parts])
    elif done != n_rows:
        raise TableError(f"{str(path)!r} changed while it was being read.")
    return RawTable(
        num_out,
        cat_out,
        [tgt_out[:, j] for j in range(len(tgt_cols))],
        ids,
        labels,
        first_missing,
    )


def _class_lookup(classes: list[str]):
    """Class name -> index; numbers match by value ("1.0" is class "1")."""
    exact = {k: j for j, k in enumerate(classes)}
    by_value = {}
    for j, k in enumerate(classes):
        v = _number(k)
        if v is not None:
            by_value[v] = j

    def lookup(s: str):
        j = exact.get(s)
        if j is None and by_value:
            v = _number(s)
            j = by_value.get(v) if v is not None else None
        return j

    return lookup


def _preview(items: list[str], n: int = 8) -> str:
    shown = ", ".join(repr(i) for i in items[:n])
    return shown + (f", ... {len(items) - n} more" if len(items) > n else "")
