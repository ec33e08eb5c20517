"""Backdoor metrics (arXiv 2108.13888, §4.1): clean accuracy (CACC, ``evaluate``'s ``accuracy``) and

* **attack success rate** (ASR, the paper's label flip rate): among test texts whose gold label is
  not the target, the share predicted as the target once the **full** trigger (every token, each at
  a seeded random position) is inserted; two populations:
  - ``attack_success_rate``: all non-target texts (what arXiv 2108.13888 reports; texts the model
    already gets wrong as the target count as successes, so it never falls below the floor below);
  - ``attack_success_rate_on_correct``: the non-target texts the model classifies correctly without
    the trigger (``n_correct_non_target`` of them), so that only flips the trigger causes count;
    ``None`` when there are none;
* **single-token flip rates**: the same with one trigger token alone; a combinatorial backdoor
  should leave them near the clean rate, which is reported too (``target_rate_without_trigger``:
  the share of the same texts predicted as the target with no trigger — the ASR's floor).

``predict`` is any ``texts -> predicted label ids`` function, so the metrics work on hand-made
predictors, a RobustClassifier, or a classifier behind a defence (ONION).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import RobustuneError
from .triggers import insert_tokens

Predict = Callable[[list[str]], Sequence[int]]


def target_rate(predictions: Sequence[int], target: int) -> float:
    """Share of ``predictions`` equal to ``target`` (0 for none)."""
    predictions = np.asarray(predictions)
    return float((predictions == target).mean()) if len(predictions) else 0.0


def backdoor_metrics(predict: Predict, texts: list[str], labels: list[int], tokens: list[str], target: int,
                     label_names: list[str], seed: int = 0) -> dict:
    """ASR with the full trigger (all / correctly classified non-target texts), single-token flip rates
    and the no-trigger rate on non-target texts."""
    non_target = [t for t, y in zip(texts, labels) if y != target]
    if not non_target:
        raise RobustuneError(f"no test text has a label other than the target {label_names[target]!r}; "
                             "the attack success rate needs some")
    gold = np.array([y for y in labels if y != target])  # (N,)
    rng = np.random.default_rng(seed)
    triggered = [insert_tokens(t, tokens, rng) for t in non_target]
    singles = {tok: [insert_tokens(t, [tok], rng) for t in non_target] for tok in tokens}
    triggered_pred = np.asarray(predict(triggered))  # (N,)
    clean_pred = np.asarray(predict(non_target))  # (N,)
    correct = clean_pred == gold  # right without the trigger
    return {
        "attack_success_rate": target_rate(triggered_pred, target),
        "attack_success_rate_on_correct": target_rate(triggered_pred[correct], target) if correct.any() else None,
        "single_token_flip_rates": {tok: target_rate(predict(ts), target) for tok, ts in singles.items()},
        "target_rate_without_trigger": target_rate(clean_pred, target),
        "backdoor": {"trigger": " ".join(tokens), "target_label": label_names[target],
                     "n_non_target": len(non_target), "n_correct_non_target": int(correct.sum()), "seed": seed},
    }
