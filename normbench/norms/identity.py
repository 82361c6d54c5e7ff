"""No normalization at all: the baseline that shows what a norm buys.

Still a NormLayer, so probes and transforms find the place where a norm was.
"""

from torch import nn

from .base import CHANNELS_LAST, NormLayer, register_norm


@register_norm
class Identity(NormLayer, nn.Identity):
    norm_name = "identity"

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        self.resolve(options)  # no options: any given is an error
        super().__init__()
        self.num_features = num_features
        self.layout = layout

    def extra_repr(self) -> str:
        return f"{self.num_features}, layout={self.layout}"
