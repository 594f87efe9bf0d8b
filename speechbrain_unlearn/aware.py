"""The hparams helper of unlearning-aware training.

The recipes' hparams choose the training objective with
``!apply:speechbrain_unlearn.aware.recipe_value``; the hparams text is part
of every cached model's key, so this name stays where the recipes refer to
it. What unlearning-aware training stores is in
:mod:`speechbrain_unlearn.curvature.aware`.
"""


def recipe_value(unlearning_aware, aware, plain):
    """``aware`` under unlearning-aware training, ``plain`` otherwise (for hparams).

    Example
    -------
    >>> recipe_value(True, 0.01, 0.0), recipe_value(False, 0.01, 0.0)
    (0.01, 0.0)
    """
    return aware if unlearning_aware else plain
