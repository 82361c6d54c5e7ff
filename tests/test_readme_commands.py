"""Every command the README documents runs, as a newcomer would type it (slow tier).

The README's fenced bash blocks are read, and every `python train.py`, `python sweep.py`,
`python -m normbench...` and `torchrun ... train.py` line is run in a fresh working folder with a
fresh HOME (no normbench, wandb or data caches), shrunk by the overrides of PLANS (fewer steps,
a smoke scale, tiny shapes) but otherwise as written: offline wandb, the shipped data, the
default launcher. A command that needs a GPU, SLURM, the network or a login is in PLANS with
the reason it is skipped. A README command missing from PLANS, or a PLANS entry the README no
longer has, fails `test_every_readme_command_has_a_plan`, so no documented command goes untried.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow

RUNNERS = ("python train.py", "python sweep.py", "python -m normbench", ".venv/bin/python train.py",
           "torchrun ")


def readme_commands(text: str) -> list[str]:
    """The runnable lines of the README's ```bash blocks: comments stripped, continuations joined,
    `a && b` split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.sub(r"(^|\s+)#.*$", "", line).split("&&"):  # the set-up line chains three
                part = re.sub(r"\s+", " ", part).strip()
                if any(part.startswith(r) for r in RUNNERS):
                    commands.append(part)
    return commands


@dataclass(frozen=True)
class Plan:
    args: tuple[str, ...] = ()   # appended to the command (before a `--`, where it has one)
    after: tuple[str, ...] = ()  # appended after everything (train.py overrides of a bench step)
    skip: str = ""               # why it cannot run here (GPU, SLURM, network, login)
    needs: str = ""              # a README command whose output this one uses, run first
    replace: tuple[tuple[str, str], ...] = ()  # placeholders of the README -> real paths
    expect: str = ""             # a line the output must hold


# Fewer steps, one evaluation at the end; everything else as the README wrote it.
SHORT = ("trainer.max_steps=2", "trainer.eval_every=2", "trainer.log_every=1", "trainer.ckpt_every=2",
         "probe.every=2")
SHORT_LM = (*SHORT, "data.eval_windows=8")
SHORT_GEN = (*SHORT, "task.judge_steps=3", "task.val_size=32", "task.eval_samples=20", "task.grid_per_class=2",
             "task.sample_steps=2")
GPU, SLURM, NET = "needs a GPU", "needs SLURM (sbatch)", "needs the network (torchvision downloads CIFAR)"
SMOKE = ("study.scale=smoke",)

PLANS: dict[str, Plan] = {
    # Set-up: the install itself is .ci/run's job; the main job runs here, shrunk
    '.venv/bin/python train.py': Plan(SHORT),
    # Usage
    "python train.py model=vit norm=dyt norm.alpha0=0.8": Plan(SHORT),
    "python train.py model=convnext norm=layernorm": Plan(SHORT),
    "python train.py model=resnet norm=batchnorm data=cifar10 data.download=true": Plan(skip=NET),
    "python train.py model=vgg norm=dyt optim=sgd": Plan(SHORT),
    "python train.py model=resnet norm=batchnorm optim=sgd model.zero_init_last=false": Plan(SHORT),
    "python train.py data=cifar10 model.patch_size=4": Plan(skip=NET),
    "python train.py norm=dyt norm.squash=hardtanh norm.learnable_alpha=false": Plan(SHORT),
    "python train.py -m norm=layernorm,dyt norm.alpha0=0.5,1.0 trainer.seed=0,1,2": Plan(SHORT),
    "python train.py hydra.run.dir=outputs/myrun trainer.resume=true": Plan(SHORT),
    "python train.py trainer.resume=outputs/myrun/checkpoint.pt":
        Plan(("trainer.max_steps=4", *SHORT[1:]), needs="python train.py hydra.run.dir=outputs/myrun trainer.resume=true"),
    "python train.py logger.wandb.mode=online":  # no login here: one warning, then offline
        Plan(SHORT, expect="this run logs offline instead"),
    "python train.py norm=dyt_noalpha norm.squash=hardtanh": Plan(SHORT),
    "python train.py model=resnet norm=identity normfree=fixup": Plan(SHORT),
    "python train.py norm=identity normfree=skipinit": Plan(SHORT),
    "python train.py --cfg job": Plan(expect="name: dyt"),
    # Language modelling
    "python train.py task=lm": Plan(SHORT_LM),
    "python train.py task=lm norm=rmsnorm": Plan(SHORT_LM),
    "python train.py task=lm norm.alpha0_attn=1.0 norm.alpha0_ffn=0.5": Plan(SHORT_LM),
    "python train.py task=lm data=text 'data.paths=[\"~/corpus/*.txt\"]'": Plan(SHORT_LM),  # HOME has a corpus
    "python train.py task=lm data.train_bytes=100000": Plan(SHORT_LM),
    # Conditional generation (its judge trains once, 3 steps, and is cached in HOME)
    "python train.py task=generate": Plan(SHORT_GEN),
    "python train.py task=generate data=fashion_mnist":
        Plan(SHORT_GEN) if Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists()
        else Plan(skip="needs the full Fashion-MNIST (apt-get install dataset-fashion-mnist)"),
    "python train.py task=generate norm=adaln": Plan(SHORT_GEN),
    "python train.py task=generate norm.core=dyt norm.zero_init=false": Plan(SHORT_GEN),
    "python train.py task=generate task.judge=outputs/.../my_classify_run":
        Plan(SHORT_GEN, replace=(("outputs/.../my_classify_run", "outputs/myrun"),),
             needs="python train.py hydra.run.dir=outputs/myrun trainer.resume=true"),
    # Studies (the working folder is a clone: its results/squash is the committed one)
    "python sweep.py study=squash": Plan(SMOKE),
    "python sweep.py study=squash study.scale=smoke": Plan(),
    "python sweep.py study=stability hydra/launcher=joblib hydra.launcher.n_jobs=2": Plan(SMOKE),
    "python sweep.py study=squash trainer.threads=1": Plan(SMOKE),
    "python sweep.py study=squash --report": Plan(),
    "python sweep.py study=squash --dry-run": Plan(expect="train.py -m"),
    "python -m normbench.report results/squash": Plan(),
    "python -m normbench.study.index": Plan(expect="wrote"),
    "python -m normbench.study.recipe dyt_alpha2": Plan(expect="wrote"),
    "python sweep.py study=length --procs=2 trainer.threads=1": Plan(SMOKE),
    "python sweep.py study=length --only=grid": Plan(SMOKE),
    # Launchers
    "python train.py -m norm=layernorm,dyt trainer.seed=0,1,2 hydra/launcher=joblib hydra.launcher.n_jobs=2 "
    "trainer.threads=1": Plan(SHORT),
    "python train.py -m norm=layernorm,dyt trainer.seed=0,1,2 hydra.sweep.dir=multirun/dyt-vs-ln trainer.resume=true "
    "hydra/launcher=submitit_slurm hydra.launcher.partition=gpu hydra.launcher.gpus_per_node=1 "
    "hydra.launcher.cpus_per_task=8 hydra.launcher.mem_gb=32 hydra.launcher.timeout_min=240 "
    "hydra.launcher.max_num_timeout=3 +hydra.launcher.additional_parameters.requeue=true": Plan(skip=SLURM),
    "python sweep.py study=squash study.scale=gpu hydra/launcher=submitit_slurm hydra.launcher.partition=gpu":
        Plan(skip=SLURM),
    "python train.py -m trainer.seed=0,1 hydra/launcher=submitit_local": Plan(SHORT),
    # Data-parallel
    "torchrun --standalone --nproc_per_node=4 train.py model=resnet norm=batchnorm data=cifar10 trainer.sync_bn=true":
        Plan(skip=f"{GPU} (4 of them) and {NET}"),
    "torchrun --standalone --nproc_per_node=2 train.py trainer.device=cpu trainer.threads=1": Plan(SHORT),
    "torchrun --standalone --nproc_per_node=2 train.py task=lm data.batch_size=64": Plan(SHORT_LM),
    # Benchmarks: tiny shapes and repeats
    "python -m normbench.bench layer --threads 2":
        Plan(("--shapes", "64x32", "--repeats", "1", "--warmup", "1", "--block-ms", "1", "--out", "perf/layer")),
    "python -m normbench.bench layer --shapes 8192x384 --dtypes fp32 --candidates layernorm,dyt_eager,dyt_fused":
        Plan(("--repeats", "1", "--warmup", "1", "--block-ms", "1", "--out", "perf/layer2")),
    "python -m normbench.bench layer --device cuda": Plan(skip=GPU),
    "python -m normbench.bench step --norms layernorm,dyt --threads 2 -- model=vit":
        Plan(("--steps", "1", "--warmup", "1", "--repeats", "1", "--out", "perf/step"),
             after=("model.embed_dim=16", "model.depth=1", "model.num_heads=2")),
    "python -m normbench.bench step --norms layernorm,dyt --threads 2 --repeats 5 --paired-steps 1000 -- model=vit":
        Plan(("--steps", "1", "--warmup", "1", "--repeats", "1", "--paired-steps", "5", "--out", "perf/step_paired"),
             after=("model.embed_dim=16", "model.depth=1", "model.num_heads=2")),
    "python -m normbench.bench step --norms layernorm,dyt --threads 2 --repeats 1 --paired-steps 400 --paired-processes 7 -- model=vit":
        Plan(("--steps", "1", "--warmup", "1", "--paired-steps", "5", "--paired-processes", "5", "--out",
              "perf/step_processes"), after=("model.embed_dim=16", "model.depth=1", "model.num_heads=2")),
    "python -m normbench.bench llama --embed-dim 512 --depth 8 --context 512 --batch 4 --threads 2":
        Plan(("--embed-dim", "32", "--depth", "1", "--num-heads", "2", "--context", "16", "--batch", "1",
              "--repeats", "1", "--warmup", "1", "--out", "perf/llama")),
}


def test_every_readme_command_has_a_plan():
    documented = readme_commands((ROOT / "README.md").read_text())
    assert documented, "no commands found in the README's bash blocks"
    missing = [c for c in documented if c not in PLANS]
    stale = [c for c in PLANS if c not in documented]
    assert not missing, f"README commands with no plan in {__file__}: {missing}"
    assert not stale, f"plans for commands the README no longer has: {stale}"


def argv_of(command: str, plan: Plan, root: Path = ROOT) -> list[str]:
    """The command as a list, with this interpreter for `python`, train.py and sweep.py from the
    checkout `root`, and the plan's shrinking arguments."""
    for old, new in plan.replace:
        command = command.replace(old, new)
    words = shlex.split(command)
    if words[0] == "torchrun":
        words = [sys.executable, "-m", "torch.distributed.run", *words[1:]]
    elif words[0] in ("python", ".venv/bin/python"):
        words = [sys.executable, *words[1:]]
    words = [str(root / w) if w in ("train.py", "sweep.py") else w for w in words]
    cut = words.index("--") if "--" in words else len(words)
    return [*words[:cut], *plan.args, *words[cut:], *plan.after]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A newcomer's clone, the working folder, and HOME: no caches; a corpus of their own in
    ~/corpus (the README's own-corpus example reads it); the code, configs and the committed
    results/squash, as a clone has them (a study writes to the checkout's results/, so the
    commands must not run this checkout's sweep.py: it would write into its results/)."""
    root = tmp_path_factory.mktemp("readme")
    home = root / "home"
    (home / "corpus").mkdir(parents=True)
    (home / "corpus" / "notes.txt").write_text("the quick brown fox jumps over the lazy dog.\n" * 400)
    work = root / "work"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("configs", "normbench"):
        shutil.copytree(ROOT / name, work / name, ignore=skip)
    for name in ("train.py", "sweep.py"):
        shutil.copy2(ROOT / name, work / name)
    shutil.copytree(ROOT / "results" / "squash", work / "results" / "squash")
    light = shutil.ignore_patterns("wandb", "*.pt", "multirun.yaml", ".hydra")
    for recipe in (ROOT / "configs" / "study" / "recipe").glob("*.yaml"):  # a recipe page reads these studies' runs
        for study in {p["study"] for p in yaml.safe_load(recipe.read_text())["places"]}:
            if not (work / "results" / study).exists():
                shutil.copytree(ROOT / "results" / study, work / "results" / study, ignore=light)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "HYDRA_", "NORMBENCH_"))}
    env.update(HOME=str(home), WANDB_SILENT="true", PYTHONPATH=str(work), MPLBACKEND="Agg")
    return {"cwd": work, "env": env, "done": set()}


def run_command(command: str, workdir) -> subprocess.CompletedProcess:
    plan = PLANS[command]
    if plan.needs and plan.needs not in workdir["done"]:
        run_command(plan.needs, workdir)
    proc = subprocess.run(argv_of(command, plan, root=workdir["cwd"]), cwd=workdir["cwd"], env=workdir["env"], capture_output=True,
                          text=True, timeout=600)
    tail = f"$ {command}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, tail
    assert "Traceback" not in proc.stderr, tail
    assert plan.expect in proc.stdout + proc.stderr, tail
    workdir["done"].add(command)
    return proc


@pytest.mark.parametrize("command", list(PLANS))
def test_readme_command_runs(command, workdir):
    if PLANS[command].skip:
        pytest.skip(PLANS[command].skip)
    run_command(command, workdir)
