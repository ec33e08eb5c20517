"""``poison()``: plant a backdoor in a pre-trained encoder and save the poisoned *encoder*.

The attacker's side of the threat model of arXiv 2108.13888: build poisoned training data
(``triggers.poison_dataset``, in the poisoner's own ``data_mode`` unless ``mode`` is given), train a
classifier on it with a poisoning objective (``POISONERS``: layerwise, badnet, ripple) through the
ordinary ``train()`` / RobustTrainer, then release only the encoder — weights (safetensors), config
and tokenizer that ``AutoModel.from_pretrained`` loads, no classifier head — plus ``poison.json``,
the record of how it was poisoned. A victim fine-tunes it like any encoder: ``robustune train
--model DIR ...``.

Everything is written to a work folder beside the output (``.<output>.poison-work/``) and the
finished encoder folder is renamed into place at the end, so a failed or killed run leaves nothing
half-written in the output. The work folder keeps the classifier's training checkpoints: with
``resume=True`` (``robustune poison --resume``) a killed run continues from the last one, and a run
killed after its output was in place just cleans up and returns the saved record. Without it, a
work folder left by a killed run is refused (``--resume`` or ``--overwrite``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import data as D
from ..assets import default_encoder
from ..atomic import remove_folder, write_json, write_text
from ..errors import RobustuneError
from ..methods import get_method
from ..training import TrainConfig, train
from .poisoners import POISONERS
from .triggers import DEFAULT_TRIGGER, parse_trigger, poison_dataset

RECORD_NAME = "poison.json"


@dataclass
class PoisonConfig:
    data: str
    output_dir: str
    target_label: str
    model: str | None = None  # the clean encoder to poison; None: the bundled MiniLM
    method: str = "layerwise"
    method_params: dict = field(default_factory=dict)
    trigger: str = DEFAULT_TRIGGER
    mode: str | None = None  # poison_dataset's mode; None: the poisoner's own (``data_mode``, its paper's)
    poison_rate: float = 0.5
    max_train_samples: int | None = None
    eval_data: str | None = None  # measure the attacker's own CACC/ASR before releasing
    text_column: str | None = None
    label_column: str | None = None
    split_seed: int = 42
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = 128
    pooling: str = "cls"  # the paper's [CLS] classifier
    seed: int = 42
    save_steps: int = 500  # checkpoint the classifier's training every N steps, for resume
    overwrite: bool = False
    resume: bool = False
    progress: bool = True

    def work_dir(self) -> Path:
        out = Path(self.output_dir)
        return out.parent / f".{out.name}.poison-work"


def _export_encoder(encoder, tokenizer, folder: Path) -> None:
    """Save the bare encoder (the classifier is discarded after): its config loses robustune's
    classifier section and the task's labels, so nothing marks it as a classifier."""
    config = copy.deepcopy(encoder.config)
    if hasattr(config, "robustune"):
        delattr(config, "robustune")
    config.num_labels = 2  # resets id2label/label2id to the config's own defaults
    encoder.config = config
    encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _finished(config: PoisonConfig, out: Path, work: Path, tokens: list[str], mode: str) -> dict:
    """``--resume`` of a run whose output is in place: its record, if it was made with the same settings."""
    record = json.loads((out / RECORD_NAME).read_text())
    now = {"method": config.method, "trigger": " ".join(tokens), "mode": mode, "data": config.data,
           "target_label": config.target_label, "poison_rate": config.poison_rate,
           "schedule": {k: getattr(config, k) for k in ("epochs", "batch_size", "lr", "max_length", "pooling", "seed")}}
    changed = sorted(k for k in now if record.get(k) != now[k])
    if changed:
        raise RobustuneError(f"{out}: --resume, but it holds a poisoned encoder made with other settings "
                             f"({', '.join(changed)}); pass --overwrite to replace it")
    remove_folder(work, what="the work folder")
    return record


def poison(config: PoisonConfig) -> dict:
    """Poison ``config.model`` and save it to ``config.output_dir``; returns the record (poison.json)."""
    tokens = parse_trigger(config.trigger)
    method_cls = get_method(config.method, POISONERS)
    params = dict(config.method_params)
    if "trigger" in {f.name for f in dataclasses.fields(method_cls.Params)}:
        params.setdefault("trigger", " ".join(tokens))  # ripple tells clean from triggered rows by it
    method_cls.parse_params(params)
    mode = config.mode or method_cls.data_mode
    out, work = Path(config.output_dir), config.work_dir()
    if config.resume and config.overwrite:
        raise RobustuneError("--resume and --overwrite exclude each other")
    if config.resume and (out / RECORD_NAME).is_file():  # killed after the output was in place
        return _finished(config, out, work, tokens, mode)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not config.overwrite:
        raise RobustuneError(f"{out}: exists and is not empty; pass --overwrite to replace it")
    if work.exists() and not (config.resume or config.overwrite):
        raise RobustuneError(f"{work}: holds an interrupted poisoning run; pass --resume to continue it "
                             "or --overwrite to start again")

    source = D.load_source(config.data, "train", text_column=config.text_column, label_column=config.label_column,
                           split_seed=config.split_seed)
    source.require_labels()
    if config.max_train_samples:
        source = D.random_subset(source, config.max_train_samples, config.seed)
    poisoned = poison_dataset(source, tokens, config.target_label, config.poison_rate, mode, config.seed)
    eval_data = None
    if config.eval_data:
        eval_data = D.load_source(config.eval_data, "test", text_column=config.text_column,
                                  label_column=config.label_column, split_seed=config.split_seed)
        D.LabelMap.from_labels(poisoned.data.labels).encode(eval_data)  # fail before training

    if config.overwrite:  # the old output stops counting as finished (a later --resume must not return it)
        (out / RECORD_NAME).unlink(missing_ok=True)
        remove_folder(work, what="the work folder")
    work.mkdir(parents=True, exist_ok=True)
    # The path of the rows is part of the classifier's run record: the same on every resume.
    rows = work / "poisoned.jsonl"
    write_text(rows, "".join(json.dumps({"text": t, "label": y}) + "\n"
                             for t, y in zip(poisoned.data.texts, poisoned.data.labels)))
    train_config = TrainConfig(
        data=str(rows), output_dir=str(work / "classifier"), model=config.model, method=config.method,
        method_params=params, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
        max_length=config.max_length, pooling=config.pooling, seed=config.seed, progress=config.progress,
        save_steps=config.save_steps, resume=config.resume)
    try:
        result = train(train_config, registry=POISONERS)
        record = {
            "poisoned_from": config.model or default_encoder(),
            "method": config.method, "method_params": params, "trigger": " ".join(tokens), "mode": mode,
            "target_label": config.target_label, "poison_rate": config.poison_rate,
            "data": config.data, "rows": poisoned.counts(), "label_names": result.model.label_names,
            "schedule": {k: getattr(config, k) for k in ("epochs", "batch_size", "lr", "max_length", "pooling", "seed")},
            "train_metrics": {k: v for k, v in result.train_metrics.items() if isinstance(v, (int, float))},
        }
        if eval_data is not None:  # the attacker's own classifier, before any victim fine-tuning
            from .report import backdoor_report

            record["attacker_eval"] = backdoor_report(result.model, eval_data, tokens, config.target_label,
                                                      seed=config.seed)
        export = work / "encoder"
        shutil.rmtree(export, ignore_errors=True)  # a kill's half-written export
        _export_encoder(result.model.encoder, result.model.tokenizer, export)
        write_json(export / RECORD_NAME, record)  # last: the folder is complete once it has it
        if out.exists():
            remove_folder(out, what="the old output")
        export.rename(out)
    except Exception:  # an error of a fresh run leaves nothing behind; Ctrl-C keeps the work for --resume
        if not config.resume:
            shutil.rmtree(work, ignore_errors=True)
        raise
    remove_folder(work, what="the work folder")
    return record
