"""``report.html``: one self-contained page of tables and plots from ``results.json``.

Tables: accuracy and macro-F1 (mean ± std over seeds) per method, dataset and setting; robustness
(clean accuracy, accuracy under each attack, attack success rate); cost (train examples/s, step
time relative to vanilla, train and wall seconds, peak memory). Plots (matplotlib, Agg backend,
embedded as base64 PNG, so the page needs nothing beside itself): accuracy vs shots, accuracy under
attack per method, and a 2-D t-SNE (van der Maaten & Hinton 2008; scikit-learn, seeded) of the test
representations coloured by class, one panel per method (vanilla vs knn-bert by default) — whether
contrastive training really clusters the classes. Every string from the user's config or data is
HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from ..atomic import write_text

TSNE_SEED = 0


def fmt(stat: dict | None, scale: float = 100.0, digits: int = 1) -> str:
    """"mean ± std" of a mean_std dict (accuracies as percentages by default); "–" when missing."""
    if not stat or stat.get("mean") is None:
        return "–"
    mean, std = stat["mean"] * scale, stat["std"] * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if stat["n"] > 1 else f"{mean:.{digits}f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _shots(results: dict) -> dict[str, int]:
    return {s["name"]: s["sampling"]["shots"] for s in results["settings"] if s["sampling"].get("shots")}


def accuracy_tables(results: dict) -> list[tuple[str, str]]:
    rows = [[r["dataset"], r["setting"], r["method"] + (" (peer)" if r["kind"] == "peer" else ""),
             len(r["seeds"]), fmt(r.get("accuracy")), fmt(r.get("macro_f1")),
             fmt(r.get("accuracy_linear")), fmt(r.get("accuracy_knn"))] for r in results["aggregates"]]
    return [("Accuracy and macro-F1 (%, mean ± std over seeds)",
             _table(["dataset", "setting", "method", "seeds", "accuracy", "macro-F1", "linear head", "KNN"], rows))]


def robustness_rows(results: dict) -> list[list]:
    return [[r["dataset"], r["setting"], r["method"], r["recipe"], f"{len(r['seeds'])} × {r['num_examples']}",
             fmt(r["clean_accuracy"]), fmt(r["accuracy_under_attack"]), fmt(r["attack_success_rate"]),
             fmt(r["avg_perturbed_word_pct"], 1.0), fmt(r["avg_queries"], 1.0), fmt(r.get("avg_model_forwards"), 1.0)]
            for r in results["robustness"]]


ROBUSTNESS_HEADERS = ["dataset", "setting", "method", "recipe", "seeds × examples", "clean acc %",
                      "acc under attack %", "success rate %", "perturbed words %", "queries/example",
                      "model forwards/example"]
COST_HEADERS = ["dataset", "setting", "method", "train ex/s", "step s", "× vanilla step", "train s",
                "× vanilla train s", "cell wall s", "peak RSS MiB"]


def cost_rows(results: dict) -> list[list]:
    rows = []
    for r in results["aggregates"]:
        ratio, train_ratio = r.get("step_time_ratio"), r.get("train_time_ratio")
        rows.append([r["dataset"], r["setting"], r["method"], fmt(r.get("train_examples_per_second"), 1.0),
                     fmt(r.get("step_seconds"), 1.0, 2), f"{ratio:.2f}" if ratio else "–",
                     fmt(r.get("train_seconds"), 1.0, 0), f"{train_ratio:.2f}" if train_ratio else "–",
                     fmt(r.get("wall_seconds"), 1.0, 0),
                     fmt(r.get("peak_rss_mib"), 1.0, 0)])
    return rows


def plot_accuracy_vs_shots(results: dict) -> str | None:
    import matplotlib.pyplot as plt

    shots = _shots(results)
    rows = [r for r in results["aggregates"] if r["setting"] in shots and "accuracy" in r]
    if not rows:
        return None
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for method in dict.fromkeys(r["method"] for r in rows if r["dataset"] == dataset):
            mine = sorted((shots[r["setting"]], r["accuracy"]) for r in rows
                          if r["dataset"] == dataset and r["method"] == method)
            x = [k for k, _ in mine]
            ax.errorbar(x, [100 * a["mean"] for _, a in mine], yerr=[100 * a["std"] for _, a in mine],
                        marker="o", capsize=3, label=method)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(shots.values())), [str(k) for k in sorted(set(shots.values()))])
        ax.set_xlabel("examples per class (k)")
        ax.set_ylabel("test accuracy %")
        ax.set_title(dataset)
        ax.legend(fontsize=8)
    return _png(fig)


def plot_attacks(results: dict) -> str | None:
    import matplotlib.pyplot as plt

    rows = results["robustness"]
    if not rows:
        return None
    groups = list(dict.fromkeys((r["dataset"], r["setting"], r["recipe"]) for r in rows))
    fig, axes = plt.subplots(1, len(groups), figsize=(max(4.5, 1.3 * len(rows) / len(groups) + 2) * len(groups), 3.6),
                             squeeze=False)
    for ax, (dataset, setting, recipe) in zip(axes[0], groups):
        mine = [r for r in rows if (r["dataset"], r["setting"], r["recipe"]) == (dataset, setting, recipe)]
        x = np.arange(len(mine))
        for offset, key, label in ((-0.2, "clean_accuracy", "clean"), (0.2, "accuracy_under_attack", "under attack")):
            ax.bar(x + offset, [100 * r[key]["mean"] for r in mine], 0.4, yerr=[100 * r[key]["std"] for r in mine],
                   capsize=3, label=label)
        ax.set_xticks(x, [r["method"] for r in mine], rotation=20)
        ax.set_ylabel("accuracy %")
        ax.set_title(f"{recipe} · {dataset} · {setting}")
        ax.legend(fontsize=8)
    return _png(fig)


def tsne(features: np.ndarray, seed: int = TSNE_SEED) -> np.ndarray:
    """(N, 2) t-SNE embedding of (N, D) features (cosine distance, PCA initialisation, seeded)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca",
                random_state=seed).fit_transform(features)


def plot_projection(results: dict, out: Path) -> str | None:
    import matplotlib.pyplot as plt
    from safetensors import safe_open

    items = results["projections"]
    if not items:
        return None
    fig, axes = plt.subplots(1, len(items), figsize=(4.2 * len(items), 4), squeeze=False)
    for ax, item in zip(axes[0], items):
        with safe_open(str(out / item["file"]), "np") as f:
            features, labels = f.get_tensor("features"), f.get_tensor("labels")  # (N, D), (N,)
            names = json.loads(f.metadata()["label_names"])
        points = tsne(features)
        for k, name in enumerate(names):
            mask = labels == k
            ax.scatter(points[mask, 0], points[mask, 1], s=6, alpha=0.7, label=name)
        ax.set_title(f"{item['method']} · {item['dataset']} · {item['setting']} (seed {item['seed']})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, markerscale=2)
    return _png(fig)


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f0f0f0}td{text-align:right}td:nth-child(-n+3){text-align:left}img{max-width:100%}
.note{color:#555;font-size:13px}"""


def render(results: dict, out: Path) -> str:
    esc = html.escape
    parts = [f"<h1>robustune bench: {esc(results['bench'])}</h1>",
             f"<p class=note>config {esc(results['config'])}; generated {esc(results['generated'])}; "
             f"{results['finished_cells']} of {results['total_cells']} cells finished; "
             f"{results['machine']['cpu_count']} CPUs, load average at the end "
             f"{esc(', '.join(f'{x:.2f}' for x in results['machine']['load_average_now']))}. "
             "Accuracies are % on the test data, mean ± sample std over seeds.</p>"]
    if results["pending_cells"]:
        parts.append(f"<p class=note>Not finished: {esc(', '.join(results['pending_cells']))}</p>")
    for title, table in accuracy_tables(results):
        parts += [f"<h2>{esc(title)}</h2>", table]
    parts += ["<h2>Robustness under attack</h2>",
              _table(ROBUSTNESS_HEADERS, robustness_rows(results)) if results["robustness"]
              else "<p>No attack cells.</p>",
              "<h2>Cost</h2>",
              "<p class=note>train ex/s and step s: the (last) fine-tuning phase; × vanilla: the mean step time "
              "over vanilla's on the same dataset and setting in this run; train s: all phases; cell wall s: "
              "the whole cell (loading, training, evaluation); peak RSS: the cell process's high-water mark.</p>",
              _table(COST_HEADERS, cost_rows(results))]
    for title, image in (("Accuracy vs shots", plot_accuracy_vs_shots(results)),
                         ("Accuracy under attack per method", plot_attacks(results)),
                         ("t-SNE of the test representations, coloured by class", plot_projection(results, out))):
        parts.append(f"<h2>{esc(title)}</h2>")
        parts.append(f'<img alt="{esc(title)}" src="{image}">' if image else "<p>No data for this plot.</p>")
    return ("<!DOCTYPE html><html><head><meta charset=utf-8><title>"
            f"robustune bench {esc(results['bench'])}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_report(path: str | Path, results: dict, out: str | Path) -> None:
    """Write the page atomically (a temporary file renamed into place)."""
    import matplotlib

    matplotlib.use("Agg")
    write_text(path, render(results, Path(out)))
