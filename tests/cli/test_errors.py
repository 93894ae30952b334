"""Bad input: one line naming the problem, a non-zero exit, no traceback, nothing written."""

import os
import traceback

import pytest

from tests.cli.helpers import run_benign

BAD_INPUTS = [
    # (extra args, a word the message must contain)
    (["--data.noise_rate", "1.5"], "noise_rate"),
    (["--data.noise_rate", "-0.1"], "noise_rate"),
    (["--data.noise_type", "bogus"], "noise_type"),
    (["--data.noise_rat", "0.2"], "noise_rat"),
    (["--data", "imagenet"], "imagenet"),
    (["--data", "mnist", "--data.data_dir", "nowhere"], "download"),
    (["--data", "cifar10", "--data.data_dir", "nowhere"], "download"),
    (["--data", "cifar100", "--data.data_dir", "nowhere"], "download"),
    (["--data.label_level", "medium"], "label_level"),
    (["--data.coarse_map", "bogus"], "coarse_map"),
    (["--model", "NotAMethod"], "NotAMethod"),
    (["--trainer.max_epochs", "many"], "max_epochs"),
]


@pytest.mark.parametrize("extra,keyword", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_gives_one_line_and_nonzero_exit(extra, keyword, repo_root, monkeypatch, capsys):
    config = os.path.join(repo_root, "configs", "digits", "erm.yaml")
    status = run_benign(
        ["fit", "--config", config, *extra, "--wandb.mode", "disabled"], monkeypatch
    )
    err = capsys.readouterr().err
    assert status != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert keyword in lines[0]
    assert "Traceback" not in err
    assert not os.path.exists("runs") or os.listdir("runs") == []


def test_missing_config_file(monkeypatch, capsys):
    status = run_benign(["fit", "--config", "nope.yaml"], monkeypatch)
    err = capsys.readouterr().err
    assert status != 0
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert "nope.yaml" in err


def test_debug_flag_shows_the_traceback(repo_root, monkeypatch):
    config = os.path.join(repo_root, "configs", "digits", "erm.yaml")
    with pytest.raises(ValueError, match=r"noise_rate must be in \[0, 1\), got 1.5") as error:
        run_benign(["fit", "--config", config, "--data.noise_rate", "1.5", "--debug"], monkeypatch)
    # the traceback (jsonargparse's, chained) reaches the check that raised the ConfigError
    assert "in check_noise_rate" in "".join(traceback.format_exception(error.value))
