"""benign: what makes neural networks adversarially vulnerable?

A PyTorch Lightning framework reproducing and extending "How Benign is Benign
Overfitting?" (Sanyal, Dokania, Kanade, Torr; ICLR 2021).
"""

__version__ = "0.1.0"
