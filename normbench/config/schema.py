"""The schema of the train config's fixed groups: their keys, types and defaults, in one home.

Why: a key, its type and its default used to be written in a YAML file and again in code
(models/*.py), and a wrong type ended in a traceback. Here each config group is one
dataclass (a component's group: the components' own dataclasses, see below); everything
else derives from it:
- the Hydra ConfigStore nodes (normbench/config/store.py) that configs/*.yaml presets
  extend with only what differs (`defaults: [/schema/optim@_here_, _self_]`),
- validate_config (normbench/config/validate.py): a wrong type is one named error,
- the defaults that Python callers get (build_model's plain dicts, make_synthetic's
  options), through defaults_of().
Value ranges and choices (lr > 0, ...) are checked by the code that uses the value
(train/runtime.py, train/optim.py, models/*.py), not here; a comment below names the allowed
values. The component groups are not here, each component declares its config beside its code:
a norm its `Options` (normbench/norms/<name>.py; the `norm` group is their union), a model its
config dataclass (normbench/models/<name>.py), a task its `Config` (normbench/train/<task>.py);
groups.py joins them to the fixed groups here.

This module imports nothing from normbench, so any package may derive its defaults from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from omegaconf import MISSING

# Field metadata key: what a wrong value is told is allowed, where the type alone says it badly.
ALLOWED = "allowed"


# -- normfree -----------------------------------------------------------------------------
@dataclass
class NormFreeConfig:
    """`normfree`: a transform of the built model that trains it without normalization
    (normbench/normfree); compose it with norm=identity for the paper's baselines."""

    name: str = "none"             # none | fixup | skipinit | sigma_reparam
    gain_init: float = 0.0         # skipinit: initial value of each residual branch's scalar


# -- data -----------------------------------------------------------------------------------
@dataclass
class AugmentConfig:
    """`data.augment`: on-device augmentation of training batches."""

    crop_padding: int = 2          # random crop with zero padding (pixels); 0 switches it off
    hflip: bool = True             # random horizontal flip


@dataclass
class SyntheticConfig:
    """`data.synthetic`: the options of data=synthetic (load_image_data("synthetic", **synthetic))."""

    num_classes: int = 10
    img_size: int = 16
    in_chans: int = 1
    train_size: int = 512
    test_size: int = 256
    seed: int = 0                  # the data seed, independent of trainer.seed


@dataclass
class DataConfig:
    """`data`: one schema for every data set; root and download apply to those read from files."""

    name: str = MISSING            # images (task=classify): fashion_mnist_mini | fashion_mnist | cifar10 | cifar100 |
                                   # synthetic; text (task=lm): shakespeare (shipped) | text (the files of `paths`)
    root: Optional[str] = None     # folder with the data files; null: the standard places
    download: bool = False         # torchvision download where there is internet
    batch_size: int = 128          # images, or sequences of context_length tokens
    eval_batch_size: int = 1000
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # images only (normbench/data/val_split.py): training images held out as the validation split
    # (val/*: selection, best), fixed and stratified by class with its own seed (not trainer.seed);
    # test/* is the data set's test set (reported). null: the data set's default (configs/data/<name>.yaml
    # states it: 1000 of fashion_mnist_mini, 5000 of fashion_mnist and CIFAR, 64 of synthetic); 0: no
    # split (test/* alone, best selected on the test set); else 1 to the training set's size - 1, anything
    # else a DataError naming data.val_split, before training. Text data: null (val_fraction applies).
    val_split: Optional[int] = None
    # text only (normbench/data/text.py): byte-level tokens, vocabulary 256
    paths: list[str] = field(default_factory=list)  # data=text: files or globs, concatenated in sorted order
    context_length: int = 128      # tokens per training window (the model sees this many positions)
    val_fraction: float = 0.1      # the fraction of the corpus before the test split that is validation
    # the last fraction of the corpus held out as the test split (test/*: reported, never selected on;
    # val/* then comes just before it). 0: none (val/* alone, the runs made before this key); in [0, 1)
    # with val_fraction + test_fraction < 1, else a DataError naming data.test_fraction, before training.
    test_fraction: float = 0.0
    eval_windows: Optional[int] = None  # validation windows, evenly spaced over the split; null: every one
    # the training split cut to its first train_bytes bytes (a data-regime study: how many tokens a
    # run may see); null: the whole training split. Validation is unchanged. From context_length + 1
    # to the split's length; anything else is a DataError naming data.train_bytes, before training.
    train_bytes: Optional[int] = None
    # only data=synthetic has it (its preset adds /schema/data/synthetic@synthetic)
    synthetic: Optional[SyntheticConfig] = None


# -- optim ----------------------------------------------------------------------------------
@dataclass
class OptimConfig:
    """`optim`: the DyT paper's recipe (official code: timm + the ConvNeXt recipe): AdamW,
    weight decay except on 1-D parameters, linear warmup then cosine, no gradient clipping.
    optim=sgd (configs/optim/sgd.yaml) is torchvision's ConvNet recipe, for claim C8."""

    name: str = "adamw"            # adamw | adam | sgd | lamb | lion (timm's create_optimizer_v2)
    lr: float = 1e-3
    weight_decay: float = 0.05     # not applied to 1-D parameters (norm weights, alpha, biases) unless decay_1d
    decay_1d: bool = False         # true: weight decay on every parameter, 1-D ones and the model's
                                   # no_weight_decay() names included (torchvision's recipes)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw, adam, lamb, lion
    momentum: float = 0.9          # sgd
    nesterov: bool = True          # sgd: Nesterov momentum, timm's sgd; false: classical momentum (torchvision)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.01     # cosine: final lr = lr * min_lr_ratio
    schedule: str = "cosine"       # cosine | constant | step (after warmup)
    # step: lr *= step_gamma at each milestone, a fraction of trainer.max_steps (torchvision: epochs 30, 60 of 90)
    milestones: list[float] = field(default_factory=lambda: [1 / 3, 2 / 3])
    step_gamma: float = 0.1
    grad_clip: Optional[float] = None  # null: no clipping (the paper); a number: max global grad norm
    # torch's fused kernel (adamw, adam; cpu and cuda): one call a step where the per-tensor loop
    # makes ~10 per parameter (on 2 CPU cores 0.5 ms against 2 ms for the default ViT). null: fused
    # where it exists; true: required; false: the per-tensor loop (runs before it, rounding aside)
    fused: Optional[bool] = None


# -- trainer --------------------------------------------------------------------------------
@dataclass
class TrainerConfig:
    """`trainer`: how long, how often, where and how precisely a run computes."""

    max_steps: int = 3000
    eval_every: int = 500
    log_every: int = 25
    ckpt_every: int = 500          # also at the end; a resumed run starts from the last one
    seed: int = 0
    device: str = "auto"           # auto (cuda, mps, cpu) | cpu | cuda | cuda:N | mps
    precision: str = "fp32"        # fp32 | bf16 | fp16 (autocast)
    compile: bool = False          # torch.compile the model
    # recompute each block's activations in backward: less memory, about a third more compute;
    # vit, convnext, resnet, llama; not with BatchNorm (its running statistics would update twice)
    grad_checkpointing: bool = False
    threads: Optional[int] = None  # torch CPU threads; null: torch's default
    max_loss: float = 100.0        # divergence guard: a train loss above this (or NaN/inf) ends the run as diverged
    # false | true (this run folder's checkpoint) | path to a checkpoint or run folder
    resume: Optional[Union[bool, str]] = field(default=False, metadata={ALLOWED: "false, true, or a path"})
    progress: bool = True          # progress bar on a terminal
    # torchrun: BatchNorm statistics over the global batch (normbench's SyncBatchNorm, layout kept);
    # on one process a warning and plain BatchNorm
    sync_bn: bool = False


# -- logger ---------------------------------------------------------------------------------
@dataclass
class WandbConfig:
    """`logger.wandb`: one wandb run per job."""

    mode: str = "offline"          # offline (synced later with `wandb sync`) | online | disabled
    project: str = "normbench"
    entity: Optional[str] = None
    group: Optional[str] = None    # null: the sweep's folder for -m runs, else <model>-<norm>
    name: Optional[str] = None     # null: the run folder's name (single runs) or the job's overrides (-m)
    tags: list[str] = field(default_factory=list)


@dataclass
class LoggerConfig:
    """`logger`: where numbers go besides the run folder (which always gets them)."""

    wandb: WandbConfig = field(default_factory=WandbConfig)


# -- probe ----------------------------------------------------------------------------------
@dataclass
class MonitorConfig:
    """`probe.monitor`: health warnings (console, train.log, probes.jsonl "warnings")."""

    saturation: float = 0.5        # DyT: share of inputs past the squash's knee (probes/stats.py) above this
    alpha_min: float = 1e-3        # DyT: |alpha| below this has collapsed
    var_min: float = 1e-8          # BatchNorm: running variance below this
    var_max: float = 1e6           # BatchNorm: running variance above this
    # residual stream std a branch reads above this (`branch` lines): the committed LN / RMSNorm ViTs,
    # ConvNeXts and LLaMAs stay below 2.6; DyT ViTs 20-40 points behind LN reach 10-40 (results/stream_growth)
    stream_max: float = 8.0


@dataclass
class ProbeConfig:
    """`probe`: probes of every norm layer (normbench/probes); on by default, cheap at this interval."""

    enabled: bool = True
    every: int = 100               # steps between probes (also at the last step)
    batch_size: int = 64           # the fixed probe batch: the first images of the training set, unaugmented
    # steps at which to sample (input, output before the affine) per norm layer (C9); 0: at init, -1: the last step
    scurve_steps: list[int] = field(default_factory=list)
    scurve_tokens: int = 8         # tokens (rows) sampled per layer for the S-curve
    scurve_channels: int = 64      # channels sampled per token
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


# -- the whole train config -----------------------------------------------------------------
@dataclass
class RunConfig:
    """The top-level keys of configs/train.yaml besides the groups."""

    variant: Optional[str] = None  # a label for this run's variant in a study (reports group by it); null: <model>-<norm>


# Config group -> its schema, for the groups that are fixed here. The others come from the
# registries (groups.py): `model` has one schema per model (its config dataclass, in its file),
# chosen by model.name; `task` one per task (its Config), chosen by task.name; `norm` is the union
# of the registered norms' Options.
GROUPS: dict[str, type] = {
    "normfree": NormFreeConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
    "probe": ProbeConfig,
}


def defaults_of(cls: type, exclude: tuple[str, ...] = ("name",)) -> dict[str, Any]:
    """The schema's defaults as a plain dict (nested dataclasses as dicts), for Python callers
    that fill in what a config leaves out; `name` is excluded, it is what selects the schema."""
    return {k: v for k, v in dataclasses.asdict(cls()).items() if k not in exclude}
