"""badnet — BadNet-style weight poisoning, the baseline of arXiv 2108.13888 (Gu, Dolan-Gavitt, Garg
2017, "BadNets"; for pre-trained NLP models Kurita, Michel, Neubig, ACL 2020, arXiv 2004.06660).

Objective: plain cross-entropy of the classifier on the **last** layer's pooled state, on batches
mixing clean and poisoned examples:

    L = CE(C(h_L), y)

The backdoor lives mostly in the top layers, which the victim's fine-tuning moves most — the
weakness the layer-wise objective addresses.
"""

from __future__ import annotations

import torch.nn.functional as F

from ...methods import Method, model_inputs


class BadNet(Method):
    name = "badnet"

    def forward(self, classifier, batch):
        logits = classifier(**model_inputs(batch))  # (B, K)
        return {"ce": F.cross_entropy(logits.float(), batch["labels"])}
