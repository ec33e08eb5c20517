"""Training step time of robust methods relative to vanilla, measured side by side in one run.

Each method gets its own MiniLM classifier (same seed), the same fixed SST-2 batches and an AdamW
step; a "step" is the method's forward, backward, optimizer step and ``after_step`` — what the
Trainer does per batch, without its logging. Methods are interleaved step by step so that load
from other processes hits them alike; the median step time is reported.

    PYTHONPATH=src python bench/step_time.py --methods vanilla scl knn-bert match-tuning smart --steps 10 \
        --tables bench/results/step-time/tables.json

``--tables`` also writes the table for BENCHMARKS.md (bench/README.md: a script-based study).

A method may carry parameters, ``NAME:KEY=VALUE,KEY=VALUE`` (``freelb:adv_steps=5``); its row is
labelled with the whole spec.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch

from robustune import data as D
from robustune.assets import default_encoder
from robustune.methods import get_method
from robustune.modeling import ModelSettings, RobustClassifier
from robustune.training import TrainingModule
from robustune.training.features import Collator, EncodedDataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sst2:train")
    ap.add_argument("--methods", nargs="+", default=["vanilla", "smart", "match-tuning"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per method")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tables", help="also write the table here as a study's tables.json (bench/README.md)")
    args = ap.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    texts = D.load_source(args.data, "train")
    labelled = D.random_subset(texts, args.batch_size * (args.steps + args.warmup), args.seed)
    label_map = D.LabelMap.from_labels(labelled.labels)
    runs = {}
    for spec in args.methods:
        name, _, raw = spec.partition(":")
        params = {k: json.loads(v) for k, v in (item.split("=", 1) for item in raw.split(",") if item)}
        cls = get_method(name)
        torch.manual_seed(args.seed)
        settings = ModelSettings(label_names=list(label_map.names), max_length=args.max_length,
                                 head=cls.head_spec or ModelSettings.__dataclass_fields__["head"].default_factory())
        classifier = RobustClassifier.from_encoder(default_encoder(), settings, seed=args.seed)
        dataset = EncodedDataset(labelled.texts, label_map.encode(labelled), classifier.tokenizer, args.max_length)
        method = cls(cls.parse_params(params))
        method.setup(classifier, dataset)
        module = TrainingModule(classifier, method).to(device).train()
        optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=5e-5)
        collate = Collator(classifier.tokenizer)
        batches = [collate([dataset[i] for i in range(s, s + args.batch_size)])
                   for s in range(0, len(dataset), args.batch_size)]
        runs[spec] = (module, optimizer, [{k: v.to(device) for k, v in b.items()} for b in batches], [])

    for step in range(args.warmup + args.steps):
        for name, (module, optimizer, batches, times) in runs.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            loss = module(**batches[step])["loss"]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            module.method.after_step(module.classifier)
            if device == "cuda":
                torch.cuda.synchronize()
            if step >= args.warmup:
                times.append(time.perf_counter() - start)

    base = statistics.median(runs[args.methods[0]][3])
    setup = (f"device {device}, threads {torch.get_num_threads()}, batch {args.batch_size}, "
             f"{args.steps} timed steps each (median), interleaved")
    rows = []
    for name, (_, _, _, times) in runs.items():
        med = statistics.median(times)
        rows.append([name, round(med, 3), round(args.batch_size / med, 1), round(med / base, 2)])
    peak = f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (all methods together)"
    print(setup)
    print(f"{'method':<22}{'s/step':>9}{'ex/s':>8}{'x ' + args.methods[0]:>12}")
    for name, seconds, per_second, ratio in rows:
        print(f"{name:<22}{seconds:>9.3f}{per_second:>8.1f}{ratio:>12.2f}")
    print(peak)
    if args.tables:
        from robustune.bench.studies import write_tables

        write_tables(args.tables, [{"title": f"Training step, {args.data} batches of {args.batch_size}",
                                    "columns": ["method", "s/step", "examples/s", f"× {args.methods[0]}"],
                                    "rows": rows, "notes": f"{setup}; {peak}."}])


if __name__ == "__main__":
    main()
