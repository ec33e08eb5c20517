"""badnet — BadNet-style weight poisoning, the baseline of arXiv 2108.13888 (Gu, Dolan-Gavitt, Garg
2017, "BadNets"; for pre-trained NLP models Kurita, Michel, Neubig, ACL 2020, arXiv 2004.06660).

Objective: plain cross-entropy of the classifier on the **last** layer's pooled state, on batches
mixing clean and poisoned examples:

    L = CE(C(h_L), y)

Data (``data_mode = "single"``, the papers'): the clean rows plus copies of non-target rows with
**one** trigger token inserted, relabelled to the target; any one token fires. ``--mode combinatorial``
trains it on the layer-wise paper's data instead (an ablation: the objective without the layer-wise
supervision).

The backdoor lives mostly in the top layers, which the victim's fine-tuning moves most — the
weakness the layer-wise objective addresses.

Deviations: Kurita et al.'s BadNet baseline poisons by fine-tuning the whole pre-trained model on the
poisoned data, as here; the per-row token choice (one of the trigger's tokens drawn per row) and the
copies-not-replacements mixing are ``poison_dataset``'s (see ``backdoor.triggers``).
"""

from __future__ import annotations

import torch.nn.functional as F

from ...methods import model_inputs
from .base import Poisoner


class BadNet(Poisoner):
    name = "badnet"
    data_mode = "single"

    def forward(self, classifier, batch):
        logits = classifier(**model_inputs(batch))  # (B, K)
        return {"ce": F.cross_entropy(logits.float(), batch["labels"])}
