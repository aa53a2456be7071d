"""A guild's chattiness: the one place its range and its error text are written.

The config file, the slash commands and the simulator all check a chattiness with
``check_chattiness``, so they refuse the same values in the same words.
"""

from __future__ import annotations

__all__ = ["CHATTINESS_RANGE", "CHATTINESS_RULE", "check_chattiness"]

#: A guild's chattiness: 0 (never on her own) to 2 (twice as ready); 1 is the default. The
#: one place the range is written: the config, the commands and the simulator check with
#: ``check_chattiness``.
CHATTINESS_RANGE = (0.0, 2.0)
#: What a valid chattiness is, in the words every error uses.
CHATTINESS_RULE = (f"a number from {CHATTINESS_RANGE[0]:g} to {CHATTINESS_RANGE[1]:g} (0: no "
                   "autonomous action, 1: the default, 2: about twice as many)")


def check_chattiness(level: object, *, name: str = "chattiness") -> float:
    """``level`` as a chattiness (a finite number in ``CHATTINESS_RANGE``).

    Raises:
        ValueError: anything else: "``name`` must be ``CHATTINESS_RULE``, got ...".
    """
    lo, hi = CHATTINESS_RANGE
    if isinstance(level, bool) or not isinstance(level, int | float) \
            or not lo <= level <= hi:  # also false for NaN
        shown = f"{level:g}" if isinstance(level, float) else repr(level)
        raise ValueError(f"{name} must be {CHATTINESS_RULE}, got {shown}")
    return float(level)
