"""Matrix expansion: a :class:`BenchConfig` into the ordered list of cells a bench runs.

A cell is one saved unit of work: training a method (or a peer) on one dataset × setting × seed, or
one attack recipe on the model such a cell trained. Cells are ordered seed-major (all datasets,
settings and methods of seed 1, then seed 2, ...), with each model's attacks right after it, so a
bench cut short still holds complete comparisons for the seeds it finished.

Each cell's ``spec`` is plain JSON: everything the worker needs to run it, and what ``--resume``
compares to decide that a finished cell still matches the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import BenchConfig, DatasetSpec, MethodSpec, SettingSpec

TRAIN, PEER, ATTACK = "train", "peer", "attack"


@dataclass(frozen=True)
class Cell:
    kind: str  # TRAIN, PEER or ATTACK
    method: str  # the method's or peer's display name
    dataset: str
    setting: str
    seed: int
    recipe: str | None = None  # ATTACK cells
    spec: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def model_id(self) -> str:
        """The id of the cell whose model this cell trains (TRAIN, PEER) or attacks (ATTACK)."""
        return f"{self.dataset}__{self.setting}__{self.method}__seed{self.seed}"

    @property
    def id(self) -> str:
        """Unique, file-name safe (config names are checked to be)."""
        return self.model_id if self.recipe is None else f"{self.model_id}__{self.recipe}"

    @property
    def folder(self) -> str:
        """Where the cell lives under the bench output folder."""
        return f"{'attacks' if self.kind == ATTACK else 'cells'}/{self.id}"


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
    for seed in config.seeds:
        for dataset in config.datasets:
            test = _test_spec(dataset)
            for setting in config.settings:
                models = []
                for m in config.methods:
                    if _applies(m, setting):
                        project = (m.display in config.report.projection_methods
                                   and setting.name == config.report.projection_setting and seed == config.seeds[0])
                        spec = {"kind": TRAIN, "train_config": _train_config(config, dataset, setting, m.name,
                                                                             m.params, seed, m.train),
                                "test": test, "projection_rows": config.report.projection_rows if project else 0}
                        models.append(Cell(TRAIN, m.display, dataset.name, setting.name, seed, spec=spec))
                for p in config.peers:
                    peer = PEERS[p.name]
                    if _applies(p, setting, peer.few_shot_only):
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
                                    "test": test}
                            cells.append(Cell(ATTACK, model.method, dataset.name, setting.name, seed, a.recipe,
                                              spec=spec))
    return cells
