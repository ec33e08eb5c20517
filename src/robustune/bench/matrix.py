"""Matrix expansion: a :class:`BenchConfig` into the ordered list of cells a bench runs.

A cell is one saved unit of work: training a method (or a peer) on one dataset × setting × seed,
one attack recipe on the model such a cell trained, or poisoning an encoder (a bench with
``poisoners``: each poisoned encoder is made once, before the first victim that fine-tunes it).
Cells are ordered seed-major (all datasets, settings and methods of seed 1, then seed 2, ...), with
each model's attacks right after it, so a bench cut short still holds complete comparisons for the
seeds it finished. Peers skip the settings whose victims fine-tune a poisoned encoder: they load
their own copy of the clean one.

Each cell's ``spec`` is plain JSON: everything the worker needs to run it, and what ``--resume``
compares to decide that a finished cell still matches the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import CLEAN, BenchConfig, DatasetSpec, MethodSpec, SettingSpec

TRAIN, PEER, ATTACK, POISON = "train", "peer", "attack", "poison"
FOLDERS = {TRAIN: "cells", PEER: "cells", ATTACK: "attacks", POISON: "poisoned"}


@dataclass(frozen=True)
class Cell:
    kind: str  # TRAIN, PEER, ATTACK or POISON
    method: str  # the method's or peer's display name; a POISON cell's poisoner name
    dataset: str
    setting: str
    seed: int
    recipe: str | None = None  # ATTACK cells: the attack's display name (its label, else its recipe)
    spec: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def model_id(self) -> str:
        """The id of the cell whose model this cell trains (TRAIN, PEER) or attacks (ATTACK)."""
        return f"{self.dataset}__{self.setting}__{self.method}__seed{self.seed}"

    @property
    def id(self) -> str:
        """Unique, file-name safe (config names are checked to be)."""
        if self.kind == POISON:
            return f"poison__{self.method}"
        return self.model_id if self.recipe is None else f"{self.model_id}__{self.recipe}"

    @property
    def folder(self) -> str:
        """Where the cell lives under the bench output folder."""
        return f"{FOLDERS[self.kind]}/{self.id}"


def _poison_cell(config: BenchConfig, name: str) -> Cell:
    p = next(p for p in config.poisoners if p.name == name)
    spec = {"kind": POISON, "poison_config": {
        "data": p.data, "model": config.model, "method": p.method, "method_params": p.params,
        "trigger": config.backdoor.trigger, "target_label": config.backdoor.target_label, "mode": p.mode,
        "poison_rate": p.poison_rate, "max_train_samples": p.max_train_samples, "epochs": p.epochs,
        "batch_size": p.batch_size, "lr": p.lr, "max_length": p.max_length, "seed": p.seed},
        "eval_data": _test_spec(config.datasets[0])["source"]}  # the attacker's own CACC/ASR
    return Cell(POISON, name, p.data, "", p.seed, spec=spec)


def _test_spec(dataset: DatasetSpec) -> dict:
    return {"source": dataset.test or f"{dataset.train}:test", "max_rows": dataset.max_test_rows,
            "text_column": dataset.text_column, "label_column": dataset.label_column}


def _train_config(config: BenchConfig, dataset: DatasetSpec, setting: SettingSpec, method: str, params: dict,
                  seed: int, method_train: dict | None = None) -> dict:
    """TrainConfig fields (less output_dir): the bench-wide schedule, then the setting's, then the method's own
    (adversarial augmentation)."""
    return {"data": dataset.train, "model": config.model, "method": method, "method_params": params,
            "text_column": dataset.text_column, "label_column": dataset.label_column, "seed": seed,
            **config.train, **setting.schedule, **setting.sampling, **(method_train or {})}


def _applies(spec: MethodSpec, setting: SettingSpec, default_few_shot_only: bool = False) -> bool:
    if spec.settings is not None:
        return setting.name in spec.settings
    return setting.shots is not None or not default_few_shot_only


def expand(config: BenchConfig) -> list[Cell]:
    from .peers import PEERS

    cells: list[Cell] = []
    poisoned: set[str] = set()
    backdoor = {"trigger": config.backdoor.trigger, "target_label": config.backdoor.target_label,
                "seed": config.backdoor.seed} if config.backdoor else None
    for seed in config.seeds:
        for dataset in config.datasets:
            test = _test_spec(dataset)
            for setting in config.settings:
                models = []
                poisoner = setting.poisoner if setting.poisoner not in (None, CLEAN) else None
                if poisoner and poisoner not in poisoned:
                    poisoned.add(poisoner)
                    cells.append(_poison_cell(config, poisoner))
                for m in config.methods:
                    if _applies(m, setting) and (m.seeds is None or seed in m.seeds):
                        project = (m.display in config.report.projection_methods
                                   and setting.name == config.report.projection_setting and seed == config.seeds[0])
                        spec = {"kind": TRAIN, "train_config": _train_config(config, dataset, setting, m.name,
                                                                             m.params, seed, m.train),
                                "test": test, "projection_rows": config.report.projection_rows if project else 0}
                        if poisoner:
                            spec["poison_cell"] = _poison_cell(config, poisoner).folder
                        if backdoor:
                            spec["backdoor"] = backdoor
                        models.append(Cell(TRAIN, m.display, dataset.name, setting.name, seed, spec=spec))
                for p in [] if poisoner else config.peers:
                    peer = PEERS[p.name]
                    if _applies(p, setting, peer.few_shot_only) and (p.seeds is None or seed in p.seeds):
                        spec = {"kind": PEER, "peer": p.name, "params": p.params,
                                "train_config": _train_config(config, dataset, setting, "vanilla", {}, seed),
                                "test": test}
                        models.append(Cell(PEER, p.display, dataset.name, setting.name, seed, spec=spec))
                for model in models:
                    cells.append(model)
                    makes_model = model.kind == TRAIN or PEERS[model.spec["peer"]].makes_model
                    for a in config.attacks if makes_model else []:
                        if (a.settings is None or setting.name in a.settings) and (
                                a.methods is None or model.method in a.methods):
                            spec = {"kind": ATTACK, "model_cell": model.folder, "recipe": a.recipe,
                                    "num_examples": a.num_examples, "seed": a.seed, "query_budget": a.query_budget, "mlm": a.mlm,
                                    "concurrency": a.concurrency, "test": test,
                                    **({"compile": True} if a.compile else {}),
                                    **({"keep_polarity": True} if a.keep_polarity else {})}
                            cells.append(Cell(ATTACK, model.method, dataset.name, setting.name, seed, a.display,
                                              spec=spec))
    return cells
