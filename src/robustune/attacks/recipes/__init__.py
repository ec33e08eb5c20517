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


def build_recipe(name: str, **options):
    """An :class:`~robustune.attacks.Attack` by recipe name; options: query_budget, seed, mlm, ..."""
    if name not in RECIPES:
        raise RobustuneError(f"unknown attack recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name](**options)
