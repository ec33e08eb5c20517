"""``train()``: load and sample the data, build the classifier, run the method on RobustTrainer, save.

Everything that can be wrong with the user's input (data, method, parameters, output folder) is
checked before anything is written, so a failed run leaves no half-made model behind.

Crash safety (``--resume`` after a kill at any moment): training resumes from the last *complete*
Trainer checkpoint (``checkpoints.py``); at the end the model folder is published weights-last
(``atomic.save_folder``), then the metrics files (atomically), and only then are the checkpoints
removed (renamed aside first). So until the checkpoints are gone a resumed run redoes the end from
the final checkpoint, and once they are gone the folder holds the whole result: ``--resume`` on it
returns the finished run (after checking it was trained with the same settings) and trains nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainingArguments, set_seed

from .. import data as D
from ..assets import default_encoder
from ..atomic import remove_folder, write_json
from ..errors import RobustuneError
from ..evaluation import evaluate
from ..methods import get_method
from ..modeling import WEIGHTS_NAME, ModelSettings, RobustClassifier
from .checkpoints import checkpoint_folders, last_complete_checkpoint
from .config import TrainConfig
from .features import Collator, EncodedDataset
from .stages import run_stages, stage_folders
from .trainer import RobustTrainer, TrainingModule

CHECKPOINTS = "checkpoints"
TRAIN_METRICS, EVAL_METRICS = "train_metrics.json", "eval_metrics.json"


@dataclass
class TrainResult:
    model: RobustClassifier
    output_dir: Path
    train_metrics: dict
    eval_metrics: dict | None


def load_training_data(config: TrainConfig) -> D.TextDataset:
    """The training set after the seeded sampling options, in a fixed order."""
    data = D.load_source(config.data, "train", text_column=config.text_column,
                         label_column=config.label_column, split_seed=config.split_seed)
    data.require_labels()
    if config.max_train_samples:
        data = D.random_subset(data, config.max_train_samples, config.seed)
    if config.imbalance is not None:
        minority = config.minority or [D.LabelMap.from_labels(data.labels).names[0]]
        data = D.imbalance(data, config.imbalance, minority, config.seed)
    if config.shots:
        data = D.k_shot(data, config.shots, config.seed)
    if config.label_noise:
        data = D.label_noise(data, config.label_noise, config.seed)
    return data


def _finished(out: Path) -> bool:
    """The folder holds a run's whole result (its last step, removing the checkpoints, is done)."""
    return (out / WEIGHTS_NAME).is_file() and (out / TRAIN_METRICS).is_file() and not (out / CHECKPOINTS).exists()


def _check_output(config: TrainConfig) -> Path:
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise RobustuneError(f"{out}: exists and is not a folder")
    has_checkpoint = bool(checkpoint_folders(out / CHECKPOINTS) or stage_folders(out / CHECKPOINTS))
    # --resume of a run killed while writing its outputs (checkpoints still there) or after (finished)
    resumable = config.resume and (has_checkpoint or _finished(out))
    if (out / WEIGHTS_NAME).exists() and not (config.overwrite or resumable):
        raise RobustuneError(f"{out}: already holds a model; pass --overwrite to replace it")
    if has_checkpoint and not (config.resume or config.overwrite):
        raise RobustuneError(f"{out}: holds checkpoints of an unfinished run; pass --resume to continue it "
                             "or --overwrite to start again")
    return out


RUN_RECORD = "run.json"
# Settings that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = ("save_steps", "logging_steps")


def _run_record(settings: dict) -> dict:
    """What a run trains (data, sampling, method, schedule), from ModelSettings as a dict."""
    return json.loads(json.dumps({"method": settings["method"], "method_params": settings["method_params"],
                                  **{k: v for k, v in settings["training"].items() if k not in _RESUMABLE_CHANGES}}))


def _check_same_run(where: Path, saved: dict, record: dict, what: str) -> None:
    changed = sorted(k for k in set(saved) | set(record) if saved.get(k) != record.get(k))
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {record.get(k)!r}" for k in changed[:4])
        raise RobustuneError(f"{where}: --resume with other settings than the {what} ({details}); "
                             "resume with the same ones, or pass --overwrite to start again")


def _record_run(checkpoints: Path, settings: ModelSettings, resume: bool) -> None:
    """Write what the run trains beside its checkpoints; on ``--resume`` refuse checkpoints of a run
    with other settings (they would load half-matching state)."""
    record = _run_record(settings.to_dict())
    path = checkpoints / RUN_RECORD
    if resume and path.is_file():
        _check_same_run(checkpoints, json.loads(path.read_text()), record, "interrupted run")
        return
    write_json(path, record)


def _finished_result(out: Path, settings: ModelSettings) -> "TrainResult":
    """``--resume`` of a run that finished (killed at its very end, or run twice): its saved result."""
    saved = json.loads((out / "config.json").read_text()).get("robustune", {})
    _check_same_run(out, _run_record(saved), _run_record(settings.to_dict()), "finished run in the folder")
    remove_folder(out / CHECKPOINTS)  # what a kill while deleting them left aside
    model = RobustClassifier.from_pretrained(out)
    eval_path = out / EVAL_METRICS
    return TrainResult(model, out, json.loads((out / TRAIN_METRICS).read_text()),
                       json.loads(eval_path.read_text()) if eval_path.is_file() else None)


def training_args(config: TrainConfig, output_dir: Path, epochs: float | None = None, lr: float | None = None,
                  batch_size: int | None = None) -> TrainingArguments:
    """The Trainer's arguments for a run (or one of a method's stages, which may set its own schedule)."""
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs if epochs is None else epochs,
        per_device_train_batch_size=config.batch_size if batch_size is None else batch_size,
        learning_rate=config.lr if lr is None else lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        lr_scheduler_type="linear",
        seed=config.seed,
        data_seed=config.seed,
        bf16=config.bf16,
        use_cpu=not torch.cuda.is_available(),
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=not config.progress,
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
    )


def train(config: TrainConfig | None = None, *, registry: dict | None = None, **kwargs) -> TrainResult:
    """Fine-tune a classifier. Takes a :class:`TrainConfig` or its fields as keyword arguments.

    ``registry`` is where ``config.method`` is looked up (default ``METHODS``; ``robustune poison``
    passes the poisoning objectives, ``backdoor.POISONERS``).
    """
    if config is None:
        config = TrainConfig(**kwargs)
    elif kwargs:
        raise TypeError("pass either a TrainConfig or keyword arguments, not both")
    config.validate()
    method_cls = get_method(config.method, registry)
    params = method_cls.parse_params(config.method_params)
    out = _check_output(config)

    train_data = load_training_data(config)
    label_map = D.LabelMap.from_labels(train_data.labels)
    train_ids = label_map.encode(train_data)
    eval_data = None
    if config.eval_data:
        eval_data = D.load_source(config.eval_data, "test", text_column=config.text_column,
                                  label_column=config.label_column, split_seed=config.split_seed)
        label_map.encode(eval_data)  # fail now, not after training, on a label the model cannot know

    set_seed(config.seed)
    settings = ModelSettings(
        label_names=list(label_map.names), pooling=config.pooling, max_length=config.max_length,
        head=method_cls.head_spec or ModelSettings.__dataclass_fields__["head"].default_factory(),
        method=config.method, method_params=vars(params).copy(),
        training={k: v for k, v in config.to_dict().items()
                  if k not in ("output_dir", "resume", "overwrite", "progress", "keep_checkpoints", "method_params")},
    )
    settings.training["model"] = config.model or default_encoder()
    settings.training["train_examples"] = len(train_data)
    if config.resume and _finished(out):
        return _finished_result(out, settings)
    classifier = RobustClassifier.from_encoder(settings.training["model"], settings, seed=config.seed)
    if config.reinit_top_layers:  # a defence against poisoned weights (backdoor/defenses.py)
        from ..backdoor.defenses import reinitialize_top_layers

        reinitialize_top_layers(classifier.encoder, config.reinit_top_layers, seed=config.seed)
    train_set = EncodedDataset(train_data.texts, train_ids, classifier.tokenizer, config.max_length)
    method = method_cls(params)
    method.setup(classifier, train_set)
    module = TrainingModule(classifier, method)

    if config.overwrite and out.exists():  # the old model stops being one before anything new is written
        for name in (WEIGHTS_NAME, TRAIN_METRICS, EVAL_METRICS):
            (out / name).unlink(missing_ok=True)
        remove_folder(out / CHECKPOINTS)
    trainer_data, callbacks = train_set, []
    if config.adversarial:  # the Trainer sees the clean examples plus slots refilled by attacks each epoch
        from .adversarial import adversarial_augmentation

        # Built (and its assets loaded) before any training, so a missing asset fails the run early.
        trainer_data, augmentation = adversarial_augmentation(config, classifier, train_set)
        callbacks.append(augmentation)
    _record_run(out / CHECKPOINTS, settings, config.resume)
    stage_metrics = run_stages(method, classifier, train_set, seed=config.seed, checkpoints=out / CHECKPOINTS,
                               training_args=lambda folder, **kw: training_args(config, folder, **kw),
                               resume=config.resume, progress=config.progress)
    args = training_args(config, out / CHECKPOINTS)
    trainer = RobustTrainer(model=module, args=args, train_dataset=trainer_data,
                            data_collator=Collator(classifier.tokenizer), callbacks=callbacks)
    resume = last_complete_checkpoint(out / CHECKPOINTS) if config.resume else None
    output = trainer.train(resume_from_checkpoint=resume)

    classifier.eval()
    method.finalize(classifier, train_set)
    train_metrics = {**stage_metrics, **output.metrics}
    if config.adversarial:  # from the Trainer's log, which a resumed run restores, not this process's callback
        train_metrics["adversarial_epochs"] = [{k: e[k] for k in ("epoch", "attacked", "adversarial_examples")}
                                               for e in trainer.state.log_history if "adversarial_examples" in e]
    eval_metrics = None
    if trainer.is_world_process_zero():  # under torchrun, one process writes
        classifier.save_pretrained(out)
        write_json(out / TRAIN_METRICS, train_metrics)
        if eval_data is not None:
            eval_metrics = evaluate(classifier, eval_data, progress=config.progress)
            write_json(out / EVAL_METRICS, eval_metrics)
        else:  # not the figures of a model this run overwrote
            (out / EVAL_METRICS).unlink(missing_ok=True)
        if not config.keep_checkpoints:
            remove_folder(out / CHECKPOINTS)
    return TrainResult(classifier, out, train_metrics, eval_metrics)
