"""Speed of knn-bert and scl against vanilla, and of KNN inference against the linear head.

1. Training step time (forward + backward + AdamW step + ``after_step``) of vanilla, scl and
   knn-bert on the same batches, measured round-robin in one process so that load on the machine
   hits all three alike; the median step of each and the ratios to vanilla. Target: ≤ 1.6×.
2. Inference time of ``predict_proba`` with a KNN datastore of ``--store-size`` entries (random unit
   vectors; the search costs the same whatever they hold) against the linear head alone, on the
   same texts, round-robin, for each search backend in ``--backends``. Target: ≤ 1.2× at 100,000.

    PYTHONPATH=src python bench/knn_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from robustune.assets import default_encoder
from robustune.data import LabelMap, load_source, random_subset
from robustune.knn import KNNDatastore
from robustune.knn.datastore import BACKENDS
from robustune.methods import get_method
from robustune.modeling import ModelSettings, RobustClassifier
from robustune.training.features import Collator, EncodedDataset


def step_times(args, data) -> dict[str, float]:
    label_map = LabelMap.from_labels(data.labels)
    setups = {}
    for name in args.methods:
        settings = ModelSettings(label_names=list(label_map.names))
        classifier = RobustClassifier.from_encoder(args.model or default_encoder(), settings, seed=0)
        dataset = EncodedDataset(data.texts, label_map.encode(data), classifier.tokenizer, 128)
        method = get_method(name)(get_method(name).parse_params({}))
        method.setup(classifier, dataset)
        params = [p for p in [*classifier.parameters(), *method.parameters()] if p.requires_grad]
        setups[name] = (classifier, method, torch.optim.AdamW(params, lr=2e-5))
        classifier.train(), method.train()
    collate = Collator(setups[args.methods[0]][0].tokenizer)
    batches = [collate([dataset[i] for i in range(s, s + args.batch_size)])
               for s in range(0, args.batch_size * args.steps, args.batch_size)]
    times: dict[str, list[float]] = {name: [] for name in args.methods}
    names = list(setups)
    for i, batch in enumerate(batches):
        for name in names[i % len(names):] + names[:i % len(names)]:  # rotate: no method always runs first
            classifier, method, opt = setups[name]
            start = time.perf_counter()
            loss = sum(method(classifier, batch).values())
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            method.after_step(classifier)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def inference_times(args, texts, label_names) -> dict[str, float]:
    settings = ModelSettings(label_names=label_names)
    classifier = RobustClassifier.from_encoder(args.model or default_encoder(), settings, seed=0).eval()
    g = torch.Generator().manual_seed(0)
    dim = classifier.encoder.config.hidden_size
    features = F.normalize(torch.randn(args.store_size, dim, generator=g), dim=-1)
    labels = torch.randint(0, len(label_names), (args.store_size,), generator=g)
    stores = {"linear": None}
    stores.update({b: KNNDatastore(features, labels, len(label_names), k=10, weight=0.2, backend=b)
                   for b in args.backends})
    times: dict[str, list[float]] = {name: [] for name in stores}
    for store in stores.values():  # warm-up (and the bf16 copy / faiss index are built once)
        classifier.knn = store
        classifier.predict_proba(texts[:64])
    for _ in range(args.repeats):
        for name, store in stores.items():
            classifier.knn = store
            start = time.perf_counter()
            classifier.predict_proba(texts, batch_size=64)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="sst2:train")
    p.add_argument("--test", default="sst2:test")
    p.add_argument("--model", help="encoder (default: the bundled MiniLM)")
    p.add_argument("--methods", nargs="+", default=["vanilla", "scl", "knn-bert"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--store-size", type=int, default=100_000)
    p.add_argument("--backends", nargs="+", default=["auto", "torch"], choices=list(BACKENDS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-steps", action="store_true")
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"torch threads: {torch.get_num_threads()}")
    if not args.skip_steps:
        data = random_subset(load_source(args.data, "train"), args.batch_size * args.steps, seed=0)
        med = step_times(args, data)
        for name, t in med.items():
            print(f"step {name:9s} median {t * 1000:8.1f} ms  ratio vs vanilla {t / med['vanilla']:.2f}x")
    test = load_source(args.test, "test")
    med = inference_times(args, test.texts, sorted(set(test.labels)))
    n = len(test.texts)
    for name, t in med.items():
        label = "linear head only" if name == "linear" else f"+ {args.store_size:,}-entry datastore, {name}"
        print(f"inference on {n} texts, {label:40s} {t:6.2f} s ({n / t:5.0f} ex/s)  ratio {t / med['linear']:.2f}x")


if __name__ == "__main__":
    main()
