"""normbench.config: the schema of the train config, the one home of every key, type and default.

    from normbench.config import validate_config
    validate_config(cfg)   # the composed config: a wrong type is one ConfigError line

schema.py holds one dataclass per fixed config group (norm, model, task: the components' own
dataclasses, groups.py); store.py registers them in Hydra's
ConfigStore (as the `schema` group) so configs/*.yaml are presets that hold only what
differs; validate.py checks a config against them. Importing this package registers the
nodes, so anything that imports normbench (train.py does) can compose configs/; compose.py
composes one outside a Hydra app (benchmarks, a study's pre-flight, a recipe's preset).
"""

from .groups import groups, model_configs, task_configs
from .schema import defaults_of
from .store import register
from .validate import validate_config

register()

__all__ = ["groups", "model_configs", "task_configs", "defaults_of", "register", "validate_config"]
