"""PyTorch stays optional: chainrule imports it in one place,
``chainrule.interop.torch`` (its functions and ``torch_nn``, which the layers'
``to_torch`` hooks call), and says how to install it when asked for it
without it."""

from _run_cli import REPO, run_python


def test_training_saving_and_loading_every_layer_never_import_torch():
    """Every registered layer's example model (BatchNorm, the pools,
    ConvTranspose2D, Reshape..., each with a to_torch hook) trains a step,
    saves and loads without torch imported."""
    result = run_python(
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
    result = run_python(
        """
        import sys
        sys.modules["torch"] = None  # as if it were not installed
        import chainrule as cr
        from chainrule.interop.torch import to_torch_sequential, to_torch_state_dict
        from chainrule.spec import build_spec
        model = build_spec("fashion-cnn")
        calls = (
            lambda: to_torch_sequential(model),
            lambda: to_torch_state_dict(model),
            lambda: cr.layers.BatchNorm2D(3).to_torch(),
        )
        for call in calls:
            try:
                call()
            except ImportError as exc:
                print("ERROR", exc)
        print("numpy arrays:", len(to_torch_state_dict(model, as_numpy=True)))
        """
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 3, result.stdout
    assert lines[0].startswith("ERROR to_torch_sequential: PyTorch is not installed")
    assert lines[2].startswith("ERROR BatchNorm2D(num_features=3, eps=1e-05")
    assert ".to_torch(): PyTorch is not installed" in lines[2]
    assert all("pip install torch" in line for line in lines)
    assert "numpy arrays: 18" in result.stdout, result.stdout


def test_only_the_interop_module_imports_torch():
    """The layers take ``nn`` from ``interop.torch.torch_nn``; no other module
    of the package names torch in an import."""
    package = REPO / "chainrule"
    importing = [
        str(path.relative_to(REPO))
        for path in sorted(package.rglob("*.py"))
        if path != package / "interop" / "torch.py"
        and any(
            line.strip().startswith(("import torch", "from torch"))
            for line in path.read_text().splitlines()
        )
    ]
    assert importing == [], importing
