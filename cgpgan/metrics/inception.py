"""The Inception-v3 network of FID: TensorFlow's `inception-2015-12-05` graph as
pytorch-fid and torch-fidelity port it (same module names, so their weights file,
`weights-inception-2015-12-05-6726825d.pth` or `pt_inception-2015-12-05-6726825d.pth`,
loads as it is), with TensorFlow 1.x bilinear resizing to 299 x 299.

It is defined here rather than taken from torch-fidelity because torch-fidelity imports
torchvision, which must match the installed torch build exactly; this module needs
torch only. The architecture follows pytorch-fid's `FIDInception*` blocks (Apache-2.0).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cgpgan.errors import RunError

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_NAME}"


class _Conv(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU."""

    def __init__(self, inputs: int, outputs: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(inputs, outputs, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(outputs, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _average_pool(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow's 3x3 average pool: padded zeros are not counted."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):  # Mixed_5b..5d
    def __init__(self, inputs: int, pool_features: int):
        super().__init__()
        self.branch1x1 = _Conv(inputs, 64, 1)
        self.branch5x5_1 = _Conv(inputs, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(inputs, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(inputs, pool_features, 1)

    def forward(self, x):
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_average_pool(x)),
            ],
            1,
        )


class _BlockB(nn.Module):  # Mixed_6a
    def __init__(self, inputs: int):
        super().__init__()
        self.branch3x3 = _Conv(inputs, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(inputs, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, stride=2),
            ],
            1,
        )


class _BlockC(nn.Module):  # Mixed_6b..6e
    def __init__(self, inputs: int, c7: int):
        super().__init__()
        wide, tall = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = _Conv(inputs, 192, 1)
        self.branch7x7_1 = _Conv(inputs, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, **wide)
        self.branch7x7_3 = _Conv(c7, 192, **tall)
        self.branch7x7dbl_1 = _Conv(inputs, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, **tall)
        self.branch7x7dbl_3 = _Conv(c7, c7, **wide)
        self.branch7x7dbl_4 = _Conv(c7, c7, **tall)
        self.branch7x7dbl_5 = _Conv(c7, 192, **wide)
        self.branch_pool = _Conv(inputs, 192, 1)

    def forward(self, x):
        double = x
        for index in range(1, 6):
            double = getattr(self, f"branch7x7dbl_{index}")(double)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                double,
                self.branch_pool(_average_pool(x)),
            ],
            1,
        )


class _BlockD(nn.Module):  # Mixed_7a
    def __init__(self, inputs: int):
        super().__init__()
        self.branch3x3_1 = _Conv(inputs, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(inputs, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x):
        tower = x
        for index in range(1, 5):
            tower = getattr(self, f"branch7x7x3_{index}")(tower)
        return torch.cat(
            [self.branch3x3_2(self.branch3x3_1(x)), tower, F.max_pool2d(x, 3, stride=2)], 1
        )


class _BlockE(nn.Module):  # Mixed_7b (average pool), Mixed_7c (max pool, as in the TF graph)
    def __init__(self, inputs: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        wide, tall = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
        self.branch1x1 = _Conv(inputs, 320, 1)
        self.branch3x3_1 = _Conv(inputs, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, **wide)
        self.branch3x3_2b = _Conv(384, 384, **tall)
        self.branch3x3dbl_1 = _Conv(inputs, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, **wide)
        self.branch3x3dbl_3b = _Conv(384, 384, **tall)
        self.branch_pool = _Conv(inputs, 192, 1)

    def forward(self, x):
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _average_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            1,
        )


def resize_like_tensorflow1(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of [B, C, H, W] to size x size as TensorFlow 1.x's
    `resize_bilinear(align_corners=False)`: output pixel i reads source i * in / out."""

    def axis(length: int):
        position = torch.arange(size, dtype=x.dtype, device=x.device) * (length / size)
        low = position.long()
        return low, (low + 1).clamp_max(length - 1), position - low.to(x.dtype)

    y_low, y_high, dy = axis(x.shape[2])
    x_low, x_high, dx = axis(x.shape[3])
    top, bottom = x[:, :, y_low], x[:, :, y_high]
    top = top[..., x_low] + (top[..., x_high] - top[..., x_low]) * dx
    bottom = bottom[..., x_low] + (bottom[..., x_high] - bottom[..., x_low]) * dx
    return top + (bottom - top) * dy[:, None]


class FidInceptionV3(nn.Module):
    """Maps RGB images with values 0..255 (any size, float) to the 2048 pool features."""

    INPUT_SIZE = 299
    num_features = 2048

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, max_pool=False)
        self.Mixed_7c = _BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)  # the classifier, unused: only so that the file loads
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FidInceptionV3:
        return super().train(False)  # batch norm always uses the stored statistics

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (resize_like_tensorflow1(images.float(), self.INPUT_SIZE) - 128) / 128
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_fid_inception(weights_path) -> FidInceptionV3:
    """The FID network with the weights of a local file (a plain state dict); RunError
    with one line when the file is missing or is not that network's weights."""
    path = Path(weights_path)
    if not path.is_file():
        raise RunError(
            f"Inception weights not found: {path} (FID needs a local copy; none can be"
            f" downloaded here; the file is {WEIGHTS_URL})"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same message
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RunError(f"cannot read Inception weights {path}: {first_line}") from None
    model = FidInceptionV3()
    expected = set(model.state_dict())
    if not isinstance(state, dict) or not set(state) <= expected:
        found = sorted(set(state) - expected)[:3] if isinstance(state, dict) else type(state)
        raise RunError(
            f"{path} is not the FID Inception-v3 state dict ({WEIGHTS_NAME}); unexpected: {found}"
        )
    missing = [key for key in expected - set(state) if not key.endswith("num_batches_tracked")]
    if missing:
        raise RunError(f"{path} lacks {len(missing)} FID Inception-v3 weights, e.g. {min(missing)}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1].strip()
        raise RunError(f"{path} does not fit the FID Inception-v3 network: {detail}") from None
    return model.eval()
