"""The hparams helper of unlearning-aware training.

The recipes' hparams choose the training objective with
``!apply:speechbrain_unlearn.aware.recipe_value``; the hparams text is part
of every cached model's key, so this name stays where the recipes refer to
it. What unlearning-aware training stores is in
:mod:`speechbrain_unlearn.curvature.aware`; ``regime_value`` chooses by
``training_regime`` (the deletion-ready regime: :mod:`speechbrain_unlearn.deletion_ready`).
"""

from speechbrain_unlearn.errors import UnlearnError


def recipe_value(unlearning_aware, aware, plain):
    """``aware`` under unlearning-aware training, ``plain`` otherwise (for hparams).

    Example
    -------
    >>> recipe_value(True, 0.01, 0.0), recipe_value(False, 0.01, 0.0)
    (0.01, 0.0)
    """
    return aware if unlearning_aware else plain


#: The training regimes of the task hparams' ``training_regime``.
REGIMES = ("standard", "deletion_ready")


def regime_value(regime, standard, deletion_ready):
    """The value of ``training_regime`` ``regime`` (for hparams); one line for an unknown regime.

    Example
    -------
    >>> regime_value("deletion_ready", "aam", "ce")
    'ce'
    >>> regime_value("convex", "aam", "ce")
    Traceback (most recent call last):
    ...
    speechbrain_unlearn.errors.UnlearnError: training_regime must be standard or deletion_ready, not 'convex'
    """
    return standard if check_regime(regime) == "standard" else deletion_ready


def check_regime(regime):
    """``regime`` if it is one of :data:`REGIMES`; otherwise one line saying which are."""
    if regime not in REGIMES:
        raise UnlearnError(f"training_regime must be {' or '.join(REGIMES)}, not {regime!r}")
    return regime
