"""Does a norm fit a model? Checked before anything is built.

Why: a norm that cannot run at some norm place of a model (GroupNorm on ViT tokens)
must be a clear config error naming the norm, the model and the norms that do fit,
not a shape error deep in a forward pass and never a silent fallback to another norm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from normbench.errors import ModelConfigError

# What a norm place sees, in words, for the error message.
_LAYOUT_WORDS = {
    "channels_last": "channels_last tokens (B, N, C)",
    "channels_first": "channels_first feature maps (B, C, H, W)",
}


def check_conditioning(norm_name: str, model_name: str, conditional: bool, fitting: Iterable[str]) -> None:
    """Raise ModelConfigError unless the norm takes a conditioning vector, forward(x, c), exactly
    when the model passes one (model=dit needs adaln or adaln_zero, which fit nowhere else)."""
    from normbench.norms import norm_class

    if norm_class(norm_name).conditional == conditional:
        return
    if conditional:
        why = (f"{model_name} conditions every norm place on a vector c (timestep and class), forward(x, c), "
               f"and {norm_name} takes none")
    else:
        why = (f"{norm_name} is a conditional norm, forward(x, c), for model=dit, and {model_name}'s norm places "
               "pass no conditioning vector")
    raise ModelConfigError(f"norm={norm_name} does not fit model={model_name}: {why}; "
                           f"norms that fit {model_name}: {', '.join(fitting)}")


def fitting_norms(needed: Iterable[str], misfits: Mapping[str, str], conditional: bool = False) -> list[str]:
    """The norms that support every layout in `needed`, are no misfit and match `conditional`."""
    from normbench.norms import norm_class, norm_names, supported_layouts

    return sorted(n for n in norm_names() if set(needed) <= set(supported_layouts(n)) and n not in misfits
                  and norm_class(n).conditional == conditional)


def check_norm_fits(
    norm_name: str,
    model_name: str,
    needed: Iterable[str],
    hint: str = "",
    misfits: Mapping[str, str] | None = None,
    conditional: bool = False,
) -> None:
    """Raise ModelConfigError unless `norm_name` supports every layout in `needed`, is
    not one of the model's `misfits` (norm name -> why it breaks there) and takes a
    conditioning vector exactly when the model passes one (`conditional`).

    An unknown norm name raises the norm library's NormConfigError, unchanged.
    """
    from normbench.norms import supported_layouts

    needed, misfits = tuple(needed), dict(misfits or {})
    have = set(supported_layouts(norm_name))
    fitting = fitting_norms(needed, misfits, conditional)
    check_conditioning(norm_name, model_name, conditional, fitting)
    if norm_name in misfits:
        raise ModelConfigError(
            f"norm={norm_name} does not fit model={model_name}: {misfits[norm_name]}; "
            f"norms that fit {model_name}: {', '.join(fitting)}"
        )
    if all(layout in have for layout in needed):
        return
    sees = " and ".join(_LAYOUT_WORDS.get(layout, layout) for layout in needed)
    raise ModelConfigError(
        f"norm={norm_name} does not fit model={model_name}: {model_name}'s norm places see {sees} "
        f"and {norm_name} supports only {' and '.join(sorted(have))}; "
        f"norms that fit {model_name}: {', '.join(fitting)}{hint}"
    )
