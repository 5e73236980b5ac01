"""`chainrule download mnist`: fetch the full MNIST, each file SHA-256 checked."""

from __future__ import annotations

from pathlib import Path

from ._common import CLIError
from ._runs import quoted


def cmd_download(args) -> int:
    from ..data.datasets import DEFAULT_MNIST_DIR
    from ..data.download import MNIST_FILES, download_mnist

    default = DEFAULT_MNIST_DIR.expanduser()
    directory = Path(args.dir).expanduser() if args.dir else default
    try:
        download_mnist(directory)
    except ConnectionError as exc:
        raise CLIError(f"cannot download MNIST: {exc}") from None
    except OSError as exc:  # a folder that cannot be made or written
        raise CLIError(
            f"cannot download MNIST into {str(directory)!r}: "
            f"{exc.strerror or exc}."
        ) from None
    use = "mnist" if directory == default else quoted(directory)
    print(
        f"MNIST: {len(MNIST_FILES)} files in {directory}, each SHA-256 checked; "
        f"train on it with: chainrule train --data {use}"
    )
    return 0
