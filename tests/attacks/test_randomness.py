"""Random starts drawn per example: a point gets the same start whatever batch it is in."""

import torch

from benign.attacks import PGD, per_example_randomness
from benign.attacks._projection import random_in_ball


def test_a_point_gets_the_same_random_start_in_any_batch():
    x = torch.rand(6, 1, 4, 4)
    index = torch.arange(6)
    for norm, eps in (("linf", 0.1), ("l2", 0.5)):
        with per_example_randomness(index + 7):
            whole = random_in_ball(x, eps, norm)
        with per_example_randomness(index[[4, 1]] + 7):
            part = random_in_ball(x[[4, 1]], eps, norm)
        torch.testing.assert_close(part, whole[[4, 1]], rtol=0, atol=0)
        if norm == "linf":
            assert whole.abs().max() <= eps and whole.std() > eps / 3  # uniform in the box
        else:
            assert (whole.flatten(1).norm(dim=1) <= eps + 1e-6).all()
        with per_example_randomness(index + 8):  # another base seed, other starts
            assert not torch.equal(random_in_ball(x, eps, norm), whole)


def test_restarts_draw_new_starts_and_the_global_stream_is_untouched():
    x = torch.rand(3, 5)
    torch.manual_seed(0)
    with per_example_randomness(torch.arange(3)):
        first, second = random_in_ball(x, 0.1, "linf"), random_in_ball(x, 0.1, "linf")
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after)  # nothing was drawn from the global generator
    assert not torch.equal(first, second)


def test_pgd_results_do_not_depend_on_the_batching():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))
    attack = PGD(eps=0.3, steps=3, random_start=True)
    with per_example_randomness(torch.arange(8)):
        together = attack(model, x, y)
    halves = []
    for rows in (torch.arange(0, 8, 2), torch.arange(1, 8, 2)):  # two DDP ranks' shards
        with per_example_randomness(rows):
            halves.append(attack(model, x[rows], y[rows]))
    torch.testing.assert_close(halves[0], together[0::2])
    torch.testing.assert_close(halves[1], together[1::2])
