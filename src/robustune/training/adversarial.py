"""Adversarial data augmentation during training, in the spirit of A2T (Yoo & Qi, EMNLP Findings 2021,
arXiv 2109.00544): "Towards Improving Adversarial Training of NLP Models".

A2T trains on clean data for the first epoch; from then on, at the start of every epoch it attacks a
random share of the training set with the *current* model and trains on the clean examples plus the
adversarial examples the attack found, minimising ``L = CE(clean) + CE(adversarial)`` (their
alpha = 1 weighting, the adversarial examples simply joining the batches).

Here the training set the Trainer sees has ``ceil(fraction * N)`` extra slots after the N clean
examples, so the epoch length (and the learning-rate schedule) never changes. Before the first
attack each slot holds a clean copy of a random example; at the start of epoch e >= 1 the slots
are refilled with fresh examples (chosen with seed + e), attacked with any recipe (``--adversarial
textfooler``), and a slot keeps the adversarial text when the attack succeeded, the clean text
otherwise. A slot's ``index`` is its source example's, so methods that key state on the index see
an augmented copy of that example. Deviations from A2T: any robustune recipe does the attacking
(A2T uses a cheaper gradient-ranked attack) with a per-example query budget (default 200) to bound
the cost; failed attacks leave a clean duplicate rather than nothing, to keep the epoch length fixed.

``--adversarial-search random`` replaces the recipe's greedy search by random sampling from the same
attack space (attacks/random_sampling.py; Ivgi & Berant, EMNLP 2021, arXiv 2104.05062): S random
perturbations per example (``--adversarial-samples``, default 16) scored in one batched query, the
hardest kept. It costs at most S + 1 queries per example instead of the greedy search's dozens. As
in Ivgi & Berant, the slot then takes the hardest sample even when it does not flip the label (the
greedy search keeps A2T's rule: successful attacks only).

Measured on SST-2 (4,000 rows, MiniLM; BENCHMARKS.md "Word-level adversarial training with more
rounds"): four epochs with every row re-attacked by random sampling each epoch kept clean accuracy
within a point of vanilla's and 6.25 / 4.25 points more accuracy under textfooler / bert-attack (2
seeds, 5.7x vanilla's training time); on seed 1 the greedy search on half of the rows, for the same
training time, did less (-2.75 clean, +8 / +4.5, against the random search's -1.3, +9.5 / +6).

``--adversarial-keep-polarity`` (not in A2T; textfooler, bert-attack) adds the attacks' SamePolarity
constraint: no adversarial row swaps a word for one of opposite sentiment (VADER), a swap that may have
changed the label the row is trained with (18% of textfooler's successes on a vanilla SST-2 model make
one). On seed 1 under a 50-query attack budget (BENCHMARKS.md "Defences under a 50-query budget, and
under label-preserving attacks") it kept clean accuracy (+0.2 against vanilla, where the random search
without it lost 1.8) and gained less under attack (+6 / +8.5 against +11.5 / +10).

Usage::

    robustune train --data sst2/train.tsv --adversarial deepwordbug --adversarial-fraction 0.2 --epochs 3 ...
"""

from __future__ import annotations

import math

import numpy as np
from torch.utils.data import Dataset
from transformers import TrainerCallback

from ..distributed import gather_lists, rank_and_world, shard
from .features import EncodedDataset


class AugmentedDataset(Dataset):
    """The clean examples followed by ``slots`` replaceable (augmented) examples."""

    def __init__(self, base: EncodedDataset, slots: int, tokenizer, max_length: int, seed: int):
        self.base = base
        self.tokenizer = tokenizer
        self.max_length = max_length
        rng = np.random.default_rng(seed)
        self.fill(rng.choice(len(base), size=slots, replace=slots > len(base)).tolist(), None)

    def fill(self, sources: list[int], texts: list[str] | None) -> None:
        """Slot j becomes ``texts[j]`` (default: the clean text) labelled like example ``sources[j]``."""
        self.sources = list(sources)
        self.slot_texts = list(texts) if texts is not None else [self.base.texts[i] for i in sources]
        self.encodings = self.tokenizer(self.slot_texts, truncation=True, max_length=self.max_length)

    def __len__(self) -> int:
        return len(self.base) + len(self.sources)

    def __getitem__(self, i: int) -> dict:
        if i < len(self.base):
            return self.base[i]
        j = i - len(self.base)
        item = {k: v[j] for k, v in self.encodings.items()}
        item["labels"] = self.base.labels[self.sources[j]]
        item["index"] = self.sources[j]
        return item


class AdversarialAugmentation(TrainerCallback):
    """Refills the dataset's slots with adversarial examples at the start of each epoch after the first."""

    def __init__(self, dataset: AugmentedDataset, classifier, attack, seed: int, start_epoch: int = 1,
                 keep_unflipped: bool = False):
        self.dataset = dataset
        self.keep_unflipped = keep_unflipped  # train on a perturbed text that did not flip the label too
        self.classifier = classifier
        self.attack = attack
        self.seed = seed
        self.start_epoch = start_epoch
        self.history: list[dict] = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        from ..attacks import load_victim
        from ..attacks.concurrent import attack_many

        # A resumed run starts inside an epoch (state.epoch = 1.6): that is epoch 1, not 2.
        epoch = math.floor((state.epoch or 0) + 1e-6)
        if epoch < self.start_epoch:
            return
        base = self.dataset.base
        rng = np.random.default_rng(self.seed + epoch)
        sources = rng.choice(len(base), size=len(self.dataset.sources), replace=len(self.dataset.sources) > len(base))
        victim = load_victim(self.classifier)
        # Under torchrun each rank attacks its shard of the sources (the model is the same on every
        # rank) and every rank then fills its slots with all ranks' results, in order.
        rank, world = rank_and_world()
        attacked = []
        mine = sources[shard(len(sources), rank, world)].tolist()
        results = attack_many(self.attack, victim, [(base.texts[i], base.labels[i]) for i in mine])
        for i, result in zip(mine, results):
            success = result.status == "successful"
            perturbed = success or (self.keep_unflipped and result.status == "failed" and bool(result.modified))
            attacked.append((result.adversarial if perturbed else base.texts[i], success))
        attacked, queries = gather_lists(attacked), sum(gather_lists([victim.queries]))
        texts = [text for text, _ in attacked]
        successes = sum(success for _, success in attacked)
        self.dataset.fill(sources.tolist(), texts)
        self.history.append({"epoch": epoch, "attacked": len(texts), "adversarial": successes,
                             "queries": queries})
        state.log_history.append({"epoch": epoch, "adversarial_examples": successes, "attacked": len(texts)})


def load_attack_assets(attack, label_names: list[str]) -> None:
    """Run the attack once on a fixed sentence against a victim that never flips: every substitute
    generator and constraint loads (and checks) its assets — WordNet, GloVe, a masked LM, the
    similarity encoder — now, instead of failing after an epoch of training."""
    from ..attacks import load_victim

    never_flips = np.eye(len(label_names), dtype=np.float32)[0]
    victim = load_victim(lambda texts: np.tile(never_flips, (len(texts), 1)), label_names=label_names)
    attack.attack(victim, "the quiet film was good and the music was great", 0)


def adversarial_augmentation(config, classifier, train_set: EncodedDataset):
    """(the dataset the Trainer trains on, its callback) for ``config.adversarial``."""
    from ..attacks import build_recipe

    attack = build_recipe(config.adversarial, query_budget=config.adversarial_query_budget, seed=config.seed,
                          keep_polarity=config.adversarial_keep_polarity,
                          **({"mlm": config.adversarial_mlm} if config.adversarial_mlm else {}))
    if config.adversarial_search == "random":
        from ..attacks.random_sampling import RandomSampling

        attack.search = RandomSampling(samples=config.adversarial_samples, seed=config.seed)
    load_attack_assets(attack, classifier.label_names)
    slots = max(1, math.ceil(config.adversarial_fraction * len(train_set)))
    dataset = AugmentedDataset(train_set, slots, classifier.tokenizer, config.max_length, config.seed)
    return dataset, AdversarialAugmentation(dataset, classifier, attack, config.seed,
                                            keep_unflipped=config.adversarial_search == "random")
