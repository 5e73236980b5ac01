"""PyTorch stays optional: chainrule imports it only inside the interop
functions and the layers' ``to_torch`` hooks, and says how to install it when
they are called without it."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_training_saving_and_loading_every_layer_never_import_torch():
    """Every registered layer's example model (BatchNorm, the pools,
    ConvTranspose2D, Reshape... all of whose modules name torch in their
    to_torch hook) trains a step, saves and loads without torch imported."""
    result = _python(
        """
        import sys, tempfile, os
        sys.path[:0] = ["tests", os.path.join("tests", "layers")]
        import numpy as np
        import chainrule as cr
        from _examples import all_examples
        done = 0
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as tmp:
            for example in all_examples():
                layer = example.make()
                x = [example.draw(s, rng).astype(np.float32) for s in example.shapes]
                y = layer.forward(*x)
                layer.backward(np.ones_like(y))
                if len(x) == 1:
                    model = cr.Sequential(layer)
                    model.save(os.path.join(tmp, "m.npz"))
                    cr.load(os.path.join(tmp, "m.npz"))
                done += 1
        print("examples", done, "torch imported:", "torch" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "torch imported: False" in result.stdout, result.stdout


def test_interop_without_torch_says_how_to_install_it():
    result = _python(
        """
        import sys
        sys.modules["torch"] = None  # as if it were not installed
        import chainrule as cr
        from chainrule.interop.torch import to_torch_sequential, to_torch_state_dict
        from chainrule.spec import build_spec
        model = build_spec("fashion-cnn")
        for call in (lambda: to_torch_sequential(model), lambda: to_torch_state_dict(model)):
            try:
                call()
            except ImportError as exc:
                print("ERROR", exc)
        print("numpy arrays:", len(to_torch_state_dict(model, as_numpy=True)))
        """
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 2, result.stdout
    assert lines[0].startswith("ERROR to_torch_sequential: PyTorch is not installed")
    assert all("pip install torch" in line for line in lines)
    assert "numpy arrays: 18" in result.stdout, result.stdout
