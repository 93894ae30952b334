"""The sbatch template: valid bash, and srun launches exactly what the allocation holds."""

import os
import re
import stat
import subprocess

import pytest

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "slurm", "fit.sbatch")


def directives(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", text, flags=re.M))


def render(nodes: int, gpus: int) -> str:
    """The template as ``sbatch --nodes N --gpus-per-node G --ntasks-per-node G`` would run it."""
    text = open(TEMPLATE).read()
    for key, value in {"nodes": nodes, "gpus-per-node": gpus, "ntasks-per-node": gpus}.items():
        text = re.sub(rf"^#SBATCH --{key}=\S+", f"#SBATCH --{key}={value}", text, flags=re.M)
    return text


def fake_submit(script: str, tmp_path, nodes: int) -> list[str]:
    """Run a rendered script with SLURM's variables set from its directives and a stub srun."""
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    stub = tmp_path / "bin" / "srun"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    flags = directives(script)
    per_node = flags["ntasks-per-node"]
    env = dict(
        os.environ,
        PATH=f"{stub.parent}:{os.environ['PATH']}",
        SLURM_JOB_NUM_NODES=str(nodes),
        SLURM_NNODES=str(nodes),
        SLURM_NTASKS_PER_NODE=f"{per_node}(x{nodes})" if nodes > 1 else per_node,
        SLURM_CPUS_PER_TASK=flags["cpus-per-task"],
    )
    out = subprocess.run(["bash", str(path), "configs/cifar10/at.yaml", "--data.noise_rate", "0.2"],
                         env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.splitlines()


def test_template_is_valid_bash():
    assert subprocess.run(["bash", "-n", TEMPLATE]).returncode == 0


@pytest.mark.parametrize("nodes,gpus", [(1, 4), (2, 8)])
def test_srun_matches_the_allocation(nodes, gpus, tmp_path):
    script = render(nodes, gpus)
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    flags = directives(script)
    assert flags["nodes"] == str(nodes)
    assert flags["ntasks-per-node"] == flags["gpus-per-node"] == str(gpus)  # one task per GPU
    assert flags["signal"].startswith("SIGUSR1@") and "requeue" in script
    args = fake_submit(script, tmp_path, nodes)
    assert args[:3] == ["--kill-on-bad-exit=1", "benign", "fit"]
    value = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--trainer.")}
    assert value["--trainer.devices"] == str(gpus)
    assert value["--trainer.num_nodes"] == str(nodes)
    assert value["--trainer.strategy"] == "ddp"
    assert args[-2:] == ["--data.noise_rate", "0.2"]
