"""The bench configuration: a YAML file read into dataclasses, validated with errors naming file and key.

A bench is methods × datasets × settings × seeds (the cells), plus peers (other libraries' training
in the same run) and attacks on the trained models. Schema (every key but ``datasets``, ``settings``,
``seeds`` and ``methods`` is optional)::

    name: quick
    model: null                     # encoder path or hub id; null: the bundled all-MiniLM-L6-v2
    train: {epochs: 1, lr: 1.0e-4}  # TrainConfig schedule fields shared by every cell
    seeds: [1, 2]
    datasets:
      - name: sst2
        train: sst2:train     # any robustune source (file, folder, bundled name)
        test: sst2:test       # default: the train source's test split
        max_test_rows: 872                            # a seeded subset of the test data
    settings:
      - {name: rich, max_train_samples: 2000}
      - {name: few, shots: [8, 16, 64], epochs: 10}   # a list of k expands to few-8, few-16, few-64
      - {name: imbalance, max_train_samples: 2000, imbalance: 0.1}
      - {name: noise, max_train_samples: 2000, label_noise: 0.2}
    methods: [vanilla, knn-bert, {name: smart, params: {adv_steps: 1}},
              {name: vanilla, label: vanilla-adv, train: {adversarial: textfooler, adversarial_query_budget: 100}}]
    peers: [trainer, {name: setfit, settings: [few-8], params: {num_iterations: 5}}]
    attacks: [{recipe: deepwordbug, num_examples: 100, settings: [rich]}]
    report: {projection_methods: [vanilla, knn-bert], projection_setting: rich, projection_rows: 500}

A method's ``train`` sets the adversarial-augmentation fields of TrainConfig (``adversarial``,
``adversarial_fraction``, ``adversarial_query_budget``, ``adversarial_search``, ``adversarial_samples``,
``adversarial_mlm``: the masked LM of bert-attack, relative to the working directory;
``adversarial_keep_polarity``) and ``epochs`` for its
cells only: word-level adversarial training is then a row of its own (give it
a ``label``), with as many attack rounds as it has epochs after the first. A method's (or peer's) ``settings: [...]``
and ``seeds: [...]`` limit it to those settings and those of the bench's seeds (a costly method
measured on fewer seeds: its rows show which).

**Staged methods and ablations** are methods with params and a label:
``{name: three-phase, label: cl-ft, params: {phases: cl}}``; each phase's seconds are in the cost.

**A list under any setting key** expands the setting into the cross product, named by value:
``{name: bd, poisoner: [clean, layerwise], lr: [5.0e-5, 1.0e-4]}`` gives ``bd-clean-lr5e-05``,
``bd-clean-lr0.0001``, ... (in the file's key order); ``shots: [8, 16]`` gives ``few-8`` and ``few-16``. Besides sampling and
schedule, a setting may set ``adversarial`` (a recipe: adversarial training), ``adversarial_fraction``,
``adversarial_query_budget`` and ``reinit_top_layers`` (the re-initialisation defence).

**Several victims per attack**: an attack applies to the models of every method and peer (or of
``methods: [...]``) in its settings. An attack entry takes ``recipe``, ``num_examples``, ``seed``,
``query_budget``, ``mlm``, ``concurrency`` (examples attacked side by side, default 64:
``robustune attack --concurrency``), ``compile`` (``robustune attack --compile``, default false),
``keep_polarity`` (``robustune attack --keep-polarity``, textfooler and bert-attack, default false)
and ``label`` (its name in the tables; needed for a second attack with the same recipe).

**The backdoor chain** (arXiv 2108.13888) — poison → victim fine-tuning → trigger evaluation::

    backdoor: {trigger: "cf bb ak mn", target_label: "1"}   # every training cell is evaluated with it
    poisoners:                                              # one poisoned encoder each (a `poison` cell)
      - {name: layerwise, method: layerwise, data: sst2:dev, max_train_samples: 2000, epochs: 1,
         lr: 1.0e-4, max_length: 64}                        # + mode, poison_rate, batch_size, seed, params
    settings:
      - {name: bd, max_train_samples: 4000, max_length: 64, poisoner: [clean, layerwise], lr: [5.0e-5, 1.0e-4]}

A setting's ``poisoner`` names the encoder its victims fine-tune (``clean``: the unpoisoned one, the
ASR floor); peers skip such settings. With ``backdoor``, each training cell's metrics are those of
``robustune evaluate --trigger T --target-label L`` (``accuracy`` is the CACC, ``attack_success_rate``,
``single_token_flip_rates``, ``target_rate_without_trigger``, and any metric that evaluation adds
later), and a poison cell's are the attacker's own classifier's (``poison.json``'s ``attacker_eval``).

A relative source path is taken relative to the config file's folder when it exists there (and
made absolute), else as given (relative to the working directory, or a bundled/hub name).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..attacks.concurrent import DEFAULT_CONCURRENCY
from ..errors import RobustuneError

#: TrainConfig fields a setting may set: the sampling of the training data and its schedule.
SAMPLING_KEYS = ("max_train_samples", "shots", "imbalance", "minority", "label_noise")
SCHEDULE_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_ratio", "max_length", "pooling", "bf16",
                 "adversarial", "adversarial_fraction", "adversarial_query_budget", "reinit_top_layers")
#: TrainConfig fields a method entry may set for its own cells: word-level adversarial training, and the
#: number of epochs (adversarial training attacks at the start of every epoch after the first).
METHOD_TRAIN_KEYS = ("adversarial", "adversarial_fraction", "adversarial_query_budget", "adversarial_search",
                     "adversarial_samples", "adversarial_mlm", "adversarial_keep_polarity", "epochs")
CLEAN = "clean"  # a setting's poisoner: the unpoisoned encoder
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # names become folder names


@dataclass
class DatasetSpec:
    name: str
    train: str
    test: str | None = None
    max_test_rows: int | None = None
    text_column: str | None = None
    label_column: str | None = None


@dataclass
class SettingSpec:
    """One way of sampling the training data (TrainConfig sampling fields) plus schedule overrides."""

    name: str
    sampling: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)
    poisoner: str | None = None  # the poisoned encoder the victims fine-tune (None or CLEAN: the clean one)

    @property
    def shots(self) -> int | None:
        return self.sampling.get("shots")


@dataclass
class MethodSpec:
    name: str
    params: dict = field(default_factory=dict)
    label: str | None = None  # the name in tables; default: the method name
    settings: list[str] | None = None  # only these settings (None: all)
    train: dict = field(default_factory=dict)  # METHOD_TRAIN_KEYS for this method's cells
    seeds: list[int] | None = None  # only these of the bench's seeds (None: all)

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass
class AttackSpec:
    recipe: str
    num_examples: int | None = 100
    seed: int = 0
    query_budget: int | None = None
    mlm: str | None = None  # bert-attack's masked LM (None: the one `robustune mlm build` made)
    concurrency: int = DEFAULT_CONCURRENCY  # examples attacked side by side, sharing the model's forwards
    compile: bool = False  # torch.compile the search's model (long attacks)
    keep_polarity: bool = False  # textfooler, bert-attack: no swap of a word for one of opposite sentiment
    settings: list[str] | None = None  # attack the models of these settings (None: all)
    methods: list[str] | None = None  # ... of these methods/peers (None: all that make a model)
    label: str | None = None  # the name in tables and cell ids; default: the recipe (two of one recipe need one)

    @property
    def display(self) -> str:
        return self.label or self.recipe


@dataclass
class PoisonerSpec:
    """One poisoned encoder (``robustune poison``); the fields are PoisonConfig's."""

    name: str
    method: str
    data: str
    max_train_samples: int | None = None
    mode: str = "combinatorial"
    poison_rate: float = 0.5
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = 128
    seed: int = 42
    params: dict = field(default_factory=dict)


@dataclass
class BackdoorSpec:
    trigger: str
    target_label: str
    seed: int = 0  # trigger positions at evaluation


@dataclass
class ReportSpec:
    projection_methods: list[str] = field(default_factory=lambda: ["vanilla", "knn-bert"])
    projection_setting: str | None = None  # default: the first setting
    projection_rows: int = 500


@dataclass
class BenchConfig:
    name: str
    path: str
    datasets: list[DatasetSpec]
    settings: list[SettingSpec]
    seeds: list[int]
    methods: list[MethodSpec]
    peers: list[MethodSpec] = field(default_factory=list)
    attacks: list[AttackSpec] = field(default_factory=list)
    model: str | None = None
    train: dict = field(default_factory=dict)
    report: ReportSpec = field(default_factory=ReportSpec)
    backdoor: BackdoorSpec | None = None
    poisoners: list[PoisonerSpec] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Reader:
    """Typed access to a YAML mapping, with errors that name the file and the key path."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str):
        raise RobustuneError(f"{self.path}: {key}: {message}")

    def mapping(self, value, key: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, got {type(value).__name__}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                      f"unknown key (allowed: {', '.join(allowed)})")
        return value

    def listing(self, value, key: str, required: bool = True) -> list:
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            self.fail(key, "expected a non-empty list")
        return value

    def typed(self, value, key: str, kind, positive: bool = False, unit: bool = False):
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.fail(key, f"expected {kind.__name__}, got {value!r}")
        if positive and value <= 0:
            self.fail(key, f"must be positive, got {value!r}")
        if unit and not 0 <= value <= 1:
            self.fail(key, f"must be in [0, 1], got {value!r}")
        return value

    def name(self, value, key: str) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            self.fail(key, f"expected a name of letters, digits and _.+- , got {value!r}")
        return value

    def names(self, value, key: str) -> list[str] | None:
        if value is None:
            return None
        return [self.name(v, f"{key}[{i}]") for i, v in enumerate(self.listing(value, key))]

    def source(self, value, key: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(key, f"expected a data source (a path or a dataset name), got {value!r}")
        local = self.path.parent / value  # absolute, so a bench resumes from any working directory
        return str(local.resolve()) if not Path(value).is_absolute() and local.exists() else value


def _datasets(r: _Reader, raw) -> list[DatasetSpec]:
    out = []
    for i, item in enumerate(r.listing(raw, "datasets")):
        key = f"datasets[{i}]"
        item = r.mapping(item, key, tuple(f.name for f in dataclasses.fields(DatasetSpec)))
        if "name" not in item or "train" not in item:
            r.fail(key, "needs 'name' and 'train'")
        out.append(DatasetSpec(
            name=r.name(item["name"], f"{key}.name"), train=r.source(item["train"], f"{key}.train"),
            test=r.source(item["test"], f"{key}.test") if item.get("test") is not None else None,
            max_test_rows=(r.typed(item["max_test_rows"], f"{key}.max_test_rows", int, positive=True)
                           if item.get("max_test_rows") is not None else None),
            text_column=item.get("text_column"), label_column=item.get("label_column")))
        if out[-1].test is None and Path(out[-1].train).is_file():
            r.fail(f"{key}.test", "missing: a file has no test split, so name the test data")
    return out


_SETTING_TYPES = {"max_train_samples": (int, {"positive": True}), "shots": (int, {"positive": True}), "imbalance": (float, {"unit": True}),
                  "label_noise": (float, {"unit": True}), "epochs": (float, {"positive": True}),
                  "batch_size": (int, {"positive": True}), "lr": (float, {"positive": True}),
                  "weight_decay": (float, {}), "warmup_ratio": (float, {"unit": True}),
                  "max_length": (int, {"positive": True}), "pooling": (str, {}), "bf16": (bool, {}),
                  "adversarial": (str, {}), "adversarial_fraction": (float, {"unit": True}),
                  "adversarial_query_budget": (int, {"positive": True}), "reinit_top_layers": (int, {}),
                  "poisoner": (str, {})}


def _expanded_name(name: str, key: str, value) -> str:
    value = f"{value:g}" if isinstance(value, float) else value  # 1.0 -> 1, 0.0001 -> 0.0001, 2e-05
    return f"{name}-{value}" if key in ("shots", "poisoner") else f"{name}-{key}{value}"


def _settings(r: _Reader, raw, poisoners: list[str]) -> list[SettingSpec]:
    out = []
    for i, item in enumerate(r.listing(raw, "settings")):
        key = f"settings[{i}]"
        item = r.mapping(item, key, ("name",) + SAMPLING_KEYS + SCHEDULE_KEYS + ("poisoner",))
        if "name" not in item:
            r.fail(key, "needs a 'name'")
        # A list (other than minority's own) expands into one setting per value, crossed in key order.
        variants = [(r.name(item["name"], f"{key}.name"), {})]
        for k, v in item.items():
            if k == "name":
                continue
            if k == "minority":
                values = [[str(x) for x in r.listing(v, f"{key}.minority")]]
            else:
                kind, checks = _SETTING_TYPES[k]
                values = [r.typed(x, f"{key}.{k}", kind, **checks) for x in (r.listing(v, f"{key}.{k}")
                                                                              if isinstance(v, list) else [v])]
            if k == "poisoner":
                _known_names(r, values, [CLEAN] + poisoners, f"{key}.poisoner", "poisoner")
            if k == "adversarial":
                from ..attacks import RECIPES

                _known_names(r, values, list(RECIPES), f"{key}.adversarial", "recipe")
            expand = isinstance(v, list) and k != "minority"
            variants = [(_expanded_name(n, k, x) if expand else n, {**fields, k: x})
                        for n, fields in variants for x in values]
        for name, fields in variants:
            out.append(SettingSpec(name, {k: v for k, v in fields.items() if k in SAMPLING_KEYS},
                                   {k: v for k, v in fields.items() if k in SCHEDULE_KEYS}, fields.get("poisoner")))
            r.name(name, f"{key}.name (expanded)")
    _unique(r, [s.name for s in out], "settings")
    return out


def _methods(r: _Reader, raw, key: str, known: dict, settings: list[str], seeds: list[int],
             required: bool) -> list[MethodSpec]:
    out = []
    for i, item in enumerate(r.listing(raw, key, required=required)):
        k = f"{key}[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        item = r.mapping(item, k, ("name", "params", "label", "settings", "seeds")
                         + (("train",) if key == "methods" else ()))
        if item.get("name") not in known:
            r.fail(f"{k}.name", f"unknown {key[:-1]} {item.get('name')!r}; choose one of {', '.join(known)}")
        params = r.mapping(item.get("params") or {}, f"{k}.params", tuple(item.get("params") or {}))
        try:  # the method's (or peer's) own check of its parameters, now rather than mid-run
            known[item["name"]].parse_params(params)
        except RobustuneError as err:
            r.fail(f"{k}.params", str(err))
        spec = MethodSpec(item["name"], dict(params), r.name(item["label"], f"{k}.label") if "label" in item else None,
                          r.names(item.get("settings"), f"{k}.settings"),
                          _method_train(r, item.get("train"), f"{k}.train"))
        _known_names(r, spec.settings, settings, f"{k}.settings", "setting")
        if item.get("seeds") is not None:
            spec.seeds = [r.typed(s, f"{k}.seeds[{j}]", int) for j, s in enumerate(r.listing(item["seeds"], f"{k}.seeds"))]
            for j, seed in enumerate(spec.seeds):
                if seed not in seeds:
                    r.fail(f"{k}.seeds[{j}]", f"seed {seed} is not one of the bench's seeds ({seeds})")
        out.append(spec)
    return out


def _method_train(r: _Reader, raw, key: str) -> dict:
    from ..attacks import RECIPES
    from ..attacks.recipes import POLARITY_RECIPES

    raw = r.mapping(raw or {}, key, METHOD_TRAIN_KEYS)
    out = {}
    if raw.get("adversarial") is not None:
        if raw["adversarial"] not in RECIPES:
            r.fail(f"{key}.adversarial", f"unknown recipe {raw['adversarial']!r}; choose one of {', '.join(RECIPES)}")
        out["adversarial"] = raw["adversarial"]
    if "adversarial_fraction" in raw:
        out["adversarial_fraction"] = r.typed(raw["adversarial_fraction"], f"{key}.adversarial_fraction", float,
                                              positive=True, unit=True)
    if raw.get("adversarial_query_budget") is not None:
        out["adversarial_query_budget"] = r.typed(raw["adversarial_query_budget"], f"{key}.adversarial_query_budget",
                                                  int, positive=True)
    if "adversarial_search" in raw:
        if raw["adversarial_search"] not in ("greedy", "random"):
            r.fail(f"{key}.adversarial_search", f"expected greedy or random, got {raw['adversarial_search']!r}")
        out["adversarial_search"] = raw["adversarial_search"]
    if "adversarial_samples" in raw:
        out["adversarial_samples"] = r.typed(raw["adversarial_samples"], f"{key}.adversarial_samples", int,
                                             positive=True)
    if raw.get("adversarial_mlm") is not None:
        out["adversarial_mlm"] = r.typed(raw["adversarial_mlm"], f"{key}.adversarial_mlm", str)
    if raw.get("adversarial_keep_polarity"):
        if raw.get("adversarial") not in POLARITY_RECIPES:
            r.fail(f"{key}.adversarial_keep_polarity", f"applies to adversarial {', '.join(POLARITY_RECIPES)}")
        out["adversarial_keep_polarity"] = r.typed(raw["adversarial_keep_polarity"],
                                                   f"{key}.adversarial_keep_polarity", bool)
    if "epochs" in raw:
        out["epochs"] = r.typed(raw["epochs"], f"{key}.epochs", float, positive=True)
    return out


def _attacks(r: _Reader, raw, settings: list[str], makers: list[str]) -> list[AttackSpec]:
    from ..attacks import RECIPES
    from ..attacks.recipes import POLARITY_RECIPES

    out = []
    for i, item in enumerate(r.listing(raw, "attacks", required=False)):
        k = f"attacks[{i}]"
        item = r.mapping(item, k, tuple(f.name for f in dataclasses.fields(AttackSpec)))
        if item.get("recipe") not in RECIPES:
            r.fail(f"{k}.recipe", f"unknown recipe {item.get('recipe')!r}; choose one of {', '.join(RECIPES)}")
        spec = AttackSpec(
            recipe=item["recipe"],
            num_examples=(r.typed(item.get("num_examples", 100), f"{k}.num_examples", int, positive=True)
                          if item.get("num_examples", 100) is not None else None),  # null: every test row
            seed=r.typed(item.get("seed", 0), f"{k}.seed", int),
            query_budget=(r.typed(item["query_budget"], f"{k}.query_budget", int, positive=True)
                          if item.get("query_budget") is not None else None),
            mlm=r.source(item["mlm"], f"{k}.mlm") if item.get("mlm") is not None else None,
            concurrency=r.typed(item.get("concurrency", DEFAULT_CONCURRENCY), f"{k}.concurrency", int,
                                positive=True),
            compile=r.typed(item.get("compile", False), f"{k}.compile", bool),
            keep_polarity=r.typed(item.get("keep_polarity", False), f"{k}.keep_polarity", bool),
            settings=r.names(item.get("settings"), f"{k}.settings"),
            methods=r.names(item.get("methods"), f"{k}.methods"),
            label=r.name(item["label"], f"{k}.label") if "label" in item else None)
        if spec.keep_polarity and spec.recipe not in POLARITY_RECIPES:
            r.fail(f"{k}.keep_polarity", f"applies to {', '.join(POLARITY_RECIPES)}, not {spec.recipe}")
        _known_names(r, spec.settings, settings, f"{k}.settings", "setting")
        _known_names(r, spec.methods, makers, f"{k}.methods", "method or peer")
        if spec.display in (a.display for a in out):
            r.fail(f"{k}.label", f"another attack is named {spec.display!r} already; give one a label")
        out.append(spec)
    return out


def _poisoners(r: _Reader, raw) -> list[PoisonerSpec]:
    from ..backdoor.poisoners import POISONERS

    out = []
    allowed = tuple(f.name for f in dataclasses.fields(PoisonerSpec))
    for i, item in enumerate(r.listing(raw, "poisoners", required=False)):
        k = f"poisoners[{i}]"
        item = r.mapping(item, k, allowed)
        for need in ("name", "method", "data"):
            if need not in item:
                r.fail(k, f"needs {need!r}")
        if item["method"] not in POISONERS:
            r.fail(f"{k}.method", f"unknown poisoner {item['method']!r}; choose one of {', '.join(POISONERS)}")
        if item["name"] == CLEAN:
            r.fail(f"{k}.name", f"{CLEAN!r} is the unpoisoned encoder; choose another name")
        types = {"max_train_samples": (int, {"positive": True}), "mode": (str, {}), "poison_rate": (float, {"unit": True}),
                 "epochs": (float, {"positive": True}), "batch_size": (int, {"positive": True}),
                 "lr": (float, {"positive": True}), "max_length": (int, {"positive": True}), "seed": (int, {})}
        values = {f: r.typed(item[f], f"{k}.{f}", types[f][0], **types[f][1]) for f in types if item.get(f) is not None}
        if values.get("mode", "combinatorial") not in ("combinatorial", "single"):
            r.fail(f"{k}.mode", f"must be combinatorial or single, got {values['mode']!r}")
        params = r.mapping(item.get("params") or {}, f"{k}.params", tuple(item.get("params") or {}))
        try:
            POISONERS[item["method"]].parse_params(dict(params))
        except RobustuneError as err:
            r.fail(f"{k}.params", str(err))
        out.append(PoisonerSpec(name=r.name(item["name"], f"{k}.name"), method=item["method"],
                                data=r.source(item["data"], f"{k}.data"), params=dict(params), **values))
    _unique(r, [p.name for p in out], "poisoners")
    return out


def _backdoor(r: _Reader, raw, poisoners: list[PoisonerSpec]) -> BackdoorSpec | None:
    if raw is None:
        if poisoners:
            r.fail("backdoor", "missing: poisoners need the trigger and target label ({trigger: ..., target_label: ...})")
        return None
    raw = r.mapping(raw, "backdoor", ("trigger", "target_label", "seed"))
    for need in ("trigger", "target_label"):
        if not isinstance(raw.get(need), (str, int)) or isinstance(raw.get(need), bool) or not str(raw[need]).strip():
            r.fail(f"backdoor.{need}", f"missing or empty (got {raw.get(need)!r})")
    return BackdoorSpec(str(raw["trigger"]), str(raw["target_label"]), r.typed(raw.get("seed", 0), "backdoor.seed", int))


def _known_names(r: _Reader, names: list[str] | None, known: list[str], key: str, what: str) -> None:
    for n in names or []:
        if n not in known:
            r.fail(key, f"no {what} named {n!r} in this config (there are: {', '.join(known)})")


def _unique(r: _Reader, names: list[str], key: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            r.fail(key, f"the name {n!r} is used twice")
        seen.add(n)


def parse_config(raw, path: str | Path) -> BenchConfig:
    """A :class:`BenchConfig` from the parsed YAML ``raw`` of the file ``path`` (used to resolve sources)."""
    from ..methods import METHODS
    from .peers import PEERS

    r = _Reader(Path(path))
    raw = r.mapping(raw, "", tuple(f.name for f in dataclasses.fields(BenchConfig) if f.name != "path"))
    for key in ("datasets", "settings", "seeds", "methods"):
        if key not in raw:
            r.fail(key, "missing (required)")
    datasets = _datasets(r, raw["datasets"])
    _unique(r, [d.name for d in datasets], "datasets")
    poisoners = _poisoners(r, raw.get("poisoners"))
    backdoor = _backdoor(r, raw.get("backdoor"), poisoners)
    settings = _settings(r, raw["settings"], [p.name for p in poisoners])
    setting_names = [s.name for s in settings]
    seeds = [r.typed(s, f"seeds[{i}]", int) for i, s in enumerate(r.listing(raw["seeds"], "seeds"))]
    _unique(r, [str(s) for s in seeds], "seeds")
    methods = _methods(r, raw["methods"], "methods", METHODS, setting_names, seeds, required=True)
    peers = _methods(r, raw.get("peers"), "peers", PEERS, setting_names, seeds, required=False)
    _unique(r, [m.display for m in methods + peers], "methods/peers (give one a 'label')")
    makers = [m.display for m in methods] + [p.display for p in peers if PEERS[p.name].makes_model]
    attacks = _attacks(r, raw.get("attacks"), setting_names, makers)
    train = r.mapping(raw.get("train") or {}, "train", SCHEDULE_KEYS)
    train = {k: r.typed(v, f"train.{k}", _SETTING_TYPES[k][0], **_SETTING_TYPES[k][1]) for k, v in train.items()}
    report_raw = r.mapping(raw.get("report") or {}, "report", tuple(f.name for f in dataclasses.fields(ReportSpec)))
    report = ReportSpec(
        projection_methods=r.names(report_raw.get("projection_methods"), "report.projection_methods")
        or ReportSpec().projection_methods,
        projection_setting=report_raw.get("projection_setting") or setting_names[0],
        projection_rows=r.typed(report_raw.get("projection_rows", 500), "report.projection_rows", int, positive=True))
    _known_names(r, [report.projection_setting], setting_names, "report.projection_setting", "setting")
    model = raw.get("model")
    if model is not None:
        model = r.source(model, "model")
    name = r.name(raw.get("name") or Path(path).stem, "name")
    return BenchConfig(name=name, path=str(path), datasets=datasets, settings=settings, seeds=seeds,
                       methods=methods, peers=peers, attacks=attacks, model=model, train=train, report=report,
                       backdoor=backdoor, poisoners=poisoners)


def read_yaml(path: Path, what: str = "file"):
    """The parsed YAML of ``path``; a missing file or bad YAML is a :class:`RobustuneError` naming it."""
    if not path.is_file():
        raise RobustuneError(f"{path}: no such {what}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RobustuneError(f"{path}: not valid YAML: {err}") from None


def load_config(path: str | Path) -> BenchConfig:
    """Read and validate a bench YAML file; every mistake is a :class:`RobustuneError` naming file and key."""
    path = Path(path)
    return parse_config(read_yaml(path, "config file"), path)
