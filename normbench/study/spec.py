"""A study config -> the train.py multiruns that make its grid.

Variants need not form a product (LayerNorm has no squash), so each variant is its own
Hydra multirun over the scale's grid and seeds, all into one folder: runs/<variant>/<swept
keys>. Run folder names depend only on the config, so re-running a study finds its runs.

A study writes to results/<name> of the checkout its configs/ come from (sweep.py's own, else
normbench.checkout.configs_dir()), wherever the command runs; `study.out=DIR` (and `hydra.sweep.dir=DIR` for the run folders) on the command line wins,
a relative DIR being relative to the working directory, as any path typed in a shell.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from normbench.checkout import configs_dir
from normbench.errors import StudyError

SCALES = ("smoke", "cpu", "gpu")
PARTS = (None, "grid", "search")  # sweep.py --only: which of a scale's jobs run
# `name` must be the file's; `margin`: the verdicts' equivalence margin (normbench/study/verdicts)
_KEYS = {"name", "claim", "paper", "scale", "out", "common", "scales", "variants", "report", "margin"}


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


@dataclass
class Job:
    """One train.py -m invocation: a variant crossed with the scale's grid and seeds."""

    variant: str
    overrides: list[str]
    swept: list[str] = field(default_factory=list)  # keys that vary inside this multirun

    def per_seed(self) -> list["Job"]:
        """This multirun cut into one per seed: the same run folders (the seed names them either
        way), so seeds can run at once (sweep.py --procs) as well as variants."""
        i = next(i for i, o in enumerate(self.overrides) if _key(o) == "trainer.seed")
        seeds = _top_level_items(self.overrides[i].split("=", 1)[1])
        return [replace(self, overrides=[*self.overrides[:i], f"trainer.seed={seed}", *self.overrides[i + 1:]])
                for seed in seeds]

    def argv(self, runs_dir: Path, passthrough: list[str], group: str) -> list[str]:
        """train.py's arguments. `runs_dir` is the study's (a user's hydra.sweep.dir, taken out of
        `passthrough` by `Study.with_sweep_dir`, already in it). No `.hydra/` in the run folders:
        config.yaml holds the resolved config, and Hydra's copy carries the machine's paths."""
        keep = set(self.swept)
        exclude = sorted({_key(o) for o in self.overrides + passthrough} - keep)
        return [
            "-m", *self.overrides, *passthrough,
            f"variant={self.variant}",
            "trainer.resume=true",  # finished runs are left alone, killed ones resume
            f"logger.wandb.group={group}",
            "hydra.output_subdir=null",
            f"hydra.sweep.dir={runs_dir}",
            f"hydra.sweep.subdir={self.variant}/${{hydra.job.override_dirname}}",
            f"hydra.job.config.override_dirname.exclude_keys=[{','.join(exclude + ['variant', 'trainer.resume', 'logger.wandb.group'])}]",
        ]


@dataclass
class Study:
    name: str
    scale: str
    cfg: dict[str, Any]
    out: Path
    sweep_dir: Path | None = None  # a user's hydra.sweep.dir: the run folders go there, not out/runs
    configs: Path = field(default_factory=configs_dir)  # the checkout's configs/ the runs compose

    @property
    def checkout(self) -> Path:
        """The checkout of `configs`: its train.py runs the jobs, paths inside it are shown relative."""
        return self.configs.parent

    @property
    def runs_dir(self) -> Path:
        return self.sweep_dir if self.sweep_dir is not None else self.out / "runs"

    def with_sweep_dir(self, passthrough: list[str]) -> tuple["Study", list[str]]:
        """A `hydra.sweep.dir=DIR` among the train.py overrides wins over out/runs: the study then
        runs and reports DIR, and the override is taken out (Job.argv gives the study's own)."""
        dirs = [o.split("=", 1)[1] for o in passthrough if _key(o) == "hydra.sweep.dir"]
        if not dirs:
            return self, list(passthrough)
        rest = [o for o in passthrough if _key(o) != "hydra.sweep.dir"]
        return replace(self, sweep_dir=Path(dirs[-1])), rest

    def shown(self, path: Path) -> str:
        """A path as a README cites it: relative to the checkout when inside it (no machine's
        absolute path in a committed file), else as given."""
        try:
            return Path(path).resolve().relative_to(self.checkout.resolve()).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def jobs(self, part: str | None = None) -> list[Job]:
        """One Job per variant, plus one per `search` entry of the scale: an extra grid for one
        variant (e.g. the baselines' lr search) with its own seeds, under the same variant label.
        part: "grid" (the variants' own jobs alone) or "search" (the search entries alone); None: both
        (sweep.py --only)."""
        check_part(part)
        scale = self.cfg["scales"][self.scale]
        base = list(self.cfg.get("common", [])) + list(scale.get("overrides", [])) + list(scale.get("grid", []))
        only = scale.get("variants")  # a scale may run a subset of the variants, in its own order
        unknown = sorted(set(only or []) - set(self.cfg["variants"]))
        if unknown:
            raise StudyError(f"study.scales.{self.scale}.variants has {unknown[0]!r}, not a variant of study={self.name}; "
                             f"allowed: {', '.join(self.cfg['variants'])}")
        jobs = []
        grid = [_key(g) for g in scale.get("grid", [])]
        for variant in only if only is not None else list(self.cfg["variants"]):
            overrides = self.cfg["variants"][variant]
            if part != "search":
                jobs.append(_job(variant, base, scale.get("seeds", [0]), list(overrides), grid=grid))
            # `study.scales.<scale>.search=null` clears it (an empty {} on the command line merges into it)
            searches = (scale.get("search") or {}).get(variant) or []
            for search in ([searches] if isinstance(searches, dict) else searches) if part != "grid" else []:
                jobs.append(_job(variant, base, search.get("seeds", [0]), list(overrides),
                                 named=list(search["overrides"]), grid=grid))
        return jobs


def check_part(part: str | None) -> None:
    if part not in PARTS:
        raise StudyError(f"--only = {part!r} is not allowed; allowed: {', '.join(p for p in PARTS if p)} "
                         "(or no --only: both)")


def _job(variant: str, base: list[str], seeds: list[int], extra: list[str], named: list[str] = (),
         grid: list[str] = ()) -> Job:
    """Later overrides win (a variant may pin a key the grid sweeps); Hydra refuses a key given
    twice. The run folder is named by the swept keys, the seed, the `named` (search) keys and
    the grid's keys, even one given a single value (a grid narrowed to one point on the command
    line, e.g. `study.scales.cpu.grid=[...,norm.alpha0=8.0]`, must not drop that key from the
    names) unless the variant pins the key."""
    overrides = effective(base + [f"trainer.seed={','.join(map(str, seeds))}"] + extra + list(named))
    pinned = {_key(o) for o in extra}
    swept = ({_key(o) for o in overrides if _is_sweep(o.split("=", 1)[1])} | {"trainer.seed"}
             | {_key(o) for o in named} | (set(grid) - pinned))
    return Job(variant, overrides, sorted(swept))


def first_point(overrides: list[str]) -> list[str]:
    """The overrides of a job's first grid point: each comma-list sweep cut to its first value
    (a range/choice/glob sweep is left out), Hydra's own keys left out: what `--dry-run` composes
    and checks."""
    out = []
    for o in overrides:
        key, _, value = o.partition("=")
        if key.lstrip("+~").startswith("hydra") or value.startswith(_SWEEP_FUNCTIONS):
            continue
        out.append(f"{key}={_top_level_items(value)[0]}" if _is_sweep(value) else o)
    return out


def effective(overrides: list[str]) -> list[str]:
    """The overrides as they take effect: for a key given twice, the last (Hydra refuses both)."""
    last = {_key(o): o for o in overrides}
    return [o for o in overrides if last[_key(o)] is o]


_SWEEP_FUNCTIONS = ("range(", "choice(", "glob(", "interval(")


def _top_level_items(value: str) -> list[str]:
    """A value split at its commas outside [...], {...}, (...) and quotes: `1,[2,3]` -> ['1', '[2,3]'],
    `'a,b',c` -> ["'a,b'", 'c']."""
    items, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(value):
        if quote is not None:  # Hydra's quoted strings: nothing inside is syntax
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(value[start:i])
            start = i + 1
    return items + [value[start:]]


def _is_sweep(value: str) -> bool:
    """Hydra's sweep syntax: a comma list (outside [...] or {...}: `[100,-1]` is one list value)
    or a range/choice/glob."""
    return value.startswith(_SWEEP_FUNCTIONS) or len(_top_level_items(value)) > 1


def load_study(name: str, overrides: list[str] = (), configs: Path | None = None) -> Study:
    """configs/study/<name>.yaml with `study.<key>=<value>` overrides applied; its output folder is
    results/<name> (results/<name>-<scale> off the cpu scale) beside `configs`, or study.out.
    configs: a checkout's configs/ folder; None looks for one (normbench.checkout.configs_dir)."""
    configs = Path(configs).resolve() if configs is not None else configs_dir()
    path = configs / "study" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (configs / "study").glob("*.yaml"))
        raise StudyError(f"study = {name!r} is unknown; allowed: {', '.join(known)}")
    cfg = OmegaConf.load(path)
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([o.removeprefix("study.") for o in overrides]))
    cfg = OmegaConf.to_container(cfg, resolve=True)
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise StudyError(f"study.{unknown[0]} is not a study key; allowed: {', '.join(sorted(_KEYS))}")
    if cfg.get("name", name) != name:
        raise StudyError(f"study.name = {cfg['name']!r} does not match its file, configs/study/{name}.yaml; "
                         f"allowed: {name!r} (or no name)")
    margin = cfg.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin <= 0):
        raise StudyError(f"study.margin = {margin!r} is not allowed: must be a number > 0 (the verdicts' "
                         f"equivalence margin, in the study metric's units)")
    scale = cfg.get("scale", "cpu")
    if scale not in SCALES or scale not in cfg.get("scales", {}):
        allowed = [s for s in SCALES if s in cfg.get("scales", {})]
        raise StudyError(f"study.scale = {scale!r} is not allowed for study={name}; allowed: {', '.join(allowed)}")
    default_out = configs.parent / "results" / (name if scale == "cpu" else f"{name}-{scale}")
    return Study(name=name, scale=scale, cfg=cfg, out=Path(cfg.get("out") or default_out), configs=configs)
