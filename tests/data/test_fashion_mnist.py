"""Fashion-MNIST: Debian-package discovery, the atomic prepare (crash included), coarse presets,
the missing-data message, and the real 70,000 images when the package is installed.

Tests on the real images skip when it is absent, except in CI (``CI=true``), where they fail:
``.ci/run`` runs ``make data`` first, so a missing dataset there is a broken set-up.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from benign.data import FashionMNISTDataModule
from benign.data import debian_package as pkg
from benign.data.fashion_mnist import DEBIAN_PACKAGE, PACKAGE_DIR_ENV
from benign.errors import ConfigError, DataNotFoundError
from tests.cli.helpers import run_benign
from tests.data.conftest import balanced_labels, write_idx_images, write_idx_labels

RAW_NAMES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 images whose pixels encode the label (20 * y) and the row (row index)."""
    labels = balanced_labels(n, 10, seed)
    images = (20 * labels[:, None, None] + np.arange(28)[None, :, None]).astype(np.uint8)
    return np.broadcast_to(images, (n, 28, 28)).copy(), labels


@pytest.fixture
def fake_package(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A folder laid out like Debian's package: four gzipped IDX files (3,000 train, 20 test).

    The training images (2.4 MB) are larger than one copy chunk (1 MiB), so a copy can be
    stopped with part of the file written.
    """
    folder = tmp_path / "usr" / "share" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    written = {}
    for prefix, n, seed in (("train", 3000, 1), ("t10k", 20, 2)):
        images, labels = fake_split(n, seed)
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte", labels)
        written[prefix] = labels
    for name in RAW_NAMES:
        plain = folder / name
        (folder / f"{name}.gz").write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    return folder, written


def module(data_dir: Path, **kwargs) -> FashionMNISTDataModule:
    return FashionMNISTDataModule(data_dir=str(data_dir), val_split=10, **kwargs)


# -- discovery ---------------------------------------------------------------------------------
def test_discovery_reads_the_dpkg_file_list(fake_package, tmp_path, monkeypatch) -> None:
    folder, _ = fake_package
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    listing = "\n".join(["/.", str(folder), *(str(folder / f"{n}.gz") for n in RAW_NAMES)])
    dpkg = bin_dir / "dpkg"
    dpkg.write_text(
        f'#!/bin/sh\n[ "$2" = "{DEBIAN_PACKAGE}" ] || exit 1\ncat <<EOF\n{listing}\nEOF\n'
    )
    dpkg.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert pkg.dpkg_files("some-other-package") == []
    found = pkg.find_package_files(DEBIAN_PACKAGE, RAW_NAMES)
    assert found == {name: str(folder / f"{name}.gz") for name in RAW_NAMES}
    assert list(found) == RAW_NAMES
    # a package that lists only some of the files is not used
    assert pkg.find_package_files(DEBIAN_PACKAGE, [*RAW_NAMES, "extra-ubyte"]) is None


def test_discovery_override_fallback_and_plain_files(fake_package, tmp_path, monkeypatch) -> None:
    folder, _ = fake_package
    monkeypatch.setenv("PATH", str(tmp_path / "no-dpkg-here"))
    assert pkg.dpkg_files(DEBIAN_PACKAGE) == []
    assert pkg.find_package_files(DEBIAN_PACKAGE, RAW_NAMES) is None
    by_fallback = pkg.find_package_files(DEBIAN_PACKAGE, RAW_NAMES, fallback_dirs=[str(folder)])
    assert by_fallback == {name: str(folder / f"{name}.gz") for name in RAW_NAMES}
    # an override wins over everything; an empty override turns discovery off
    (folder / RAW_NAMES[0]).write_bytes(
        gzip.decompress((folder / f"{RAW_NAMES[0]}.gz").read_bytes())
    )
    found = pkg.find_package_files(DEBIAN_PACKAGE, RAW_NAMES, override=str(folder))
    assert found[RAW_NAMES[0]] == str(folder / RAW_NAMES[0])  # plain preferred to .gz
    assert found[RAW_NAMES[1]] == str(folder / f"{RAW_NAMES[1]}.gz")
    assert pkg.find_package_files(DEBIAN_PACKAGE, RAW_NAMES, override="") is None


# -- the atomic prepare ------------------------------------------------------------------------
def test_prepare_copies_the_package_once_and_reads_it(fake_package, tmp_path, monkeypatch) -> None:
    folder, written = fake_package
    monkeypatch.setenv(PACKAGE_DIR_ENV, str(folder))
    dm = module(tmp_path / "data", batch_size=16)
    dm.prepare_data()
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(RAW_NAMES)
    for name in RAW_NAMES:
        assert (raw / name).read_bytes() == gzip.decompress((folder / f"{name}.gz").read_bytes())
    mtimes = {name: (raw / name).stat().st_mtime_ns for name in RAW_NAMES}
    dm.prepare_data()  # a second run copies nothing
    assert {name: (raw / name).stat().st_mtime_ns for name in RAW_NAMES} == mtimes
    dm.setup("fit")
    assert torch.equal(dm.true_targets, torch.as_tensor(written["train"][dm.train_source_indices]))
    assert torch.equal(dm.test_dataset.targets, torch.as_tensor(written["t10k"]))
    x, y, index = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (1, 28, 28) and dm.train_dataset.images.dtype == torch.uint8
    expected = (20 * dm.true_targets[index].float()[:, None] + torch.arange(28.0)) / 255
    assert torch.allclose(x[:, 0, :, 3], expected)  # label and row survive, in CHW order


def test_prepare_decompresses_gz_files_put_in_the_raw_folder(
    fake_package, tmp_path, monkeypatch
) -> None:
    folder, written = fake_package
    monkeypatch.setenv(PACKAGE_DIR_ENV, "")
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_NAMES:
        (raw / f"{name}.gz").write_bytes((folder / f"{name}.gz").read_bytes())
    dm = module(tmp_path / "data")
    dm.prepare_data()
    dm.setup("fit")
    assert torch.equal(dm.test_dataset.targets, torch.as_tensor(written["t10k"]))


CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("debian_package", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
mod.install_files(mod.find_package_files("x", sys.argv[4:], override=sys.argv[2]), sys.argv[3])
"""


def test_a_crash_halfway_leaves_no_trusted_file_and_a_rerun_completes(
    fake_package, tmp_path, monkeypatch
) -> None:
    """SIGKILL the copy halfway through a file: the half never gets the real name."""
    folder, written = fake_package
    first = RAW_NAMES[0]
    complete = gzip.decompress((folder / f"{first}.gz").read_bytes())
    (folder / f"{first}.gz").unlink()
    os.mkfifo(folder / first)  # the source: we feed it half the file, then kill the reader
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, pkg.__file__, str(folder), str(raw), *RAW_NAMES]
    )
    try:
        with open(folder / first, "wb") as fifo:
            fifo.write(complete[: len(complete) // 2])
            fifo.flush()
            deadline = time.monotonic() + 60
            while not any(p.stat().st_size for p in raw.glob(f".{first}.*.partial")):
                assert time.monotonic() < deadline and child.poll() is None
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    partials = list(raw.glob(".*.partial"))
    assert len(partials) == 1 and 0 < partials[0].stat().st_size < len(complete)
    assert os.listdir(raw) == [partials[0].name]  # nothing under a name a run trusts
    monkeypatch.setenv(PACKAGE_DIR_ENV, str(folder))
    with pytest.raises(DataNotFoundError, match="call prepare_data"):
        module(tmp_path / "data").setup("fit")

    (folder / first).unlink()
    (folder / first).write_bytes(complete)  # the package is whole again
    dm = module(tmp_path / "data")
    dm.prepare_data()
    assert sorted(os.listdir(raw)) == sorted(RAW_NAMES)  # the dead run's partial is gone
    assert (raw / first).read_bytes() == complete
    dm.setup("fit")
    assert torch.equal(dm.test_dataset.targets, torch.as_tensor(written["t10k"]))


def test_an_error_midway_removes_the_partial_file(fake_package, tmp_path, monkeypatch) -> None:
    folder, _ = fake_package
    raw = tmp_path / "raw"
    sources = pkg.find_package_files(DEBIAN_PACKAGE, RAW_NAMES, override=str(folder))

    def fail_on_third(path: str) -> None:
        if RAW_NAMES[2] in path:
            raise KeyboardInterrupt
        pkg.check_idx_file(path)

    with pytest.raises(KeyboardInterrupt):
        pkg.install_files(sources, raw, check=fail_on_third)
    assert sorted(os.listdir(raw)) == sorted(RAW_NAMES[:2])
    assert pkg.install_files(sources, raw) == RAW_NAMES[2:]


def test_a_truncated_package_file_is_refused_in_one_line(
    fake_package, tmp_path, monkeypatch
) -> None:
    folder, _ = fake_package
    name = RAW_NAMES[2]
    data = gzip.decompress((folder / f"{name}.gz").read_bytes())
    (folder / f"{name}.gz").write_bytes(gzip.compress(data[:-100]))
    monkeypatch.setenv(PACKAGE_DIR_ENV, str(folder))
    with pytest.raises(DataNotFoundError) as err:
        module(tmp_path / "data").prepare_data()
    message = str(err.value)
    assert "\n" not in message and "header says" in message and "could not prepare" in message
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    assert name not in os.listdir(raw) and not list(raw.glob(".*.partial"))


def test_check_idx_file(tmp_path) -> None:
    images, labels = fake_split(5, 0)
    write_idx_images(tmp_path / "i", images)
    write_idx_labels(tmp_path / "l", labels)
    pkg.check_idx_file(tmp_path / "i")
    pkg.check_idx_file(tmp_path / "l")
    (tmp_path / "short").write_bytes((tmp_path / "i").read_bytes()[:-1])
    (tmp_path / "text").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="header says 3936"):
        pkg.check_idx_file(tmp_path / "short")
    with pytest.raises(ValueError, match="not an IDX file"):
        pkg.check_idx_file(tmp_path / "text")


# -- missing data, coarse maps -------------------------------------------------------------------
def test_missing_dataset_names_all_three_ways(monkeypatch) -> None:
    monkeypatch.setenv(PACKAGE_DIR_ENV, "")
    dm = FashionMNISTDataModule(data_dir="nowhere")
    for step in (dm.prepare_data, dm.setup):
        with pytest.raises(DataNotFoundError) as err:
            step()
        message = str(err.value)
        assert "\n" not in message
        assert os.path.join("nowhere", "FashionMNIST", "raw") in message
        assert "make data" in message and DEBIAN_PACKAGE in message
        assert "--data.download true" in message


def test_missing_dataset_via_the_cli(repo_root, monkeypatch, capsys) -> None:
    monkeypatch.setenv(PACKAGE_DIR_ENV, "")
    config = os.path.join(repo_root, "configs", "fashion_mnist", "erm.yaml")
    args = ["fit", "--config", config, "--data.data_dir", "/nonexistent"]
    status = run_benign([*args, "--wandb.mode", "disabled"], monkeypatch)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status != 0 and len(lines) == 1, lines
    assert "/nonexistent/FashionMNIST/raw" in lines[0] and "make data" in lines[0]
    assert not os.path.exists("runs") or os.listdir("runs") == []


def coarse_of(dm: FashionMNISTDataModule, fine: str) -> str:
    return dm.coarse_class_names[int(dm.coarse_map[dm.class_names.index(fine)])]


def test_class_names_are_torchvisions() -> None:
    dm = FashionMNISTDataModule()
    assert dm.class_names == torchvision.datasets.FashionMNIST.classes
    assert dm.num_classes == 10 and dm.input_shape == (1, 28, 28)


def test_coarse_presets() -> None:
    semantic = FashionMNISTDataModule(label_level="coarse")
    assert semantic.coarse_map_name == "semantic" and semantic.num_classes == 3
    groups = {name: coarse_of(semantic, name) for name in semantic.class_names}
    assert groups == {
        "T-shirt/top": "tops", "Pullover": "tops", "Coat": "tops", "Shirt": "tops",
        "Sandal": "footwear", "Sneaker": "footwear", "Ankle boot": "footwear",
        "Trouser": "other", "Dress": "other", "Bag": "other",
    }  # fmt: skip
    apparel = FashionMNISTDataModule(label_level="coarse", coarse_map="apparel_vs_rest")
    assert apparel.num_classes == 2
    rest = {n for n in apparel.class_names if coarse_of(apparel, n) != coarse_of(apparel, "Coat")}
    assert rest == {"Sandal", "Sneaker", "Bag", "Ankle boot"}
    halves = FashionMNISTDataModule(label_level="coarse", coarse_map="halves")
    assert halves.coarse_map.tolist() == [0] * 5 + [1] * 5
    custom = FashionMNISTDataModule(label_level="coarse", coarse_map=[0, 1] * 5)
    assert coarse_of(custom, "Sneaker") == "Trouser+Dress+Sandal+Sneaker+Ankle boot"


@pytest.mark.parametrize(
    "spec,words",
    [("vehicles", ["unknown coarse_map 'vehicles'", "apparel_vs_rest, halves, semantic"]),
     ([0, 1, 0], ["has 3 entries", "10 fine classes"]),
     ("[0,0,0,0,0,0,0,0,0,0]", ["superclasses 0..C-1 (C >= 2)"])],
)  # fmt: skip
def test_bad_coarse_map_is_one_line(spec, words) -> None:
    with pytest.raises(ConfigError) as err:
        FashionMNISTDataModule(label_level="coarse", coarse_map=spec)
    assert "\n" not in str(err.value) and all(word in str(err.value) for word in words)


# -- the real images (Debian's package) ---------------------------------------------------------
@pytest.fixture(scope="module")
def real_data_dir(tmp_path_factory) -> Path:
    """A ``data_dir`` with the real files: the checkout's ``data/`` when it has them, else one
    prepared from Debian's package. Skips without either, but fails in CI."""
    checkout_data = Path(__file__).resolve().parents[2] / "data"
    if FashionMNISTDataModule(data_dir=str(checkout_data))._has_raw_files():
        return checkout_data
    if FashionMNISTDataModule().package_files() is None:
        reason = (
            f"Fashion-MNIST is absent: Debian's {DEBIAN_PACKAGE} is not installed (run 'make data')"
        )
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the real-data tests")
        pytest.skip(reason)
    data_dir = tmp_path_factory.mktemp("fashion")
    FashionMNISTDataModule(data_dir=str(data_dir)).prepare_data()
    return data_dir


def test_real_files_match_torchvisions_reader(real_data_dir) -> None:
    dm = FashionMNISTDataModule(data_dir=str(real_data_dir), val_split=0.1)
    dm.setup("fit")
    reference = torchvision.datasets.FashionMNIST(str(real_data_dir), train=True)
    assert len(reference) == 60_000 and len(dm.test_dataset) == 10_000
    assert len(dm.val_dataset) == 6_000 and len(dm.train_dataset) == 54_000
    assert torch.equal(dm.train_dataset.images[:, 0], reference.data[dm.train_source_indices])
    assert torch.equal(dm.true_targets, reference.targets[dm.train_source_indices])
    assert np.bincount(dm.test_dataset.targets.numpy()).tolist() == [1000] * 10
    mean = float(dm.train_dataset.images.float().mean() / 255)
    assert mean == pytest.approx(FashionMNISTDataModule.mean[0], abs=2e-3)


def test_real_train_subset_is_stratified_seeded_and_disjoint(real_data_dir) -> None:
    def subset(seed: int, **kwargs) -> FashionMNISTDataModule:
        dm = FashionMNISTDataModule(
            data_dir=str(real_data_dir), train_subset=10_000, split_seed=seed, **kwargs
        )
        dm.setup("fit")
        return dm

    dm = subset(0)
    sources = dm.train_source_indices.numpy()
    assert len(sources) == 10_000 and len(np.unique(sources)) == 10_000
    assert np.bincount(dm.true_targets.numpy()).tolist() == [1000] * 10
    assert not set(sources) & set(dm.val_source_indices.numpy())
    again = subset(0, noise_rate=0.2)
    assert np.array_equal(again.train_source_indices.numpy(), sources)
    manifest = again.noise_manifest()
    assert manifest["source_indices"].tolist() == sources.tolist()
    assert str(manifest["train_subset"]) == "10000"
    other = subset(1)
    assert len(set(sources) & set(other.train_source_indices.numpy())) < 5_000
    coarse = FashionMNISTDataModule(data_dir=str(real_data_dir), label_level="coarse")
    coarse.setup("fit")
    # tops are 4 of 10 classes, footwear and other 3 each
    assert np.bincount(coarse.test_dataset.targets.numpy()).tolist() == [4000, 3000, 3000]


# One real training step, as users run a fit (not fast_dev_run, which skips the run set-up
# that reads the data first: a fresh data_dir must be filled before it).
ONE_STEP = [
    "--trainer.max_steps", "1", "--trainer.limit_val_batches", "1", "--test_after_fit", "false",
    "--wandb.mode", "disabled", "--data.batch_size", "8", "--data.val_split", "10",
    "--data.train_subset", "20",
]  # fmt: skip


@pytest.mark.parametrize(
    "method",
    [
        "erm",
        pytest.param("at", marks=pytest.mark.slow),
        pytest.param("trades", marks=pytest.mark.slow),
    ],
)
def test_configs_train_one_step(method, fake_package, tmp_path, repo_root, monkeypatch) -> None:
    folder, _ = fake_package
    monkeypatch.setenv(PACKAGE_DIR_ENV, str(folder))
    config = os.path.join(repo_root, "configs", "fashion_mnist", f"{method}.yaml")
    args = ["fit", "--config", config, "--data.data_dir", str(tmp_path / "data"), *ONE_STEP]
    assert run_benign(args, monkeypatch) == 0
    assert sorted(os.listdir(tmp_path / "data" / "FashionMNIST" / "raw")) == sorted(RAW_NAMES)
