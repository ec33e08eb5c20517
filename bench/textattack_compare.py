"""robustune's attack recipes against TextAttack's, on the same victim and the same examples (issues 6, 26).

The bar (issue 26): robustune at least 2x faster per example than TextAttack with a dynamic-padding
model wrapper and at least 15x faster than TextAttack with its stock ``HuggingFaceModelWrapper``, at
an attack success rate no lower (within 2 examples), the success rate being the fp32 model's.
TextAttack does not install beside transformers 5, so it runs in its own virtual environment and
robustune never depends on it: this script (robustune's venv) attacks with robustune in-process
(``--precision``, default auto: a bf16 search whose every label flip is confirmed by the fp32 model),
then runs ``bench/textattack_side.py`` with TextAttack's Python once per wrapper
(``--textattack-wrappers``, default ``dynamic,stock``); that side loads the same model directory
with transformers 4 (the same weights, robustune's pooling and head; its probabilities are checked
against robustune's fp32 ones on the attacked rows and the largest difference is reported). Every
side attacks one warm-up example (not in the sample) first so that one-off loading (GloVe, WordNet,
encoders, MLM) is left out of seconds/example. Queries are reported both ways: texts sent to the
victim (robustune's ``queries``; TextAttack's model wrapper counts them too) and texts the search
asked to have scored, cache hits included (TextAttack's ``num_queries``; robustune's ``requested``).
The TextAttack recipes and the parts that had to differ offline are described in
``bench/textattack_side.py``. ``--robustune-only`` runs robustune's side alone (the same sample and
warm-up), and ``--option KEY=VALUE`` passes a setting to robustune's recipe builders, e.g.
``--option per_edit=2`` for deepwordbug with two edits of each kind. ``--concurrency N`` (default 64)
is robustune's ``attack --concurrency``: N examples side by side in shared forwards, each example's
seconds its share of the run's (TextAttack attacks one example at a time). ``--textattack-no-cache``
turns TextAttack's model-output cache off (TextAttack 0.3.11's goal functions cache by default).
``--textattack-timeout`` stops a TextAttack side after S seconds; it is then measured on the
examples it finished, and the ratio uses robustune's seconds on the same rows.

Set-up (once, from the repository root; nothing of TextAttack goes into robustune or its venv;
``.venv-textattack`` is git-ignored):

    python3 -m venv .venv-textattack
    .venv-textattack/bin/pip install torch==2.13.0          # the CPU wheel; never unpinned
    printf 'torch==2.13.0\\ntransformers==4.57.6\\nflair==0.15.1\\n' > .venv-textattack/constraints.txt
    .venv-textattack/bin/pip install -c .venv-textattack/constraints.txt textattack==0.3.11 sentence-transformers==5.7.0

(without the transformers/flair pins pip backtracks for many minutes: flair needs transformers<5).
Victim and, for bert-attack, a masked LM:

    PYTHONPATH=src python -m robustune train \\
        --data sst2:train --max-train-samples 4000 --epochs 1 --output runs/ta/victim-sst2
    PYTHONPATH=src python -m robustune mlm build \\
        --data sst2:train --data ag_news:train --data mr \\
        --steps 150 --lr 3e-4 --output runs/ta/mlm-minilm

Run:

    PYTHONPATH=src python bench/textattack_compare.py \\
        --model runs/ta/victim-sst2 --data sst2:test --num-examples 100 \\
        --recipes deepwordbug,textfooler,bert-attack --mlm runs/ta/mlm-minilm --output runs/ta/compare \\
        --results bench/results/textattack-compare/sst2_100_COMMIT.json

``--results`` writes the figures BENCHMARKS.md's "Attack speed against TextAttack" is generated from
(``bench/results/textattack-compare/study.yaml`` names the files; format ``textattack-results`` in
``src/robustune/bench/legacy.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from robustune.attacks import RECIPES, build_recipe, load_victim, run_attack
from robustune.attacks.concurrent import ATTACK_BATCH_SIZE, DEFAULT_CONCURRENCY
from robustune.attacks.constraints import stop_words
from robustune.attacks.runner import label_ids, sample_indices
from robustune.data import load_source
from robustune.errors import RobustuneError

HERE = Path(__file__).resolve().parent


def recipe_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> (key, value); the value is read as JSON where it can be (1, 0.5, true)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def offline_resources(out: Path) -> dict:
    """The files TextAttack's side reads: GloVe as robustune loads it, stop-words and WordNet for nltk."""
    from robustune.assets import default_encoder
    from robustune.attacks.substitutes.embedding import load_glove
    from robustune.attacks.substitutes.wordnet import prepare_wordnet

    words, _, matrix = load_glove()
    np.save(out / "glove.npy", matrix)  # (V, 50) unit vectors
    (out / "glove.txt").write_text("\n".join(words), encoding="utf-8")
    # nltk's stop-word corpus cannot be downloaded: scikit-learn's list (robustune's) stands in.
    stopwords = out / "nltk_data" / "corpora" / "stopwords"
    stopwords.mkdir(parents=True, exist_ok=True)
    (stopwords / "english").write_text("\n".join(sorted(stop_words())) + "\n", encoding="utf-8")
    wordnet_root = prepare_wordnet().parents[1]
    return {"glove_vectors": str(out / "glove.npy"), "glove_words": str(out / "glove.txt"),
            "encoder": default_encoder(), "nltk_data": f"{out / 'nltk_data'}{os.pathsep}{wordnet_root}"}


def forward_ms(victim, texts: list[str], repeats: int = 20) -> float:
    """Milliseconds of one in-process 32-text forward of the victim (its search precision)."""
    batch = (texts * 32)[:32]
    victim(batch)
    start = time.perf_counter()
    for _ in range(repeats):
        victim(batch)
    return 1000 * (time.perf_counter() - start) / repeats


def run_robustune(args, recipe: str, data, indices: list[int], warm: int, out: Path) -> dict:
    victim = load_victim(args.model, batch_size=args.batch_size, precision=args.precision)
    attack = build_recipe(recipe, seed=args.seed, mlm=args.mlm, precision=args.precision, **dict(args.option))
    attack.attack(victim, data.texts[warm], label_ids(data, victim.label_names)[warm])  # lazy loads
    before = load()
    summary = run_attack(attack, victim, data, out, num_examples=len(indices), seed=args.seed, progress=False,
                         run_info={"model": args.model, "mlm": args.mlm, "options": dict(args.option)},
                         concurrency=args.concurrency)
    records = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    if [r["index"] for r in records] != indices:
        raise RobustuneError("robustune attacked other rows than the comparison's sample")
    return {**summary, "load_before": before, "load_after": load(), "records": records}


def run_textattack(args, recipe: str, wrapper: str, data, indices: list[int], gold: list[int], warm: int,
                   out: Path, resources: dict, check: dict) -> dict:
    job = {"recipe": recipe, "wrapper": wrapper, "model": str(Path(args.model).resolve()), "seed": args.seed,
           "mlm": args.mlm, "mlm_candidates": args.textattack_mlm_candidates,
           "use_cache": not args.textattack_no_cache, "check": check, **resources,
           "warmup": {"text": data.texts[warm], "label": gold[warm]},
           "examples": [{"index": i, "text": data.texts[i], "label": gold[i]} for i in indices]}
    out.mkdir(parents=True)
    (out / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(NLTK_DATA=resources["nltk_data"], HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    before = load()
    command = [args.textattack_python, str(HERE / "textattack_side.py"), str(out / "job.json"), str(out / "result.json")]
    try:
        subprocess.run(command, env=env, check=True, timeout=args.textattack_timeout)
    except subprocess.TimeoutExpired:  # measured on the examples it finished
        lines = (out / "result.json.records.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        if not records:
            raise RobustuneError(f"TextAttack's {recipe} finished no example in {args.textattack_timeout} s") from None
        return {**summarize_textattack(records), "records": records, "partial": True,
                "timeout_s": args.textattack_timeout, "load_before": before, "load_after": load()}
    result = json.loads((out / "result.json").read_text())
    return {**summarize_textattack(result["records"]), **result, "load_before": before, "load_after": load()}


def summarize_textattack(records: list[dict]) -> dict:
    """TextAttack's figures with robustune's definitions (runner.summarize): rates over attacked examples.

    ``avg_requested``: TextAttack's own ``num_queries`` (cache hits included); ``avg_queries``: the
    texts its model wrapper was sent (robustune's definition of a query)."""
    n = len(records)
    attacked = [r for r in records if r["status"] != "skipped"]
    successful = [r for r in records if r["status"] == "successful"]
    return {
        "num_examples": n,
        "clean_accuracy": len(attacked) / n,
        "attack_success_rate": len(successful) / len(attacked) if attacked else 0.0,
        "avg_perturbed_word_pct": float(np.mean([r["perturbed_word_pct"] for r in successful])) if successful else 0.0,
        "avg_requested": float(np.mean([r["queries"] for r in attacked])) if attacked else 0.0,
        "avg_queries": float(np.mean([r["texts_scored"] for r in attacked])) if attacked else 0.0,
        "seconds_per_example": sum(r["seconds"] for r in records) / n,
        "victim_seconds_per_example": sum(r["victim_seconds"] for r in records) / n,
        "forwards_per_example": sum(r["forwards"] for r in records) / n,
        "counts": {s: sum(r["status"] == s for r in records) for s in ("successful", "failed", "skipped")},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="robustune model directory (the victim of every side)")
    p.add_argument("--data", required=True, help="labelled data to attack")
    p.add_argument("--num-examples", type=int, default=100, help="seeded sample size (default: 100)")
    p.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated recipes")
    p.add_argument("--mlm", help="masked LM for bert-attack (both sides)")
    p.add_argument("--seed", type=int, default=0, help="sample and attack seed (default: 0)")
    p.add_argument("--output", required=True, help="new folder for the outputs")
    p.add_argument("--option", type=recipe_option, action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword for robustune's recipe builders, e.g. per_edit=2 (repeatable)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="robustune's search precision (default: auto; flips are confirmed in fp32 either way)")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                   help=f"robustune's examples attacked side by side (default: {DEFAULT_CONCURRENCY}; an "
                        "example's seconds are then its share of the run's)")
    p.add_argument("--batch-size", type=int, default=ATTACK_BATCH_SIZE,
                   help=f"robustune's texts per model forward (robustune attack --batch-size; default: {ATTACK_BATCH_SIZE})")
    p.add_argument("--robustune-only", action="store_true",
                   help="attack with robustune only (its side of an earlier comparison, or an ablation)")
    p.add_argument("--textattack-wrappers", default="dynamic,stock",
                   help="TextAttack model wrappers, comma-separated: dynamic (pads a batch to its longest text), "
                        "stock (HuggingFaceModelWrapper, pads to the tokenizer's model_max_length) "
                        "(default: dynamic,stock)")
    p.add_argument("--textattack-timeout", type=float,
                   help="stop a TextAttack side of a recipe after S seconds and compare on the examples it "
                        "finished (default: no limit)")
    p.add_argument("--textattack-mlm-candidates", type=int, default=8,
                   help="TextAttack bert-attack's top-k per position (default: 8, TextAttack's own; robustune's: 48)")
    p.add_argument("--textattack-no-cache", action="store_true",
                   help="TextAttack's goal function without its model-output cache (0.3.11 caches by default)")
    p.add_argument("--textattack-python", default=".venv-textattack/bin/python",
                   help="the Python of the venv TextAttack is installed in (default: .venv-textattack/bin/python, "
                        "relative to the working directory: run from the repository root)")
    p.add_argument("--results", help="also write the comparison (figures, no per-example records) to this JSON file")
    args = p.parse_args()
    out = Path(args.output)
    if out.exists():
        raise RobustuneError(f"{out}: already exists; choose a new --output")
    out.mkdir(parents=True)
    data = load_source(args.data, "test")
    victim = load_victim(args.model, precision=args.precision)
    gold = label_ids(data, victim.label_names)
    indices = sample_indices(data, args.num_examples, args.seed)
    warm = next(i for i in range(len(data)) if i not in set(indices))
    resources = None if args.robustune_only else offline_resources(out)
    texts = [data.texts[i] for i in indices]
    check = {"texts": texts, "probs": victim.exact(texts).tolist()}  # robustune's fp32 probabilities
    comparison = {"inprocess_forward_ms_32": forward_ms(victim, texts), "precision": victim.precision,
                  "concurrency": args.concurrency, "batch_size": args.batch_size,
                  "cpu_threads": os.cpu_count(), "recipes": {}}
    del victim
    wrappers = [] if args.robustune_only else args.textattack_wrappers.split(",")
    for recipe in args.recipes.split(","):
        sides = {"robustune": run_robustune(args, recipe, data, indices, warm, out / recipe / "robustune")}
        for wrapper in wrappers:
            sides[f"textattack-{wrapper}"] = run_textattack(args, recipe, wrapper, data, indices, gold, warm,
                                                            out / recipe / f"textattack-{wrapper}", resources, check)
        comparison["recipes"][recipe] = sides
        print(recipe, json.dumps({side: figures_only(figures) for side, figures in sides.items()}), flush=True)
    (out / "comparison.json").write_text(json.dumps(comparison, indent=1, ensure_ascii=False), encoding="utf-8")
    if args.results:
        figures = {**comparison, "command": sys.argv, "recipes": {
            recipe: {side: {**figures_only(f), "ratio_vs_robustune": ratio(sides["robustune"], f)}
                     for side, f in sides.items()} for recipe, sides in comparison["recipes"].items()}}
        Path(args.results).parent.mkdir(parents=True, exist_ok=True)
        Path(args.results).write_text(json.dumps(figures, indent=1, ensure_ascii=False), encoding="utf-8")
    print_table(comparison, len(indices), args)


def figures_only(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if k not in ("records", "attack")}


def ratio(ours: dict, theirs: dict) -> float:
    """Their seconds/example over robustune's on the rows they finished (all, unless stopped)."""
    done = {r["index"] for r in theirs["records"]}
    same = [r["seconds"] for r in ours["records"] if r["index"] in done]
    return theirs["seconds_per_example"] / (sum(same) / len(same))


def print_table(comparison: dict, n: int, args) -> None:
    ran = [s for sides in comparison["recipes"].values() for s in sides.values() if "versions" in s]
    versions = ran[0]["versions"] if ran else \
        "robustune only" if args.robustune_only else "TextAttack stopped, versions not recorded"
    cache = "" if args.robustune_only else f"TextAttack cache {'off' if args.textattack_no_cache else 'on'}; "
    print(f"\n{n} examples of {args.data}, victim {args.model}; {versions}; {cache}options {dict(args.option)}; "
          f"robustune precision {comparison['precision']}, concurrency {comparison.get('concurrency', 1)}, "
          f"batch size {comparison.get('batch_size', 64)}; "
          f"in-process 32-text forward "
          f"{comparison['inprocess_forward_ms_32']:.1f} ms\n")
    print("| recipe | side | success rate (succ/failed/skipped) | perturbed words % | texts sent to the victim/example | "
          "texts requested/example (TextAttack's queries) | seconds/example | victim seconds/example | "
          "load (1 min) before/after | side s / robustune s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for recipe, sides in comparison["recipes"].items():
        ours = sides["robustune"]
        for side, f in sides.items():
            c = f["counts"]
            name = side if side == "robustune" else f"TextAttack {side.split('-', 1)[1]}"
            if f.get("partial"):
                name += f" (stopped after {f['timeout_s']:.0f} s: {len(f['records'])} of {n} examples)"
            extra = "" if side == "robustune" else \
                f" (max prob. diff {f['max_abs_diff']:.1e})" if "max_abs_diff" in f else ""
            print(f"| {recipe} | {name}{extra} | {f['attack_success_rate']:.3f} ({c['successful']}/{c['failed']}/"
                  f"{c['skipped']}) | {f['avg_perturbed_word_pct']:.1f} | {f['avg_queries']:.1f} | "
                  f"{f['avg_requested']:.1f} | {f['seconds_per_example']:.3f} | {f['victim_seconds_per_example']:.3f} | "
                  f"{f['load_before'][0]}/{f['load_after'][0]} | "
                  f"{'' if side == 'robustune' else f'{ratio(ours, f):.2f}'} |")
        if ours.get("overturned") is not None:
            print(f"| {recipe} | (robustune: {ours['overturned']} bf16 flips overturned by the fp32 check, "
                  f"{ours['avg_exact_queries']:.2f} fp32 checks/example) | | | | | | | | |")


if __name__ == "__main__":
    main()
