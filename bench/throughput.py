"""Training throughput of robustune's vanilla method vs a plain transformers.Trainer, side by side.

Both train the bundled all-MiniLM-L6-v2 on the same SST-2 rows with the same batch size, maximum
length, learning rate, schedule and seed; the plain run uses ``AutoModelForSequenceClassification``
and ``DataCollatorWithPadding``. Runs alternate (robustune, plain, robustune, plain, ...) so that a
slow spell of the machine hits both. Prints examples/s of each, and the ratio, in fp32 and bf16.

    python bench/throughput.py [--rows 2000] [--repeats 2] [--batch-size 32] [--max-length 128]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)
from transformers.utils import logging as hf_logging

import robustune
from robustune.assets import default_encoder
from robustune.data import LabelMap, load_source, random_subset

SST2 = "sst2:train"


def robustune_run(args, bf16: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = robustune.train(data=str(args.data), output_dir=tmp, max_train_samples=args.rows, epochs=1,
                                 batch_size=args.batch_size, max_length=args.max_length, seed=args.seed,
                                 bf16=bf16, progress=False, save_steps=10**9)
    return result.train_metrics["train_samples_per_second"]


def plain_run(args, bf16: bool) -> float:
    data = random_subset(load_source(args.data), args.rows, args.seed)  # the same rows robustune takes
    labels = LabelMap.from_labels(data.labels)
    encoder = default_encoder()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    enc = tokenizer(data.texts, truncation=True, max_length=args.max_length)
    ids = labels.encode(data)
    rows = [{**{k: v[i] for k, v in enc.items()}, "labels": ids[i]} for i in range(len(ids))]
    model = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=len(labels))
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(output_dir=tmp, num_train_epochs=1, per_device_train_batch_size=args.batch_size,
                                  learning_rate=1e-4, weight_decay=0.01, warmup_steps=0.06, seed=args.seed,
                                  bf16=bf16, use_cpu=not torch.cuda.is_available(), save_strategy="no",
                                  report_to="none", disable_tqdm=True, logging_steps=20)
        trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=DataCollatorWithPadding(tokenizer))
        return trainer.train().metrics["train_samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SST2))
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    print(f"{args.rows} rows of {args.data}, batch {args.batch_size}, max length {args.max_length}, "
          f"{torch.get_num_threads()} threads, {args.repeats} alternating repeats")
    for bf16 in [False] if args.no_bf16 else [False, True]:
        ours, plain = [], []
        for _ in range(args.repeats):
            ours.append(robustune_run(args, bf16))
            plain.append(plain_run(args, bf16))
        o, p = statistics.median(ours), statistics.median(plain)
        print(f"{'bf16' if bf16 else 'fp32'}: robustune {o:.1f} ex/s  plain Trainer {p:.1f} ex/s  "
              f"ratio {o / p:.3f}  (runs: robustune {[round(x, 1) for x in ours]}, plain {[round(x, 1) for x in plain]})")


if __name__ == "__main__":
    main()
