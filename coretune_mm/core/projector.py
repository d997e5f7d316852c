import torch
import torch.nn as nn
import torch.nn.functional as F


class ProjectionHead(nn.Module):
    """Linear-ReLU-Linear projector with L2-normalised output.

    Works on (N, C) vectors; the segmentation head applies it to sampled
    pixel features, so a 1x1 conv is never needed.
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: int = None,
                 out_channels: int = 256):
        super().__init__()
        for name, value in (('in_channels', in_channels),
                            ('proj_hidden_channels', hidden_channels),
                            ('proj_channels', out_channels)):
            if value is not None and not (isinstance(value, int)
                                          and value > 0):
                raise ValueError(
                    f'{name} must be a positive integer, got {value!r} (the '
                    'contrast needs a projected feature of at least one '
                    'dimension)')
        hidden_channels = hidden_channels or in_channels
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.fc2 = nn.Linear(hidden_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.fc2(F.relu(self.fc1(x))), dim=1)
