"""robustune's attack recipes against TextAttack's, on the same victim and the same examples (issue 6).

The bar (issue 6): robustune at least 3x faster per example than TextAttack's recipe, at an attack
success rate no lower. TextAttack does not install beside transformers 5, so it runs in its own
virtual environment and robustune never depends on it: this script (robustune's venv) attacks with
robustune in-process, then runs ``bench/textattack_side.py`` with TextAttack's Python, whose
``ModelWrapper`` forwards each batch to ``bench/victim_server.py`` (robustune's venv,
``load_victim(MODEL)``): one model, one set of weights, for both. The pipe's own cost is measured
(an echo request of 32 texts, no forward) and reported next to a 32-text forward. Recipes
alternate robustune / TextAttack; both sides attack one warm-up example (not in the sample) first
so that one-off loading (GloVe, WordNet, encoders, MLM) is left out of seconds/example.
The TextAttack recipes and the parts that had to differ offline are described in
``bench/textattack_side.py``. ``--robustune-only`` runs robustune's side alone (the same sample and
warm-up), and ``--option KEY=VALUE`` passes a setting to robustune's recipe builders, e.g.
``--option per_edit=1 --option max_rate=1.0`` for deepwordbug with TextAttack's settings.
``--textattack-no-cache`` turns TextAttack's model-output cache off, as the issue describes the
baseline (TextAttack 0.3.11's goal functions cache by default).

Set-up (once; nothing of TextAttack goes into robustune or its venv):

    python3 -m venv /work/ta-venv
    /work/ta-venv/bin/pip install torch==2.13.0          # the CPU wheel on disk; never unpinned
    printf 'torch==2.13.0\\ntransformers==4.57.6\\nflair==0.15.1\\n' > /tmp/ta-constraints.txt
    /work/ta-venv/bin/pip install -c /tmp/ta-constraints.txt textattack==0.3.11 sentence-transformers==5.7.0

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
        --recipes deepwordbug,textfooler,bert-attack --mlm runs/ta/mlm-minilm --output runs/ta/compare
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

import robustune
from robustune.attacks import RECIPES, build_recipe, load_victim, run_attack
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
    """Milliseconds of one in-process 32-text forward of the victim (to set beside the pipe's cost)."""
    batch = (texts * 32)[:32]
    victim(batch)
    start = time.perf_counter()
    for _ in range(repeats):
        victim(batch)
    return 1000 * (time.perf_counter() - start) / repeats


def run_robustune(args, recipe: str, data, indices: list[int], warm: int, out: Path) -> dict:
    victim = load_victim(args.model)
    attack = build_recipe(recipe, seed=args.seed, mlm=args.mlm, **dict(args.option))
    attack.attack(victim, data.texts[warm], label_ids(data, victim.label_names)[warm])  # lazy loads
    before = load()
    summary = run_attack(attack, victim, data, out, num_examples=len(indices), seed=args.seed, progress=False,
                         run_info={"model": args.model, "mlm": args.mlm, "options": dict(args.option)})
    records = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    if [r["index"] for r in records] != indices:
        raise RobustuneError("robustune attacked other rows than the comparison's sample")
    return {**summary, "load_before": before, "load_after": load(), "records": records}


def run_textattack(args, recipe: str, data, indices: list[int], gold: list[int], warm: int, out: Path,
                   resources: dict) -> dict:
    server = ["env", f"PYTHONPATH={Path(robustune.__file__).resolve().parents[1]}", sys.executable,
              str(HERE / "victim_server.py"), "--model", args.model, "--batch-size", "32"]
    job = {"recipe": recipe, "seed": args.seed, "server": server, "mlm": args.mlm,
           "mlm_candidates": args.textattack_mlm_candidates, "use_cache": not args.textattack_no_cache, **resources,
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
    except subprocess.TimeoutExpired:  # measured on the examples it finished (the server exits with its pipe)
        lines = (out / "result.json.records.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        if not records:
            raise RobustuneError(f"TextAttack's {recipe} finished no example in {args.textattack_timeout} s") from None
        return {**summarize_textattack(records), "records": records, "partial": True,
                "timeout_s": args.textattack_timeout, "load_before": before, "load_after": load()}
    result = json.loads((out / "result.json").read_text())
    return {**summarize_textattack(result["records"]), **result, "load_before": before, "load_after": load()}


def summarize_textattack(records: list[dict]) -> dict:
    """TextAttack's figures with robustune's definitions (runner.summarize): rates over attacked examples."""
    n = len(records)
    attacked = [r for r in records if r["status"] != "skipped"]
    successful = [r for r in records if r["status"] == "successful"]
    return {
        "num_examples": n,
        "clean_accuracy": len(attacked) / n,
        "attack_success_rate": len(successful) / len(attacked) if attacked else 0.0,
        "avg_perturbed_word_pct": float(np.mean([r["perturbed_word_pct"] for r in successful])) if successful else 0.0,
        "avg_queries": float(np.mean([r["queries"] for r in attacked])) if attacked else 0.0,
        "avg_texts_scored": float(np.mean([r["texts_scored"] for r in attacked])) if attacked else 0.0,
        "seconds_per_example": sum(r["seconds"] for r in records) / n,
        "victim_seconds_per_example": sum(r["victim_seconds"] for r in records) / n,
        "forwards_per_example": sum(r["forwards"] for r in records) / n,
        "counts": {s: sum(r["status"] == s for r in records) for s in ("successful", "failed", "skipped")},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="robustune model directory (the victim of both sides)")
    p.add_argument("--data", required=True, help="labelled data to attack")
    p.add_argument("--num-examples", type=int, default=100, help="seeded sample size (default: 100)")
    p.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated recipes")
    p.add_argument("--mlm", help="masked LM for bert-attack (both sides)")
    p.add_argument("--seed", type=int, default=0, help="sample and attack seed (default: 0)")
    p.add_argument("--output", required=True, help="new folder for the outputs")
    p.add_argument("--option", type=recipe_option, action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword for robustune's recipe builders, e.g. per_edit=1 (repeatable)")
    p.add_argument("--robustune-only", action="store_true",
                   help="attack with robustune only (its side of an earlier comparison, or an ablation)")
    p.add_argument("--textattack-timeout", type=float,
                   help="stop TextAttack's side of a recipe after S seconds and compare on the examples it "
                        "finished (default: no limit)")
    p.add_argument("--textattack-mlm-candidates", type=int, default=48,
                   help="TextAttack bert-attack's top-k per position (default: 48, robustune's; TextAttack's own: 8)")
    p.add_argument("--textattack-no-cache", action="store_true",
                   help="TextAttack's goal function without its model-output cache (how the issue describes "
                        "TextAttack; 0.3.11 caches by default)")
    p.add_argument("--textattack-python", default="/work/ta-venv/bin/python",
                   help="the Python of the venv TextAttack is installed in (default: /work/ta-venv/bin/python)")
    args = p.parse_args()
    out = Path(args.output)
    if out.exists():
        raise RobustuneError(f"{out}: already exists; choose a new --output")
    out.mkdir(parents=True)
    data = load_source(args.data, "test")
    victim = load_victim(args.model)
    gold = label_ids(data, victim.label_names)
    indices = sample_indices(data, args.num_examples, args.seed)
    warm = next(i for i in range(len(data)) if i not in set(indices))
    resources = None if args.robustune_only else offline_resources(out)
    comparison = {"inprocess_forward_ms_32": forward_ms(victim, [data.texts[i] for i in indices]), "recipes": {}}
    del victim
    for recipe in args.recipes.split(","):
        ours = run_robustune(args, recipe, data, indices, warm, out / recipe / "robustune")
        sides = {"robustune": ours}
        if not args.robustune_only:
            sides["textattack"] = run_textattack(args, recipe, data, indices, gold, warm, out / recipe / "textattack",
                                                 resources)
        comparison["recipes"][recipe] = sides
        print(recipe, json.dumps({side: {k: v for k, v in figures.items() if k not in ("records", "attack")}
                                  for side, figures in sides.items()}), flush=True)
    (out / "comparison.json").write_text(json.dumps(comparison, indent=1, ensure_ascii=False), encoding="utf-8")
    print_table(comparison, len(indices), args)


def print_table(comparison: dict, n: int, args) -> None:
    ran = [s["textattack"] for s in comparison["recipes"].values() if "versions" in s.get("textattack", {})]
    versions = ran[0]["versions"] if ran else \
        "robustune only" if args.robustune_only else "TextAttack stopped, versions not recorded"
    cache = "" if args.robustune_only else f"TextAttack cache {'off' if args.textattack_no_cache else 'on'}; "
    print(f"\n{n} examples of {args.data}, victim {args.model}; {versions}; {cache}options {dict(args.option)}; "
          f"in-process 32-text forward {comparison['inprocess_forward_ms_32']:.1f} ms\n")
    print("| recipe | side | success rate | perturbed words % | queries/example | texts scored/example | "
          "seconds/example | victim seconds/example | load (1 min) before/after | TextAttack s / robustune s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for recipe, sides in comparison["recipes"].items():
        ours = sides["robustune"]
        print(f"| {recipe} | robustune | {ours['attack_success_rate']:.3f} | {ours['avg_perturbed_word_pct']:.1f} | "
              f"{ours['avg_queries']:.1f} | {ours['avg_queries']:.1f} | {ours['seconds_per_example']:.3f} | "
              f"{ours['victim_seconds_per_example']:.3f} | "
              f"{ours['load_before'][0]}/{ours['load_after'][0]} | |")
        if "textattack" not in sides:
            continue
        theirs = sides["textattack"]
        done = {r["index"] for r in theirs["records"]}  # all of them, unless TextAttack was stopped
        same = [r["seconds"] for r in ours["records"] if r["index"] in done]
        ours_seconds = sum(same) / len(same)  # robustune's seconds/example on the rows TextAttack finished
        ratio = theirs["seconds_per_example"] / ours_seconds
        if theirs.get("partial"):
            print(f"| {recipe} | (TextAttack stopped after {theirs['timeout_s']:.0f} s: {len(done)} of {n} examples; "
                  f"its row and the ratio cover those {len(done)}, robustune's on them: "
                  f"{ours_seconds:.3f} s/example) | | | | | | | | |")
        print(f"| {recipe} | TextAttack | {theirs['attack_success_rate']:.3f} | {theirs['avg_perturbed_word_pct']:.1f} | "
              f"{theirs['avg_queries']:.1f} | {theirs['avg_texts_scored']:.1f} | {theirs['seconds_per_example']:.3f} | "
              f"{theirs['victim_seconds_per_example']:.3f} | "
              f"{theirs['load_before'][0]}/{theirs['load_after'][0]} | {ratio:.2f} |")
    pipes = [f"{recipe}: echo {s['textattack']['ipc']['echo_ms']:.1f} ms, forward {s['textattack']['ipc']['forward_ms']:.1f} ms"
             for recipe, s in comparison["recipes"].items() if "ipc" in s.get("textattack", {})]
    if pipes:
        print("\npipe cost (TextAttack side, 32 texts): " + ", ".join(pipes))


if __name__ == "__main__":
    main()
