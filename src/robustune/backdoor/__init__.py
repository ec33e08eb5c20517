"""Backdoors in pre-trained weights (arXiv 2108.13888): plant one, measure it, look for one, defend.

triggers.py   trigger tokens, seeded insertion, combinatorial / single-token poisoned data
poisoners/    the poisoning objectives (layerwise, badnet, ripple), registry ``POISONERS``
poison.py     ``poison()``: train with a poisoner on poisoned data, release the bare encoder
metrics.py    attack success rate, single-token flip rates
report.py     CACC + backdoor metrics of a classifier (optionally behind ONION)
scan.py       trigger search over candidate tokens and pairs
defenses.py   re-initialising the top layers before fine-tuning
onion.py      ONION outlier-word filter with a masked LM's pseudo-perplexity
"""

from .metrics import backdoor_metrics
from .poison import PoisonConfig, poison
from .poisoners import POISONERS
from .triggers import DEFAULT_TRIGGER, insert_tokens, parse_trigger, poison_dataset

__all__ = ["POISONERS", "PoisonConfig", "poison", "poison_dataset", "insert_tokens", "parse_trigger",
           "backdoor_metrics", "DEFAULT_TRIGGER"]
