"""Global average pooling: one mean per channel, (N, C, H, W) -> (N, C)."""

from __future__ import annotations

import numpy as np

from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..registry import register_layer
from ._checks import require_image_shape


@register_layer
class GlobalAvgPool2D(Module):
    """Average each channel over all its pixels.

    Forward:  y[n, c] = 1/(H W) sum_{i, j} x[n, c, i, j]
    Backward: dx[n, c, i, j] = dy[n, c] / (H W)   (every pixel an equal share)

    The output is flat, (N, C), ready for a Linear classifier head whatever
    the image size, as Keras's ``GlobalAveragePooling2D``; PyTorch writes it
    ``nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())``.

    Shapes
    ------
    x : (N, C, H, W);  y : (N, C)

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> cr.layers.GlobalAvgPool2D()(x).tolist()
    [[1.5, 5.5]]
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(self, x)
        if x.ndim != 4 or x.shape[2] * x.shape[3] == 0:
            raise ValueError(
                f"{self!r}: input must have shape (batch, channels, height, width) "
                f"with at least one pixel; got {x.shape}."
            )
        self.keep_cache(x.shape)
        return x.mean(axis=(2, 3))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        n, c, h, w = self.take_cache()
        share = dy * (1.0 / (h * w))
        return np.broadcast_to(share[:, :, None, None], (n, c, h, w)).copy()

    spec_pattern = "globalavgpool"
    spec_usage = "globalavgpool"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        require_image_shape("GlobalAvgPool2D", input_shape)
        return cls()

    def to_onnx(self, b, xs, in_shape, label):
        """GlobalAveragePool gives (N, C, 1, 1); Flatten makes it (N, C)."""
        pooled = b.node("GlobalAveragePool", xs, label)
        return b.node("Flatten", [pooled], label, axis=1)

    def to_torch(self):
        nn = torch_nn(self)
        # One module (an nn.Sequential without state), so that the indices of
        # the modules after it stay chainrule's.
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
