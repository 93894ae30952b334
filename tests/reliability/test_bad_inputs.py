"""Bad input everywhere a user types: one line naming the problem and the fix, a non-zero exit, no
traceback, and an earlier run directory left byte-for-byte untouched."""

from __future__ import annotations

import os
import re
import struct
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.cli.helpers import run_benign
from tests.conftest import REPO_ROOT
from tests.reliability.helpers import FAST_CONFIG, snapshot, write_config

#: The earlier run: ERM on digits, one epoch, no evaluation callbacks (fast).
EARLIER = {
    **FAST_CONFIG,
    "model": {
        "class_path": "benign.methods.ERM",
        "init_args": {"backbone": {"class_path": "benign.models.DigitsCNN"}},
    },
}
EARLIER_NAME = "digits-erm-noise0.2-seed0"


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> dict[str, str]:
    """A finished run in ``root/runs``, and the paths the bad inputs use."""
    root = tmp_path_factory.mktemp("bad-inputs")
    config = write_config(root / "config.yaml", EARLIER, max_epochs=1, callbacks=[])
    save_dir = str(root / "runs")
    common = ["--trainer.default_root_dir", save_dir]
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert run_benign(["fit", "--config", config, "--test_after_fit", "false", *common]) == 0
    finally:
        os.chdir(cwd)
    run = os.path.join(save_dir, EARLIER_NAME)
    assert os.path.isfile(os.path.join(run, "checkpoints", "last.ckpt"))
    return {"root": str(root), "config": config, "save_dir": save_dir, "run": run}


def fit(*extra: str) -> Callable[[dict], list[str]]:
    """``benign fit`` with the earlier run's config and save dir, plus ``extra``."""
    return lambda ctx: [
        "fit",
        "--config",
        ctx["config"],
        "--trainer.default_root_dir",
        ctx["save_dir"],
        *extra,
    ]


def with_yaml(text: str, *extra: str) -> Callable[[dict], list[str]]:
    """``benign fit --config <file holding text>`` after the earlier run's config."""

    def build(ctx: dict) -> list[str]:
        path = os.path.join(ctx["tmp"], "bad.yaml")
        Path(path).write_text(text)
        return [*fit(*extra)(ctx), "--config", path]

    return build


def with_eval(**init_args: object) -> Callable[[dict], list[str]]:
    """A config whose RobustnessEval gets ``init_args``."""
    callback = {"class_path": "benign.callbacks.RobustnessEval", "init_args": init_args}
    return with_yaml(yaml.safe_dump({"trainer": {"callbacks": [callback]}}))


def on_checkpoint(
    make: Callable[[dict], str], *extra: str, command: str = "test"
) -> Callable[[dict], list[str]]:
    return lambda ctx: [command, "--ckpt_path", make(ctx), *extra]


def evaluate(make: Callable[[dict], str], command: str = "test") -> Callable[[dict], list[str]]:
    """``benign <command>`` of a checkpoint outside any run, with the earlier run's config."""
    return lambda ctx: [command, *fit()(ctx)[1:], "--ckpt_path", make(ctx)]


def earlier_checkpoint(ctx: dict) -> str:
    return os.path.join(ctx["run"], "checkpoints", "last.ckpt")


def garbage_checkpoint(ctx: dict) -> str:
    path = os.path.join(ctx["tmp"], "garbage.ckpt")
    Path(path).write_bytes(b"\x80\x04not a checkpoint" * 10)
    return path


def truncated_mnist(ctx: dict) -> str:
    raw = Path(ctx["tmp"], "mnist", "MNIST", "raw")
    raw.mkdir(parents=True)
    labels = np.arange(60) % 10
    for prefix in ("train", "t10k"):
        images = np.zeros((60, 28, 28), dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">iiii", 2051, 60, 28, 28) + images.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">ii", 2049, 60) + labels.astype(np.uint8).tobytes()
        )
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])  # a download cut short
    return str(raw.parent.parent)


def garbage_cifar(ctx: dict) -> str:
    folder = Path(ctx["tmp"], "cifar", "cifar-10-batches-py")
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"\x80\x02garbage, not a pickle")
    return str(folder.parent)


def on_data(name: str, make: Callable[[dict], str]) -> Callable[[dict], list[str]]:
    return lambda ctx: fit("--data", name, "--data.data_dir", make(ctx))(ctx)


def repro(*args: str) -> Callable[[dict], list[str]]:
    return lambda ctx: ["repro", *args, "--out", os.path.join(ctx["tmp"], "repro_out")]


def in_tmp(name: str, content: bytes | None = None) -> Callable[[dict], str]:
    """A path in the case's folder (written with ``content`` when given)."""

    def make(ctx: dict) -> str:
        path = Path(ctx["tmp"], name)
        if content is not None:
            path.write_bytes(content)
        return str(path)

    return make


def labels_file(values: np.ndarray) -> Callable[[dict], str]:
    def make(ctx: dict) -> str:
        path = os.path.join(ctx["tmp"], "labels.npy")
        np.save(path, values)
        return path

    return make


def with_path(make: Callable[[dict], str], *before: str, after: tuple[str, ...] = ()):
    """``benign fit`` with ``before`` followed by the path ``make`` gives, then ``after``."""
    return lambda ctx: fit(*before, make(ctx), *after)(ctx)


def truncated_copy(ctx: dict) -> str:
    data = Path(earlier_checkpoint(ctx)).read_bytes()
    return in_tmp("cut.ckpt", data[: len(data) // 2])(ctx)


def on_other_dataset(ctx: dict) -> list[str]:
    config = os.path.join(REPO_ROOT, "configs", "mnist5k", "erm.yaml")
    return ["test", "--config", config, "--ckpt_path", earlier_checkpoint(ctx),
            "--trainer.default_root_dir", ctx["save_dir"]]  # fmt: skip


def bench(*args: str) -> Callable[[dict], list[str]]:
    return lambda ctx: ["bench", *args]


AT = ("--model", "AdversarialTraining", "--model.backbone", "benign.models.DigitsCNN")
N_TRAIN = 1257  # digits' training points before the validation hold-out

# (id, argv builder, words the one line must contain)
BAD_INPUTS: list[tuple[str, Callable[[dict], list[str]], tuple[str, ...]]] = [
    # command-line options
    ("noise-rate-above-1", fit("--data.noise_rate", "1.5"), ("noise_rate", "1.5")),
    ("noise-rate-negative", fit("--data.noise_rate", "-0.1"), ("noise_rate", "-0.1")),
    ("noise-type-unknown", fit("--data.noise_type", "bogus"), ("noise_type", "bogus")),
    ("option-typo", fit("--data.noise_rat", "0.2"), ("unknown option", "noise_rat")),
    ("dataset-unknown", fit("--data", "imagenet"), ("imagenet", "digits")),
    ("label-level-unknown", fit("--data.label_level", "medium"), ("label_level", "medium")),
    ("coarse-map-unknown", fit("--data.coarse_map", "bogus"), ("coarse_map", "bogus")),
    ("batch-size-zero", fit("--data.batch_size", "0"), ("batch_size", "0")),
    ("method-unknown", fit("--model", "NotAMethod"), ("NotAMethod", "ERM")),
    ("max-epochs-not-a-number", fit("--trainer.max_epochs", "many"), ("max_epochs", "many")),
    ("wandb-mode-unknown", fit("--wandb.mode", "sometimes"), ("wandb", "sometimes")),
    # YAML
    ("yaml-key-typo", with_yaml("data:\n  init_args:\n    noise_rat: 0.2\n"), ("noise_rat",)),
    (
        "yaml-malformed",
        with_yaml("data: [unclosed\n  noise_rate: 0.2\n"),
        ("bad.yaml is not valid YAML", "line 2"),
    ),
    (
        "config-file-missing",
        lambda ctx: ["fit", "--config", os.path.join(ctx["tmp"], "nope.yaml")],
        ("nope.yaml not found", "configs/digits/erm.yaml"),
    ),
    # experiment names
    ("experiment-unknown", repro("nope"), ("unknown experiment 'nope'", "label-noise")),
    # eps lists
    ("eps-negative", with_eval(eps=[-0.1, 0.1]), ("eps", ">= 0")),
    ("eps-unsorted", with_eval(eps=[0.1, 0.05]), ("strictly increasing", "[0.05, 0.1]")),
    ("eps-empty", with_eval(eps=[]), ("eps list is empty",)),
    # attack parameters
    ("attack-steps-zero", fit(*AT, "--model.attack.steps", "0"), ("steps", "0")),
    ("attack-step-size-zero", fit(*AT, "--model.attack.step_size", "0"), ("step_size",)),
    ("attack-step-size-negative", fit(*AT, "--model.attack.step_size", "-0.01"), ("step_size",)),
    ("attack-eps-negative", fit(*AT, "--model.attack.eps", "-0.1"), ("eps", "-0.1")),
    ("attack-norm-unknown", fit(*AT, "--model.attack.norm", "l3"), ("norm", "l3")),
    # backbones
    (
        "backbone-unknown",
        fit("--model.backbone", "benign.models.NoSuchNet"),
        ("unknown class benign.models.NoSuchNet for --model.backbone", "benign.models.DigitsCNN"),
    ),
    (
        "backbone-argument-missing",
        fit("--model.backbone", "benign.models.MLP"),
        ("missing required option --model.backbone.in_features",),
    ),
    # checkpoints
    (
        "checkpoint-other-model",
        on_checkpoint(earlier_checkpoint, "--data.label_level", "coarse"),  # 2 classes, not 10
        ("does not fit the configured model", "of another shape", "--data.label_level"),
    ),
    (
        "checkpoint-missing",
        on_checkpoint(lambda ctx: "nope.ckpt", command="validate"),
        ("nope.ckpt", "not found"),
    ),
    (
        "checkpoint-corrupt",
        evaluate(garbage_checkpoint),
        ("garbage.ckpt", "not a readable checkpoint"),
    ),
    # data directories with corrupt files
    (
        "mnist-truncated",
        on_data("mnist", truncated_mnist),
        (
            "MNIST file",
            "train-images-idx3-ubyte (5000 bytes, its header says 47056)",
            "--data.download true",
        ),
    ),
    (
        "cifar-garbage",
        on_data("cifar10", garbage_cifar),
        ("CIFAR-10 file", "data_batch_1 is corrupted", "--data.download true"),
    ),
    # run names and output folders
    ("run-name-escapes", fit("--run_name", "../../escaped"), ("--run_name", "not a folder name")),
    ("run-name-with-slash", fit("--run_name", "a/b"), ("'a/b' is not a folder name",)),
    ("run-name-hidden", fit("--run_name", ".hidden"), ("'.hidden' is not a folder name",)),
    (
        "root-dir-under-a-file",
        with_path(lambda ctx: in_tmp("afile", b"x")(ctx) + "/runs", "--trainer.default_root_dir"),
        ("afile is a file, not a folder",),
    ),
    (
        "root-dir-unwritable",
        fit("--trainer.default_root_dir", "/proc/benign-runs"),
        ("cannot create folders in /proc",),
    ),
    # resuming
    (
        "resume-without-an-earlier-run",
        fit("--run_name", "nosuch", "--ckpt_path", "last"),
        ("no checkpoint of an earlier run 'nosuch'", "drop --ckpt_path"),
    ),
    (
        "resume-changing-the-noise",
        fit("--ckpt_path", "last", "--data.noise_type", "asymmetric"),
        ("cannot resume", "--data.noise_type: 'symmetric' -> 'asymmetric'"),
    ),
    (
        "resume-changing-the-model",
        fit("--ckpt_path", "last", "--model.backbone.width", "16"),
        ("cannot resume", "--model.backbone.width: 32 -> 16"),
    ),
    (
        "resume-from-a-truncated-checkpoint",
        with_path(truncated_copy, "--ckpt_path"),
        ("cut.ckpt is not a readable checkpoint",),
    ),
    (
        "checkpoint-of-another-dataset",
        on_other_dataset,
        ("trained on digits (8x8, 10 classes)", "mnist5k (28x28, 10 classes)"),
    ),
    # noise files
    (
        "noise-file-too-short",
        with_path(
            labels_file(np.zeros(10, dtype=np.int64)), "--data.noise_rate", "0", "--data.noise_file"
        ),
        ("has 10 labels", "1257 training points"),
    ),  # fmt: skip
    (
        "noise-file-labels-out-of-range",
        with_path(labels_file(np.full(N_TRAIN, 42)), "--data.noise_rate", "0", "--data.noise_file"),
        ("labels.npy holds", "labels outside 0..9 (e.g. 42)"),
    ),
    (
        "noise-file-not-integers",
        with_path(
            labels_file(np.full(N_TRAIN, np.nan)), "--data.noise_rate", "0", "--data.noise_file"
        ),
        ("integer array", "float64"),
    ),  # fmt: skip
    ("noise-file-missing", fit("--data.noise_file", "missing.npy"), ("missing.npy not found",)),
    # values jsonargparse rejects, said under the option's full name
    (
        "noise-seed-not-an-integer",
        fit("--data.noise_seed", "abc"),
        ("invalid value for --data.noise_seed: abc", "int"),
    ),
    ("noise-rate-nan", fit("--data.noise_rate", "nan"), ("--data.noise_rate: nan",)),
    ("seed-not-an-integer", fit("--seed_everything", "abc"), ("--seed_everything: abc",)),
    (
        "backbone-width-not-an-integer",
        fit("--model.backbone.width", "abc"),
        ("invalid value for --model.backbone.width: abc (expected int)",),
    ),
    (
        "eps-not-a-number",
        with_eval(eps=[0.1, "abc"]),
        ("--eps (in RobustnessEval of --trainer.callbacks): abc", "float"),
    ),
    (
        "precision-unknown",
        fit("--trainer.precision", "7"),
        ("--trainer.precision: 7", "bf16-mixed"),
    ),
    ("config-empty", with_yaml(""), ("bad.yaml is empty", "trainer:")),
    ("config-a-list", with_yaml("- 1\n- 2\n"), ("bad.yaml holds a list",)),
    # other data and model options
    ("val-split-above-1", fit("--data.val_split", "1.5"), ("val_split", "1.5")),
    ("train-subset-negative", fit("--data.train_subset", "-5"), ("train_subset", "-5")),
    ("num-workers-negative", fit("--data.num_workers", "-1"), ("num_workers", "-1")),
    ("eval-batch-size-zero", fit("--data.eval_batch_size", "0"), ("eval_batch_size", "0")),
    (
        "noise-classes-out-of-range",
        fit("--data.noise_type", "class_subset", "--data.noise_classes", "[42]"),
        ("noise_classes", "0..9", "[42]"),
    ),
    ("coarse-map-wrong-length", fit("--data.coarse_map", "[0,1]"), ("coarse_map", "2 entries")),
    (
        "trades-beta-negative",
        fit(
            "--model", "TRADES", "--model.backbone", "benign.models.DigitsCNN", "--model.beta", "-1"
        ),
        ("beta", "-1"),
    ),  # fmt: skip
    # trainer options Lightning rejects, before any run folder or logger exists
    ("devices-zero", fit("--trainer.devices", "0"), ("devices='0'",)),
    ("strategy-unknown", fit("--trainer.strategy", "nope"), ("strategy='nope'",)),
    ("accelerator-not-installed", fit("--trainer.accelerator", "tpu"), ("torch_xla", "cpu")),
    ("subcommand-typo", lambda ctx: ["fitt"], ("invalid choice: 'fitt'", "fit")),
    # repro
    (
        "repro-set-unknown-key",
        repro("label-noise", "--quick", "--set", "nosuchkey=1"),
        ("no setting 'nosuchkey'", "noise_rates"),
    ),
    (
        "repro-set-wrong-kind",
        repro("label-noise", "--quick", "--set", "noise_rates=abc"),
        ("noise_rates takes a list", "'abc'"),
    ),
    (
        "repro-out-a-file",
        lambda ctx: ["repro", "label-noise", "--quick", "--out", in_tmp("afile", b"x")(ctx)],
        ("afile is a file, not a folder",),
    ),
    ("repro-shard-out-of-range", repro("label-noise", "--quick", "--shard", "3/2"), ("3/2",)),
    ("repro-jobs-zero", repro("label-noise", "--quick", "--jobs", "0"), ("--jobs", "0")),
    ("repro-seeds-zero", repro("label-noise", "--quick", "--seeds", "0"), ("--seeds", "0")),
    (
        "repro-launcher-unknown",
        repro("label-noise", "--quick", "--launcher", "nope"),
        ("invalid choice: 'nope'", "slurm"),
    ),
    ("repro-dataset-unknown", repro("label-noise", "--dataset", "imagenet"), ("imagenet",)),
    (
        "repro-factor-design-unknown",
        repro("fine-vs-coarse-factors", "--quick", "--set", "design=latin"),
        ("design must be one of one_at_a_time, full", "'latin'"),
    ),
    (
        "repro-factor-base-level-unknown",
        repro("fine-vs-coarse-factors", "--quick", "--set", "base.width=w9"),
        ("base width='w9' is not one of its levels", "w128"),
    ),
    (
        "repro-factor-audit-seeds-negative",
        repro("fine-vs-coarse-factors", "--quick", "--set", "audit_seeds=-1"),
        ("audit_seeds must be a count of seeds >= 0", "-1"),
    ),
    # bench
    ("bench-case-unknown", bench("--cases", "nope"), ("unknown --cases nope", "erm")),
    ("bench-model-unknown", bench("--model", "nope"), ("unknown --model 'nope'", "cnn")),
    ("bench-input-unknown", bench("--input", "nope"), ("unknown --input 'nope'",)),
    ("bench-device-unknown", bench("--device", "tpu"), ("unknown --device 'tpu'", "cpu, cuda")),
    ("bench-precision-unknown", bench("--precision", "fp8"), ("unknown --precision 'fp8'",)),
    ("bench-clock-unknown", bench("--clock", "sundial"), ("unknown --clock 'sundial'",)),
    ("bench-data-share-unknown", bench("--data-share", "nope"), ("unknown --data-share 'nope'",)),
    # rank
    (
        "rank-split-unknown",
        lambda ctx: ["rank", "--ckpt_path", earlier_checkpoint(ctx), "--split", "dev"],
        ("unknown --split 'dev'", "train, val, test"),
    ),
    (
        "rank-score-unknown",
        lambda ctx: ["rank", "--ckpt_path", earlier_checkpoint(ctx), "--score", "loss"],
        ("unknown --score 'loss'", "probability"),
    ),
    # the synthetic data's norm
    (
        "synthetic-norm-unknown",
        fit("--data", "synthetic", "--data.norm", "l3"),
        ("unknown norm 'l3'", "(--data.norm)"),
    ),
    *(
        []
        if torch.cuda.is_available()
        else [("bench-cuda-without-gpu", bench("--device", "cuda"), ("CUDA is not available",))]
    ),
]


#: Where benign's sources name the option a choice is checked for: check_choice("--flag", ...)
#: or fix=" (--flag)".
CHECKED_FLAG = re.compile(r'check_choice\(\s*"(--[\w.-]+)"|fix=" \((--[\w.-]+)\)"')


def checked_flags() -> set[str]:
    """Every option benign's sources check against a list of choices, by its flag."""
    flags = set()
    for path in Path(REPO_ROOT, "benign").rglob("*.py"):
        for match in CHECKED_FLAG.finditer(path.read_text()):
            flags.add(match.group(1) or match.group(2))
    return flags


def test_every_checked_choice_has_a_case_whose_command_line_sets_it():
    """A choice check added (or its flag renamed) without a case here fails: the flag an error
    names must be one the table types. Also: many cases, each with its own name."""
    ctx = {"config": "c.yaml", "save_dir": "runs", "run": "run", "tmp": "tmp", "data": "data"}
    typed = {arg for _, argv, _ in BAD_INPUTS for arg in safe_argv(argv, ctx)}
    flags = checked_flags()
    assert {"--data.noise_type", "--model", "--split"} <= flags  # the scan finds them
    missing = flags - typed - ({"--device"} if torch.cuda.is_available() else set())
    assert not missing, f"no bad-input case sets {sorted(missing)}"
    assert len(BAD_INPUTS) >= 60
    assert len({name for name, _, _ in BAD_INPUTS}) == len(BAD_INPUTS)


def safe_argv(argv: Callable[[dict], list[str]], ctx: dict) -> list[str]:
    """A case's command line for a stand-in context (builders that write files give [])."""
    try:
        return [str(arg) for arg in argv(ctx)]
    except OSError:
        return []


@pytest.mark.parametrize(("name", "argv", "words"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input(name, argv, words, earlier, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)  # whatever a case would write by a relative path lands here
    args = argv({**earlier, "tmp": str(tmp_path)})
    before = snapshot(earlier["save_dir"]), snapshot(tmp_path), listing(tmp_path)
    capfd.readouterr()
    status = run_benign(args, monkeypatch)
    err = capfd.readouterr().err
    assert status == 2, err
    # the error is the only line: no start-up chatter (devices, wandb, warnings) before it
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("benign: error: ") and lines[0].endswith(
        "(rerun with --debug for the traceback)"
    )
    for word in words:
        assert word in lines[0], lines[0]
    # nothing new, nothing changed: files with their bytes and times, and empty folders too
    assert (snapshot(earlier["save_dir"]), snapshot(tmp_path), listing(tmp_path)) == before


def listing(root: str | Path) -> list[str]:
    """Every folder and file under ``root``, relative."""
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, dirs, files in os.walk(root)
        for name in [*dirs, *files]
    )


def test_debug_shows_the_traceback(earlier, monkeypatch):
    with pytest.raises(ValueError, match=r"noise_rate must be in \[0, 1\), got 1.5") as error:
        run_benign([*fit("--data.noise_rate", "1.5")(earlier), "--debug"], monkeypatch)
    assert "in check_noise_rate" in "".join(traceback.format_exception(error.value))
