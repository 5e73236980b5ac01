"""CSV/TSV reading, column planning and the fitted preprocessing."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from chainrule.data import tables
from chainrule.data.preprocessing import TablePreprocessing
from chainrule.data.tables import (
    TableError,
    plan_table,
    read_values,
    scan_table,
)


def write(path, text: str):
    path.write_text(text)
    return path


def test_delimiters_header_quotes_and_blank_lines(tmp_path):
    for sep in (",", ";", "\t"):
        p = write(
            tmp_path / "t.csv",
            f'name{sep}"size, in cm"{sep}kind\n\n"a{sep}b"{sep}1.5{sep}x\n'
            f"c{sep}2{sep}y\n\nd{sep}3{sep}x\n",
        )
        scan = scan_table(p)
        assert scan.delimiter == sep
        assert scan.names == ["name", "size, in cm", "kind"]
        assert scan.n_rows == 3
        size = scan.column("size, in cm", "feature")
        assert size.numeric and not size.integers
        assert scan.column("kind", "feature").categories() == ["x", "y"]


def test_utf8_bom_and_tsv_suffix(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_bytes(b"\xef\xbb\xbfa\n1\n2\n")
    scan = scan_table(p)
    assert scan.names == ["a"] and scan.delimiter == "\t"


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "is empty"),
        ("a,b\n", "has a header but no data rows"),
        ("a,b\n1,2\n3\n", "line 3 has 1 fields; the header has 2"),
        ("a,a\n1,2\n", "column name 'a' appears twice"),
    ],
)
def test_bad_files(tmp_path, text, match):
    p = write(tmp_path / "t.csv", text)
    with pytest.raises(TableError, match=match):
        scan_table(p)


def test_missing_file_and_not_utf8(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        scan_table(tmp_path / "nope.csv")
    p = tmp_path / "latin.csv"
    p.write_bytes(b"a,b\n1,caf\xe9\n")
    with pytest.raises(TableError, match="line 2 is not UTF-8"):
        scan_table(p)


def test_too_many_columns(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_COLUMNS", 3)
    p = write(tmp_path / "t.csv", "a,b,c,d\n1,2,3,4\n")
    with pytest.raises(TableError, match="4 columns; at most 3"):
        scan_table(p)


def test_numeric_column_with_text_names_line_and_column(tmp_path):
    rows = ["x,y"] + [f"{i},{i % 2}" for i in range(10)]
    rows[5] = "oops,1"
    p = write(tmp_path / "t.csv", "\n".join(rows) + "\n")
    scan = scan_table(p)
    with pytest.raises(TableError, match=r"line 6, column 'x': 'oops' is not a number"):
        plan_table(scan, ["y"])


def test_plan_columns(tmp_path):
    names = "\n".join(f"r{i},{i},{'ab'[i % 2]},{i % 3}" for i in range(80))
    p = write(tmp_path / "t.csv", "name,x,kind,y\n" + names + "\n")
    scan = scan_table(p, ["y"])
    plan = plan_table(scan, ["y"])
    # 80 distinct names are too many categories: left out, with a note.
    assert [c["name"] for c in plan.inputs] == ["x", "kind"]
    assert "column 'name' left out" in plan.notes[0]
    with pytest.raises(TableError, match="unknown target column 'z'.*columns are name, x"):
        plan_table(scan, ["z"])
    with pytest.raises(TableError, match="unknown feature column 'q'"):
        plan_table(scan, ["y"], features=["x", "q"])
    with pytest.raises(TableError, match="'y' is both a feature and a target"):
        plan_table(scan, ["y"], features=["x", "y"])
    with pytest.raises(TableError, match="'name' is text with over 50 distinct values"):
        plan_table(scan, ["y"], features=["name"])


def test_target_rules(tmp_path):
    p = write(tmp_path / "t.csv", "x,y\n1,5\n2,5\n")
    with pytest.raises(TableError, match="'y' has one distinct value"):
        plan_table(scan_table(p), ["y"])
    p = write(tmp_path / "u.csv", "x,y\n1,5\n2,\n3,6\n")
    with pytest.raises(TableError, match="line 3, target column 'y': the value is missing"):
        plan_table(scan_table(p), ["y"])
    p = write(tmp_path / "v.csv", "x,y\n,1\n,2\n")
    with pytest.raises(TableError, match="column 'x' has no values"):
        plan_table(scan_table(p), ["y"])


def _fit(p, targets=(), missing="impute"):
    scan = scan_table(p)
    plan = plan_table(scan, list(targets))
    specs = [{"name": t, "type": "numeric"} for t in targets]
    raw = read_values(p, plan.inputs, specs, n_rows=scan.n_rows)
    idx = np.arange(len(raw))
    prep = TablePreprocessing.fit(plan.inputs, specs, raw, idx, missing)
    return prep, raw


def test_an_input_beyond_float32_names_its_line_and_column(tmp_path):
    # float32 would hold 1e300 as inf, and training would turn it into NaN.
    p = write(tmp_path / "t.csv", "x,y\n1,0\n2,1\n1e300,0\n3,1\n")
    scan = scan_table(p)
    plan = plan_table(scan, ["y"])
    with pytest.raises(
        TableError, match=r"line 4, column 'x': 1e300 is beyond the float32 range"
    ):
        read_values(p, plan.inputs, [], n_rows=scan.n_rows)


def test_targets_near_float64s_limit_are_standardised(tmp_path):
    # Their squares overflow float64: the scale was inf, every prediction inf.
    rows = "".join(f"{i},{(i + 1) * 1e300}\n" for i in range(8))
    prep, raw = _fit(write(tmp_path / "t.csv", "x,y\n" + rows), ["y"])
    [spec] = prep.targets
    y = (np.arange(8) + 1) * 1e300
    assert spec["mean"] == pytest.approx(y.mean())
    assert spec["scale"] == pytest.approx((y / 1e300).std() * 1e300)
    t = prep.regression_targets(raw)
    assert np.isfinite(t).all()
    np.testing.assert_allclose(prep.to_units(t)[:, 0], y, rtol=1e-6)


def test_standardise_one_hot_and_impute(tmp_path):
    p = write(
        tmp_path / "t.csv",
        "a,c,y\n1,red,0.5\n2,blue,1.5\nNA,red,2.5\n5,,3.5\n",
    )
    prep, raw = _fit(p, ["y"])
    assert prep.feature_names() == ["a", "c=blue", "c=red"]
    assert prep.missing_counts(raw) == [("a", 1, 2.0), ("c", 1, "red")]
    x = prep.transform(raw)
    a = np.array([1, 2, 2, 5.0])  # the missing value is the median, 2
    np.testing.assert_allclose(x[:, 0], (a - a.mean()) / a.std(), rtol=1e-6)
    np.testing.assert_array_equal(x[:, 1:], [[0, 1], [1, 0], [0, 1], [0, 1]])
    y = prep.regression_targets(raw)
    np.testing.assert_allclose(prep.to_units(y)[:, 0], [0.5, 1.5, 2.5, 3.5], rtol=1e-6)
    # The fitted transform is JSON and survives a round trip unchanged.
    again = TablePreprocessing(json.loads(json.dumps(prep.to_json())))
    assert again.to_json() == prep.to_json()


def test_missing_refuse_names_line_and_column(tmp_path):
    p = write(tmp_path / "t.csv", "a,y\n1,0\nnull,1\n3,0\n")
    with pytest.raises(TableError, match="line 3, column 'a': the value is missing"):
        _fit(p, ["y"], missing="refuse")


def test_constant_column_keeps_scale_one(tmp_path):
    p = write(tmp_path / "t.csv", "a,b\n7,1\n7,2\n7,3\n")
    prep, raw = _fit(p)
    assert prep.inputs[0]["scale"] == 1.0
    assert np.all(prep.transform(raw)[:, 0] == 0)


def test_new_rows_unknown_category_and_class(tmp_path):
    p = write(tmp_path / "t.csv", "a,c\n1,x\n2,y\n")
    prep, _ = _fit(p)
    q = write(tmp_path / "new.csv", "c,a\nx,1\nz,2\n")
    with pytest.raises(TableError, match="line 3, column 'c': category 'z' is not one"):
        read_values(q, prep.inputs, [])
    q = write(tmp_path / "new2.csv", "c\nx\n")
    with pytest.raises(TableError, match="lacks column 'a'"):
        read_values(q, prep.inputs, [])
    q = write(tmp_path / "new3.csv", "a,c,t\n1,x,cat\n")
    with pytest.raises(TableError, match="class 'cat' is not one the model knows"):
        read_values(q, prep.inputs, [{"name": "t", "type": "class", "classes": ["dog"]}])


def test_chunked_reading_gives_the_same_arrays(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 4))
    lines = ["a,b,c,d"] + [",".join(f"{v:.6f}" for v in row) for row in data]
    p = write(tmp_path / "t.csv", "\n".join(lines) + "\n")
    scan = scan_table(p)
    plan = plan_table(scan, [])
    whole = read_values(p, plan.inputs, [], n_rows=scan.n_rows)
    monkeypatch.setattr(tables, "CHUNK_ROWS", 7)
    monkeypatch.setattr(tables, "PROGRESS_MIN_BYTES", 0)
    chunked = read_values(p, plan.inputs, [], n_rows=scan.n_rows)
    streamed = read_values(p, plan.inputs, [])  # row count unknown: blocks joined
    np.testing.assert_array_equal(whole.numeric, chunked.numeric)
    np.testing.assert_array_equal(whole.numeric, streamed.numeric)
    np.testing.assert_allclose(whole.numeric, data, atol=1e-6)
    assert "reading (pass 2 of 2) t.csv  100%" in capsys.readouterr().err


def test_memory_is_about_twice_the_float32_array(tmp_path, monkeypatch):
    # A big file in miniature: blocks much smaller than the file.
    monkeypatch.setattr(tables, "CHUNK_ROWS", 256)
    n, d = 3_000, 16
    rng = np.random.default_rng(1)
    body = "\n".join(
        ",".join(f"{v:.3f}" for v in row) for row in rng.normal(size=(n, d))
    )
    p = write(tmp_path / "big.csv", ",".join(f"c{j}" for j in range(d)) + "\n" + body)
    array_bytes = n * d * 4
    tracemalloc.start()
    try:
        scan = scan_table(p)
        plan = plan_table(scan, [])
        raw = read_values(p, plan.inputs, [], n_rows=scan.n_rows)
        prep = TablePreprocessing.fit(plan.inputs, [], raw, np.arange(n))
        x = prep.transform(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x.shape == (n, d)
    assert peak < 2 * array_bytes, (peak, array_bytes)


def test_array_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_ARRAY_BYTES", 10)
    p = write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n")
    with pytest.raises(TableError, match="would need .* GiB as float32"):
        plan_table(scan_table(p), [])
