"""Attack recipes: each a short declarative ``build(**options) -> Attack`` in its own file."""

from __future__ import annotations

from ...errors import RobustuneError
from . import bert_attack, chars_zh, deepwordbug, pieces_zh, textfooler

RECIPES = {
    "textfooler": textfooler.build,
    "bert-attack": bert_attack.build,
    "deepwordbug": deepwordbug.build,
    "pieces-zh": pieces_zh.build,
    "chars-zh": chars_zh.build,
}


#: The English word-substitution recipes: ``keep_polarity=True`` adds constraints.SamePolarity to them.
POLARITY_RECIPES = ("textfooler", "bert-attack")


def build_recipe(name: str, **options):
    """An :class:`~robustune.attacks.Attack` by recipe name; options: query_budget, seed, mlm, keep_polarity, ..."""
    if name not in RECIPES:
        raise RobustuneError(f"unknown attack recipe {name!r}; choose one of {', '.join(RECIPES)}")
    if options.get("keep_polarity") and name not in POLARITY_RECIPES:
        raise RobustuneError(f"keep_polarity applies to the English word-substitution recipes "
                             f"({', '.join(POLARITY_RECIPES)}), not {name}")
    return RECIPES[name](**options)
