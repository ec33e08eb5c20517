"""Peers: other libraries' training of the same encoder on the same rows, run inside the bench.

* ``trainer`` — a plain ``transformers.Trainer`` fine-tuning ``AutoModelForSequenceClassification``
  on the encoder (as in ``bench/throughput.py``): cross-entropy, the same rows (robustune's own seeded
  sampling), schedule and seed as robustune's cells. The model is saved with ``save_pretrained``
  (safetensors + JSON), so attacks run on it like on robustune's. It carries BERT's pooler and
  classifies the [CLS] token through it, as ``AutoModelForSequenceClassification`` does; robustune's
  vanilla mean-pools.
* ``setfit`` — SetFit (Tunstall et al. 2022, arXiv 2209.11055; PyPI ``setfit``): contrastive
  fine-tuning of the sentence-transformer body on pairs drawn from the few-shot examples (cosine
  similarity loss), then a logistic-regression head on the frozen embeddings. Few-shot settings by
  default. The model is **not** saved: SetFit pickles its scikit-learn head (``model_head.pkl``),
  and this project writes no pickles; its metrics and cost are recorded like any cell's.

Each peer is a class in ``PEERS``: ``Params`` (its options, from the config's ``params``) and
``run(...) -> (metrics, train_metrics)``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import RobustuneError


class Peer:
    name: ClassVar[str]
    makes_model: ClassVar[bool] = True  # saves a model that attacks can load
    few_shot_only: ClassVar[bool] = False  # by default only in settings with `shots`

    @dataclass
    class Params:
        pass

    @classmethod
    def parse_params(cls, values: dict | None):
        fields = {f.name for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(values or {}) - fields)
        if unknown:
            raise RobustuneError(f"peer {cls.name!r} has no parameter {unknown[0]!r} "
                                 f"(its parameters: {', '.join(sorted(fields)) or 'none'})")
        return cls.Params(**(values or {}))


def _metrics(y_true: list[int], probs: np.ndarray, names: list[str]) -> dict:
    from ..evaluation.metrics import classification_metrics

    return classification_metrics(y_true, np.asarray(probs).argmax(-1).tolist(), names)


class TrainerPeer(Peer):
    name = "trainer"

    @dataclass
    class Params:
        pass

    @staticmethod
    def run(config, train_data, test_data, label_map, params, out: Path, progress: bool) -> tuple[dict, dict]:
        import torch
        from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                                  Trainer, TrainingArguments, set_seed)

        from ..assets import default_encoder

        encoder = config.model or default_encoder()
        tokenizer = AutoTokenizer.from_pretrained(encoder)
        enc = tokenizer(train_data.texts, truncation=True, max_length=config.max_length)
        ids = label_map.encode(train_data)
        rows = [{**{k: v[i] for k, v in enc.items()}, "labels": ids[i]} for i in range(len(ids))]
        set_seed(config.seed)
        names = list(label_map.names)
        model = AutoModelForSequenceClassification.from_pretrained(
            encoder, num_labels=len(names), id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)})
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArguments(
                output_dir=tmp, num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
                learning_rate=config.lr, weight_decay=config.weight_decay, warmup_steps=config.warmup_ratio,
                lr_scheduler_type="linear", seed=config.seed, data_seed=config.seed, bf16=config.bf16,
                use_cpu=not torch.cuda.is_available(), save_strategy="no", report_to="none",
                disable_tqdm=not progress, logging_steps=config.logging_steps, dataloader_num_workers=0)
            trainer = Trainer(model=model, args=args, train_dataset=rows,
                              data_collator=DataCollatorWithPadding(tokenizer))
            train_metrics = dict(trainer.train().metrics)
        model.eval()
        probs = []
        with torch.inference_mode():
            for start in range(0, len(test_data), 64):
                batch = tokenizer(test_data.texts[start:start + 64], truncation=True, max_length=config.max_length,
                                  padding=True, return_tensors="pt")
                probs.append(torch.softmax(model(**batch).logits.float(), -1).numpy())
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        return _metrics(label_map.encode(test_data), np.concatenate(probs), names), train_metrics


class SetFitPeer(Peer):
    name = "setfit"
    makes_model = False
    few_shot_only = True

    @dataclass
    class Params:
        num_iterations: int = 20  # SetFit's default: 20 pairs per example and epoch
        epochs: int = 1  # body epochs (SetFit's default)
        batch_size: int = 16
        body_lr: float = 2e-5

    @staticmethod
    def run(config, train_data, test_data, label_map, params, out: Path, progress: bool) -> tuple[dict, dict]:
        import time

        try:
            from datasets import Dataset
            from setfit import SetFitModel, Trainer, TrainingArguments
        except ImportError:
            raise RobustuneError("the setfit peer needs the `setfit` package (pip install setfit==1.2.0)") from None
        from ..assets import default_encoder

        names = list(label_map.names)
        model = SetFitModel.from_pretrained(config.model or default_encoder(), labels=names)
        train = Dataset.from_dict({"text": train_data.texts, "label": label_map.encode(train_data)})
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArguments(
                output_dir=tmp, batch_size=params.batch_size, num_epochs=params.epochs,
                num_iterations=params.num_iterations, body_learning_rate=params.body_lr, seed=config.seed,
                max_length=config.max_length, report_to="none", save_strategy="no", show_progress_bar=progress)
            trainer = Trainer(model=model, args=args, train_dataset=train)
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
        probs = np.asarray(model.predict_proba(test_data.texts, batch_size=64))
        # SetFit trains on pairs; examples/s counts the training examples, as for every other cell.
        train_metrics = {"train_runtime": seconds, "train_samples_per_second": len(train_data) / seconds}
        return _metrics(label_map.encode(test_data), probs, names), train_metrics


PEERS: dict[str, type[Peer]] = {TrainerPeer.name: TrainerPeer, SetFitPeer.name: SetFitPeer}
