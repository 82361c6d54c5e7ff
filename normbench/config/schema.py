"""The schema of the train config: every group's keys, types and defaults, in one home.

Why: a key, its type and its default used to be written in a YAML file and again in code
(models/*.py), and a wrong type ended in a traceback. Here each config group is one
dataclass; everything else derives from it:
- the Hydra ConfigStore nodes (normbench/config/store.py) that configs/*.yaml presets
  extend with only what differs (`defaults: [/schema/optim@_here_, _self_]`),
- validate_config (normbench/config/validate.py): a wrong type is one named error,
- the defaults that Python callers get (build_model's plain dicts, make_synthetic's
  options), through defaults_of().
Value ranges and choices (lr > 0, ...) are checked by the code that uses the value
(train/runtime.py, train/optim.py, models/*.py), not here; a comment below names the allowed
values. The `norm` group is not here: each norm declares its options beside its code
(normbench/norms/<name>.py, `Options`, with their checks) and the group is their union
(normbench/norms/registry.py); groups.py joins the two.

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


# -- model: one schema per family ---------------------------------------------------------
@dataclass
class ViTConfig:
    """`model=vit`: a small timm VisionTransformer for 28-32 px images (normbench/models/vit.py)."""

    name: str = "vit"
    patch_size: int = 7            # must divide the image size: 7 for 28 px (16 tokens), 4 or 8 for 32 px
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 2.0
    global_pool: str = "avg"       # avg | max | avgmax put the final norm after pooling; token needs class_token
    class_token: bool = False
    qkv_bias: bool = True
    drop_path_rate: float = 0.0    # stochastic depth, rising linearly to this value over the blocks
    norm_route: str = "replace"    # replace: stock timm, then swap every LayerNorm (the official DyT code);
                                   # norm_layer: timm builds the configured norm itself


@dataclass
class ConvNeXtConfig:
    """`model=convnext`: a small timm ConvNeXt for 28-32 px images (normbench/models/convnext.py)."""

    name: str = "convnext"
    depths: list[int] = field(default_factory=lambda: [2, 2, 2])      # blocks per stage (1 to 4 stages)
    dims: list[int] = field(default_factory=lambda: [32, 64, 128])    # channels per stage, one entry per stage
    patch_size: int = 2                    # stem: non-overlapping patch_size x patch_size conv
    kernel_size: int = 7                   # depthwise conv kernel of every block
    ls_init_value: Optional[float] = 1e-6  # layer scale init; null disables layer scale
    drop_path_rate: float = 0.0            # stochastic depth
    norm_route: str = "replace"            # replace: stock timm, then LayerNorm2d -> channels_first, block
                                           # LayerNorm -> channels_last (the official DyT code); norm_layer: timm
                                           # builds the norm, which needs conv_mlp=true, so every norm place is
                                           # channels_first (groupnorm fits only here)


@dataclass
class ResNetConfig:
    """`model=resnet`: a small timm ResNet for 28-32 px images (normbench/models/resnet.py)."""

    name: str = "resnet"
    block: str = "basic"                   # basic | bottleneck (4x wider outputs)
    layers: list[int] = field(default_factory=lambda: [2, 2, 2, 2])          # blocks per stage
    channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # block width per stage
    stem_width: int = 32                   # channels of the stem conv (even)
    zero_init_last: bool = True            # zero-init the last norm weight of each residual branch
    drop_path_rate: float = 0.0            # stochastic depth
    norm_route: str = "replace"            # replace: stock timm, then swap every BatchNorm2d;
                                           # norm_layer: timm builds the norm


@dataclass
class VGGConfig:
    """`model=vgg`: a small VGG with BatchNorm for 28-32 px images (normbench/models/vgg.py)."""

    name: str = "vgg"
    # conv3x3 widths, each conv -> norm -> ReLU, and "M" for a 2x2 max-pool; then global average
    # pooling and a linear head. Default: VGG11's first four stages at half width (28 px: 28 -> 1).
    # list[Any]: OmegaConf's errors for a Union item do not name the key; models/vgg.py checks the items.
    layers: list[Any] = field(
        default_factory=lambda: [32, "M", 64, "M", 128, 128, "M", 256, 256, "M"],
        metadata={ALLOWED: "a list of conv widths (positive ints) and 'M' (a 2x2 max-pool)"},
    )
    norm_route: str = "replace"            # replace: build with BatchNorm2d, then swap every one;
                                           # norm_layer: the configured norm is built in its place


@dataclass
class LlamaConfig:
    """`model=llama` (task=lm): a small LLaMA of our own (normbench/models/llama.py); the context
    length is data.context_length and the vocabulary the data's (256 bytes)."""

    name: str = "llama"
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0         # SwiGLU hidden = 2/3 * mlp_ratio * embed_dim, rounded up to a multiple of 16
                                   # (LLaMA's rule: the parameters of a plain MLP of this ratio)
    tie_embeddings: bool = False   # true: the head reuses the token embedding
    embed_scale: bool = True       # a learnable scalar after the embedding, init sqrt(embed_dim) (DyT-LLaMA)
    norm_position: str = "pre"     # pre: x + f(norm(x)), a final norm; post: norm(x + f(x)), no final norm
    norm_bias: bool = False        # LLaMA has no biases; DyT-LLaMA's DyT has none either
    rope_theta: float = 10000.0


@dataclass
class DiTConfig:
    """`model=dit` (task=generate): a small class-conditional Diffusion Transformer in pixel space
    (normbench/models/dit.py); every norm place is a conditional norm (norm=adaln or adaln_zero).
    The defaults (28 px: 7 x 7 tokens of 4 x 4 pixels) have about 1.2 M parameters with adaln_zero."""

    name: str = "dit"
    patch_size: int = 4            # must divide the image size: 2 (196 tokens) or 4 (49 tokens) at 28 px
    embed_dim: int = 128           # a multiple of 4 (2D sin-cos positions) and of num_heads
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0


MODELS: dict[str, type] = {"vit": ViTConfig, "convnext": ConvNeXtConfig, "resnet": ResNetConfig, "vgg": VGGConfig,
                           "llama": LlamaConfig, "dit": DiTConfig}


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
    val_fraction: float = 0.1      # the last fraction of the corpus is the validation split
    eval_windows: Optional[int] = None  # validation windows, evenly spaced over the split; null: every one
    # the training split cut to its first train_bytes bytes (a data-regime study: how many tokens a
    # run may see); null: the whole training split. Validation is unchanged. From context_length + 1
    # to the split's length; anything else is a DataError naming data.train_bytes, before training.
    train_bytes: Optional[int] = None
    # only data=synthetic has it (its preset adds /schema/data/synthetic@synthetic)
    synthetic: Optional[SyntheticConfig] = None


# -- task: one schema per task ------------------------------------------------------------
@dataclass
class ClassifyTaskConfig:
    """`task=classify` (the default): image classification (normbench/train/classify.py);
    best is the highest val acc1, throughput is counted in images."""

    name: str = "classify"
    label_smoothing: float = 0.0   # in [0, 1): the training loss's label smoothing (eval loss has none);
                                   # the default run sets 0.1 (configs/default_run/task/classify.yaml)


@dataclass
class LMTaskConfig:
    """`task=lm`: next-byte language modelling (normbench/train/lm.py); best is the lowest val
    loss, throughput is counted in tokens. Its preset (configs/task/lm.yaml) also makes
    model=llama, data=shakespeare and optim=adamw_llama the defaults."""

    name: str = "lm"


@dataclass
class GenerateTaskConfig:
    """`task=generate`: class-conditional image generation by flow matching (normbench/train/generate.py);
    best is the lowest val loss (fixed noise and times: comparable across runs), throughput is counted
    in images. Its preset (configs/task/generate.yaml) also makes model=dit, norm=adaln_zero and
    optim=adamw_dit the defaults; the data stays the shipped subset (data=fashion_mnist: the full set)."""

    name: str = "generate"
    sample_steps: int = 10         # Euler steps of the sampler, from t = 1 (noise) to t = 0 (image)
    class_dropout: float = 0.1     # in [0, 1): share of training labels replaced by the null class (for guidance)
    guidance: float = 1.0          # classifier-free guidance scale of the sampler (>= 0); 1: none, one forward a step
    val_size: int = 500            # validation images of the fixed-noise val loss and of the FID's real side
    eval_samples: int = 250        # samples per evaluation (the classes in turn), for judge_acc and fid
    grid_per_class: int = 8        # the sample grid (PNG, wandb): one row per class, this many samples each
    judge: Optional[str] = None    # a normbench classify run folder; null: train one once and cache it
                                   # under the data cache dir (normbench/train/judge.py)
    judge_steps: int = 500         # steps of the cached judge (task.judge=null); part of its cache key


TASKS: dict[str, type] = {"classify": ClassifyTaskConfig, "lm": LMTaskConfig, "generate": GenerateTaskConfig}


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


# Config group -> its schema; `model` has one per family (MODELS), chosen by model.name, and
# `task` one per task (TASKS), chosen by task.name. The `norm` group's schema is the union of the
# registered norms' Options (normbench/norms/registry.py norm_config); groups.py adds it.
GROUPS: dict[str, type | dict[str, type]] = {
    "model": MODELS,
    "normfree": NormFreeConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
    "probe": ProbeConfig,
    "task": TASKS,
}


def defaults_of(cls: type, exclude: tuple[str, ...] = ("name",)) -> dict[str, Any]:
    """The schema's defaults as a plain dict (nested dataclasses as dicts), for Python callers
    that fill in what a config leaves out; `name` is excluded, it is what selects the schema."""
    return {k: v for k, v in dataclasses.asdict(cls()).items() if k not in exclude}
