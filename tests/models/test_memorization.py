"""DigitsCNN can memorise random labels: the premise of the label-noise experiments."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benign.models import DigitsCNN


def test_digits_cnn_fits_random_labels() -> None:
    torch.manual_seed(0)
    x = torch.rand(300, 1, 8, 8)
    y = torch.randint(0, 10, (300,))
    model = DigitsCNN(10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    accuracy = 0.0
    for _ in range(80):
        for idx in torch.randperm(300).split(30):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(x).argmax(1) == y).float().mean().item()
        if accuracy >= 0.99:
            break
    assert accuracy >= 0.99
