"""chainrule.plots: every function writes a PNG of the expected size."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr

importorskip("matplotlib")

from chainrule import plots  # noqa: E402  (after the skip: needs matplotlib)


def _png_size(path) -> tuple[int, int]:
    """(width, height) in pixels of a PNG that matplotlib can read back."""
    from matplotlib.image import imread

    assert path.exists(), f"{path} was not written"
    assert path.stat().st_size > 0, f"{path} is empty"
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    return pixels.shape[1], pixels.shape[0]


@pytest.fixture
def drawn(monkeypatch):
    """What each figure shows when it is saved: axis titles, texts, images and
    x limits, so that tests check the content and not only the pixel size."""
    from matplotlib.figure import Figure

    figures = []
    original = Figure.savefig

    def record(self, *args, **kwargs):
        axes = [ax for ax in self.axes if ax.get_label() != "<colorbar>"]
        figures.append(
            {
                "titles": [ax.get_title() for ax in axes],
                "texts": [t.get_text() for ax in axes for t in ax.texts],
                "images": [np.asarray(i.get_array()) for ax in axes for i in ax.images],
                "xlims": [tuple(ax.get_xlim()) for ax in axes],
                "xticks": [list(ax.get_xticks()) for ax in axes],
            }
        )
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


@pytest.fixture(scope="module")
def run():
    """A tiny 3-class model on random 8x8 images, trained 2 epochs."""
    rng = np.random.default_rng(0)
    x = rng.random((90, 1, 8, 8)).astype(np.float32)
    y = np.arange(90) % 3
    model = cr.Sequential(
        cr.layers.Flatten(),
        cr.layers.Linear(64, 16, rng=0),
        cr.layers.ReLU(),
        cr.layers.Linear(16, 3, rng=1),
    )
    history = cr.fit(
        model,
        cr.losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1),
        x,
        y,
        epochs=2,
        batch_size=16,
        validation_split=0.2,
        seed=0,
        verbose=0,
        callbacks=[cr.callbacks.GradientNorms(every=1)],
    )
    probs = cr.predict(model, x)
    return model, history, x, y, probs


def test_plot_history(run, tmp_path):
    _, history, *_ = run
    history.best_epoch = 1
    out = plots.plot_history(history, tmp_path / "h.png")
    assert out == tmp_path / "h.png"
    assert _png_size(out) == (1200, 450)


def test_plot_history_without_validation_or_metric(tmp_path):
    out = plots.plot_history({"loss": [1.0, 0.5, 0.2]}, tmp_path / "h.png")
    assert _png_size(out) == (1200, 450)


def test_plot_history_needs_epochs(tmp_path):
    with pytest.raises(ValueError, match="history has no epochs"):
        plots.plot_history(cr.History(), tmp_path / "h.png")


@pytest.mark.parametrize("normalize", [False, True])
def test_plot_confusion_matrix(run, tmp_path, normalize):
    _, _, _, y, probs = run
    cm = cr.metrics.confusion_matrix(y, probs, n_classes=3)
    names = ["T-shirt/top", "Trouser", "Ankle boot"]
    out = plots.plot_confusion_matrix(
        cm, names, tmp_path / "cm.png", normalize=normalize
    )
    assert _png_size(out) == (800, 700)


def test_plot_confusion_matrix_normalizes_rows(tmp_path, drawn):
    cm = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    plots.plot_confusion_matrix(cm, None, tmp_path / "a.png")
    np.testing.assert_array_equal(drawn[-1]["images"][0], cm)
    plots.plot_confusion_matrix(cm, None, tmp_path / "b.png", normalize=True)
    expected = np.array([[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(drawn[-1]["images"][0], expected)
    cells = [t for t in drawn[-1]["texts"] if t[0].isdigit()][:9]
    assert cells == ["0.75", "0.25", "0", "0", "0", "0", "0.25", "0.25", "0.50"]


def test_one_epoch_history_has_an_axis_around_epoch_1(tmp_path, drawn):
    plots.plot_history({"loss": [0.5], "accuracy": [0.9]}, tmp_path / "h.png")
    assert drawn[-1]["xlims"] == [(0.5, 1.5), (0.5, 1.5)]
    assert drawn[-1]["xticks"] == [[1.0], [1.0]]


def test_a_matrix_of_fractions_shows_its_fractions(tmp_path, drawn):
    # One normalised elsewhere (sklearn's normalize="true") read "0" in every cell.
    plots.plot_confusion_matrix([[0.5, 0.5], [0.25, 0.75]], None, tmp_path / "f.png")
    cells = [t for t in drawn[-1]["texts"] if t[0].isdigit()][:4]
    assert cells == ["0.50", "0.50", "0.25", "0.75"]
    for bad in ([[1, np.nan], [0, 2]], [[1, -1], [0, 2]]):
        with pytest.raises(ValueError, match="cm must hold finite, non-negative counts"):
            plots.plot_confusion_matrix(bad, None, tmp_path / "bad.png")


def test_first_layer_passes_over_batchnorm(tmp_path, drawn):
    # A model starting with BatchNorm (a 1-D weight) failed after training.
    model = cr.Sequential(cr.layers.BatchNorm1D(4), cr.layers.Linear(4, 3, rng=0))
    assert plots.plot_first_layer(model, tmp_path / "f.png").is_file()


@pytest.mark.parametrize(
    "y, error, match",
    [
        ([0, 1, 5, 0], ValueError, r"must be integers in \[0, 3\); got 5 at row 2"),
        ([0, 1, -1, 0], ValueError, r"must be integers in \[0, 3\); got -1 at row 2"),
        (["a", "b", "a", "b"], TypeError, "must be integers; got dtype <U1"),
    ],
)
def test_plot_misclassified_names_labels_it_cannot_show(tmp_path, y, error, match):
    # A bare IndexError, a silent "last class" for -1, or int() of a string;
    # now the losses' own label check, naming the plot.
    x = np.zeros((4, 1, 4, 4))
    probs = np.full((4, 3), 1 / 3)
    with pytest.raises(error, match="plot_misclassified: target labels " + match):
        plots.plot_misclassified(x, y, probs, None, tmp_path / "m.png")
    with pytest.raises(ValueError, match="probs hold NaN or inf"):
        plots.plot_misclassified(x, [0, 1, 2, 0], np.full((4, 3), np.nan), None, tmp_path / "m.png")


def test_decision_boundary_names_what_it_cannot_draw(tmp_path):
    # numpy's "zero-size array", matplotlib's "(2, 2) shaped array", or
    # predict's NaN complaint about a grid the user never gave.
    model = cr.Sequential(cr.layers.Linear(2, 2, rng=0))
    x, y = np.zeros((3, 2)), np.array([0, 1, 0])
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\) with N >= 1"):
        plots.plot_decision_boundary(model, np.zeros((0, 2)), [], tmp_path / "d.png")
    with pytest.raises(ValueError, match="resolution must be an integer >= 2; got 1"):
        plots.plot_decision_boundary(model, x, y, tmp_path / "d.png", resolution=1)
    with pytest.raises(ValueError, match="x must hold finite points below 1e150"):
        plots.plot_decision_boundary(model, x + [[1e300, 0]], y, tmp_path / "d.png")


def test_plot_confusion_matrix_rejects_non_square(tmp_path):
    with pytest.raises(ValueError, match=r"cm must have shape \(K, K\); got \(2, 3\)"):
        plots.plot_confusion_matrix(np.zeros((2, 3)), None, tmp_path / "cm.png")


def test_plot_misclassified_picks_most_confident(tmp_path):
    x = np.arange(6 * 784, dtype=np.float32).reshape(6, 784)  # flat: shown 28x28
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # right
            [0.7, 0.2, 0.1],  # wrong, 0.70
            [0.1, 0.85, 0.05],  # wrong, 0.85
            [0.2, 0.6, 0.2],  # wrong, 0.60
            [0.1, 0.8, 0.1],  # right
            [0.3, 0.3, 0.4],  # right
        ]
    )
    out = plots.plot_misclassified(x, y, probs, None, tmp_path / "m.png", n=4)
    # 3 mistakes: a 2 x 2 grid of 2.3 x 2.5 inch cells (at least 5 inches wide).
    assert _png_size(out) == (500, 570)


def test_plot_misclassified_shows_the_most_confident_first(tmp_path, drawn):
    x = np.arange(6 * 784, dtype=np.float32).reshape(6, 784)
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.1, 0.85, 0.05],
         [0.2, 0.6, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]
    )  # fmt: skip
    plots.plot_misclassified(x, y, probs, None, tmp_path / "m.png", n=2)
    titles = [t for t in drawn[-1]["titles"] if t]
    assert titles == ["true: 2  pred: 1 (0.85)", "true: 1  pred: 0 (0.70)"]
    np.testing.assert_array_equal(drawn[-1]["images"][0], x[2].reshape(28, 28))


def test_plot_misclassified_with_no_mistakes(run, tmp_path):
    _, _, x, _, probs = run
    out = plots.plot_misclassified(
        x, probs.argmax(axis=1), probs, None, tmp_path / "m.png"
    )
    assert _png_size(out) == (600, 300)


def test_plot_misclassified_on_the_run(run, tmp_path):
    _, _, x, y, probs = run
    out = plots.plot_misclassified(x, y, probs, ["a", "b", "c"], tmp_path / "m.png")
    assert _png_size(out)[0] > 0


def test_plot_misclassified_rejects_non_square_features(tmp_path):
    with pytest.raises(ValueError, match="square number of features"):
        plots.plot_misclassified(
            np.zeros((2, 10)), [0, 1], np.eye(2), None, tmp_path / "m.png"
        )


def test_plot_first_layer_linear(run, tmp_path):
    model, *_ = run
    out = plots.plot_first_layer(model, tmp_path / "f.png")
    # 16 units of 64 inputs: a 4 x 4 grid of 8x8 images, 2 inches each.
    assert _png_size(out) == (800, 890)


def test_plot_first_layer_conv(tmp_path):
    model = cr.Sequential(cr.layers.Conv2D(1, 8, 5, rng=0), cr.layers.ReLU())
    out = plots.plot_first_layer(model, tmp_path / "f.png")
    assert _png_size(out) == (600, 690)


def test_plot_first_layer_non_square_inputs_as_bars(tmp_path):
    model = cr.Sequential(cr.layers.Linear(2, 6, rng=0), cr.layers.Tanh())
    out = plots.plot_first_layer(model, tmp_path / "f.png", max_filters=4)
    assert _png_size(out) == (1200, 300)


def test_plot_first_layer_needs_a_weight(tmp_path):
    with pytest.raises(ValueError, match="no layer with a weight"):
        plots.plot_first_layer(cr.Sequential(cr.layers.ReLU()), tmp_path / "f.png")


def test_plot_grad_norms(run, tmp_path):
    _, history, *_ = run
    assert set(history.grad_norms) == {"1.weight", "1.bias", "3.weight", "3.bias"}
    out = plots.plot_grad_norms(history, tmp_path / "g.png")
    assert _png_size(out) == (1000, 550)


def test_plot_grad_norms_needs_the_callback(tmp_path):
    with pytest.raises(ValueError, match="GradientNorms"):
        plots.plot_grad_norms(cr.History(), tmp_path / "g.png")


@pytest.mark.parametrize("outputs", [1, 2, 3])
def test_plot_decision_boundary(tmp_path, outputs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = cr.Sequential(
        cr.layers.Linear(2, 8, rng=0),
        cr.layers.Tanh(),
        cr.layers.Linear(8, outputs, rng=1),
    )
    out = plots.plot_decision_boundary(
        model, x, y, tmp_path / "b.png", title="toy", resolution=50
    )
    assert _png_size(out) == (700, 600)


def test_plot_image_grid(tmp_path):
    images = [np.random.default_rng(i).random((28, 28)) for i in range(6)]
    titles = ["original", "reconstruction"] * 3
    out = plots.plot_image_grid(
        images, titles, tmp_path / "g.png", "Original vs reconstruction", ncols=3
    )
    assert _png_size(out) == (540, 460)


def test_save_all(run, tmp_path):
    model, history, x, y, probs = run
    paths = plots.save_all(
        tmp_path / "run", model, history, x, y, probs, ["a", "b", "c"]
    )
    assert [p.name for p in paths] == [
        "history.png",
        "confusion_matrix.png",
        "misclassified.png",
        "first_layer.png",
        "grad_norms.png",
    ]
    for p in paths:
        assert _png_size(p)[0] > 0


def test_save_all_skips_grad_norms_when_not_recorded(run, tmp_path):
    model, history, x, y, probs = run
    bare = cr.History.from_dict({**history.to_dict(), "grad_norms": {}})
    paths = plots.save_all(tmp_path, model, bare, x, y, probs, None)
    assert "grad_norms.png" not in [p.name for p in paths]
    assert len(paths) == 4


def test_missing_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[plots\]'"):
        plots.plot_grad_norms({"w": [1.0]}, tmp_path / "g.png")
