"""Finding wrong labels with a trained model: ``benign rank`` (PAPER.md, E4).

:mod:`benign.rank.scores` holds the two scores (the probability of another class; the attack
steps to another class, Zhu et al. 2021), :mod:`benign.rank.ranking` the ranking.csv table,
:mod:`benign.rank.metrics` its precision against planted noise, :mod:`benign.rank.cli` the
command.
"""
