"""TrainConfig: everything ``robustune train`` takes, as one dataclass (the API and the CLI share it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import RobustuneError
from ..modeling.pooling import POOLINGS


ADVERSARIAL_SEARCHES = ("greedy", "random")


@dataclass
class TrainConfig:
    data: str
    output_dir: str
    model: str | None = None  # encoder path or hub id; None: the bundled MiniLM
    method: str = "vanilla"
    method_params: dict = field(default_factory=dict)
    eval_data: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    # training-data sampling, all seeded with `seed`
    max_train_samples: int | None = None
    shots: int | None = None
    imbalance: float | None = None
    minority: list[str] | None = None  # classes down-sampled by `imbalance`; default: the first class
    label_noise: float | None = None
    # schedule
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 1e-4  # all-MiniLM-L6-v2 is small: 1e-4 beat 5e-5 on SST-2 dev (BENCHMARKS.md)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    seed: int = 42
    split_seed: int = 42
    pooling: str = "mean"
    bf16: bool = False
    # adversarial augmentation (A2T-style; see training/adversarial.py): a recipe name enables it
    adversarial: str | None = None
    adversarial_fraction: float = 0.2
    adversarial_query_budget: int | None = 200
    adversarial_search: str = "greedy"  # the recipe's greedy search, or "random" sampling (attacks/random_sampling.py)
    adversarial_samples: int = 16  # random perturbations drawn per example by the "random" search
    adversarial_mlm: str | None = None  # the masked LM of a recipe that needs one (bert-attack); None: its default
    adversarial_keep_polarity: bool = False  # textfooler, bert-attack: no swap for a word of opposite sentiment
    # defence against poisoned pre-trained weights: re-initialise the encoder's top N layers first
    reinit_top_layers: int = 0
    # run management
    resume: bool = False
    overwrite: bool = False
    save_steps: int = 500
    logging_steps: int = 20
    keep_checkpoints: bool = False
    progress: bool = True

    def validate(self) -> None:
        checks = [
            (self.epochs > 0, f"--epochs must be positive, got {self.epochs}"),
            (self.batch_size > 0, f"--batch-size must be positive, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.max_length >= 8, f"--max-length must be at least 8, got {self.max_length}"),
            (self.pooling in POOLINGS, f"--pooling must be one of {POOLINGS}, got {self.pooling!r}"),
            (not (self.resume and self.overwrite), "--resume and --overwrite exclude each other"),
            (self.max_train_samples is None or self.max_train_samples > 0, "--max-train-samples must be positive"),
            (0 < self.adversarial_fraction <= 1, "--adversarial-fraction must be in (0, 1]"),
            (self.adversarial_query_budget is None or self.adversarial_query_budget > 0,
             "--adversarial-query-budget must be positive"),
            (self.adversarial_search in ADVERSARIAL_SEARCHES,
             f"--adversarial-search must be one of {', '.join(ADVERSARIAL_SEARCHES)}, got {self.adversarial_search!r}"),
            (self.adversarial_samples > 0, "--adversarial-samples must be positive"),
            (self.save_steps > 0, f"--save-steps must be positive, got {self.save_steps}"),
            (self.logging_steps > 0, f"--logging-steps must be positive, got {self.logging_steps}"),
            (self.reinit_top_layers >= 0, f"--reinit-top-layers must be >= 0, got {self.reinit_top_layers}"),
        ]
        if self.adversarial is not None:
            from ..attacks.recipes import RECIPES

            from ..attacks.recipes import POLARITY_RECIPES

            checks.append((self.adversarial in RECIPES,
                           f"--adversarial must be one of {', '.join(RECIPES)}, got {self.adversarial!r}"))
            checks.append((not self.adversarial_keep_polarity or self.adversarial in POLARITY_RECIPES,
                           f"--adversarial-keep-polarity applies to {', '.join(POLARITY_RECIPES)}, "
                           f"not {self.adversarial}"))
        for ok, message in checks:
            if not ok:
                raise RobustuneError(message)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
