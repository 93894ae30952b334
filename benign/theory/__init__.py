"""The paper's theory, simulated (PAPER.md, "The theory"; experiments E5 and E6).

- :mod:`benign.theory.balls`: Theorem 1's ball distribution, independent label flips, the bound
  on ``m`` and the floor that every interpolating classifier's adversarial risk must reach.
- :mod:`benign.theory.nearest_neighbour` (with :mod:`benign.theory.cell_distance`): the
  1-nearest-neighbour rule and its exact adversarial risk in linf and l2.
- :mod:`benign.theory.interpolating_mlp`: an MLP trained to zero training error, attacked by PGD.
- :mod:`benign.theory.representation`: Claims 2 and 3, one classifier on different feature maps,
  with exact robust accuracy.
"""
