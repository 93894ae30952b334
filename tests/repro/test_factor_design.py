"""The recipes of a factor grid (benign/repro/factor_design.py) and their bad settings."""

from __future__ import annotations

import pytest

from benign.errors import ConfigError
from benign.repro.factor_design import merge_args, parse_tag, recipes

ADAM = {"model": {"init_args": {"optimizer": {"class_path": "torch.optim.Adam"}}}}
FACTORS = {
    "width": {"w8": {}, "w32": {"model": {"init_args": {"backbone": {"init_args": {"width": 32}}}}},
              "madry": {"model": {"init_args": {"backbone": {"class_path": "M"}}}}},
    "optimizer": {"sgd": {}, "adam": ADAM},
    "train_size": {"small": {"data": {"train_subset": 100}}, "large": {"data": {"train_subset": 400}}},
}  # fmt: skip


def test_one_at_a_time_keeps_the_base_and_changes_one_factor_at_a_time():
    grid = recipes({"factors": FACTORS, "base": {"train_size": "small"}})
    # 1 + (3 - 1) + (2 - 1) + (2 - 1): the base first, then each other level alone
    assert [r.slug for r in grid] == [
        "w8-sgd-small", "w32-sgd-small", "madry-sgd-small", "w8-adam-small", "w8-sgd-large"
    ]  # fmt: skip
    for recipe in grid[1:]:
        changed = [k for k, v in recipe.levels.items() if grid[0].levels[k] != v]
        assert len(changed) == 1
    assert grid[3].args == {**ADAM, "data": {"train_subset": 100}}


def test_full_design_crosses_every_level_base_first():
    grid = recipes({"factors": FACTORS, "design": "full", "base": {"width": "madry"}})
    assert len(grid) == 3 * 2 * 2
    assert len({r.slug for r in grid}) == 12
    assert grid[0].levels == {"width": "madry", "optimizer": "sgd", "train_size": "small"}


def test_no_factors_is_one_plain_recipe():
    assert [(r.levels, r.args) for r in recipes({})] == [({}, {})]


def test_a_class_path_replaces_what_it_lands_on_whole():
    args = {"model": {"init_args": {"backbone": {"class_path": "A", "init_args": {"width": 8}},
                                    "optimizer": {"init_args": {"lr": 0.05}}}}}  # fmt: skip
    merged = merge_args(args, {"model": {"init_args": {"backbone": {"class_path": "M"}}}})
    assert merged["model"]["init_args"]["backbone"] == {"class_path": "M"}
    assert merged["model"]["init_args"]["optimizer"] == {"init_args": {"lr": 0.05}}
    widened = merge_args(args, FACTORS["width"]["w32"])["model"]["init_args"]["backbone"]
    assert widened == {"class_path": "A", "init_args": {"width": 32}}
    assert args["model"]["init_args"]["backbone"]["init_args"] == {"width": 8}  # not edited


def test_a_tag_reads_back_into_its_levels():
    recipe = recipes({"factors": FACTORS})[1]
    tag = recipe.tag("ERM")
    assert tag == "ERM[width=w32,optimizer=sgd,train_size=small]"
    assert parse_tag(tag) == ("ERM", recipe.levels)
    assert parse_tag("ERM") == ("ERM", {})


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"factors": FACTORS, "design": "latin"}, "design must be one of one_at_a_time, full"),
        ({"factors": FACTORS, "base": {"depth": "d2"}}, r"base names unknown factors \['depth'\]"),
        ({"factors": FACTORS, "base": {"width": "w9"}}, "base width='w9' is not one of its levels"),
        ({"factors": {"width": []}}, "factor 'width' must map each level name"),
        ({"factors": {"width": {"w8": 3}}}, "level 'w8': its arguments must be a mapping"),
        ({"factors": {"width": {"w 8": {}}}}, "names may hold only letters"),
        ({"factors": [1]}, "factors must map each factor to its levels"),
    ],
)
def test_bad_factor_settings_get_one_line_errors(conf, message):
    with pytest.raises(ConfigError, match=message) as error:
        recipes(conf)
    assert "\n" not in str(error.value)
