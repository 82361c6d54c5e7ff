"""normbench.normfree: model transforms that train without normalization layers.

    python train.py model=resnet norm=identity normfree=fixup
    python train.py model=vit norm=identity normfree=skipinit normfree.gain_init=0
    python train.py model=vit norm=identity normfree=sigma_reparam

    from normbench.normfree import apply_normfree
    apply_normfree(model, {"name": "fixup"}, model_name="vit", norm_name="identity")

Each transform changes a built model in place, before the optimizer is made, and follows
its original paper (see fixup.py, skipinit.py, sigma_reparam.py); methods.py says which
model and norm each one fits.
"""

from normbench.errors import NormFreeConfigError

from .fixup import FixupBasicBlock, FixupBottleneck, branch_scale, fixup_resnet, fixup_vit
from .methods import METHODS, NORMFREE_NAMES, apply_normfree, check_normfree
from .scalars import Gain, ScaleShift, Shift
from .sigma_reparam import SigmaReparam, reparameterised, sigma_reparam
from .skipinit import skipinit_convnext, skipinit_resnet, skipinit_vit

__all__ = [
    "METHODS", "NORMFREE_NAMES", "NormFreeConfigError",
    "apply_normfree", "check_normfree",
    "FixupBasicBlock", "FixupBottleneck", "branch_scale", "fixup_resnet", "fixup_vit",
    "Gain", "ScaleShift", "Shift",
    "SigmaReparam", "reparameterised", "sigma_reparam",
    "skipinit_convnext", "skipinit_resnet", "skipinit_vit",
]
