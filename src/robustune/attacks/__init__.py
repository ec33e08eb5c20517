"""Adversarial attacks on text classifiers, composed from goal, search, constraints and substitutes.

``build_recipe("textfooler" | "bert-attack" | "deepwordbug")`` gives a ready
attack; ``load_victim`` wraps a model directory, an HF model or a function; ``run_attack`` attacks a
dataset and writes ``summary.json``, ``examples.jsonl`` and ``report.md``.
"""

from .attack import Attack, AttackResult
from .recipes import RECIPES, build_recipe
from .runner import run_attack, summarize
from .text import WordText
from .victim import Victim, load_victim

__all__ = ["Attack", "AttackResult", "RECIPES", "build_recipe", "run_attack", "summarize", "WordText",
           "Victim", "load_victim"]
