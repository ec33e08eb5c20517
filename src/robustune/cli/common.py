"""Arguments and output helpers shared by several sub-commands."""

from __future__ import annotations

import os
import sys


def add_data_arguments(parser) -> None:
    parser.add_argument("--text-column", help="column holding the text (default: text, sentence, review, ...)")
    parser.add_argument("--label-column", help="column holding the label (default: label, class, category, ...)")
    parser.add_argument("--split-seed", type=int, default=42,
                        help="seed of the train/dev/test split of sources that have none (default: 42)")


def add_progress_argument(parser) -> None:
    # tqdm reads TQDM_DISABLE only for bars created without an explicit `disable=`; robustune's bars pass
    # one, so the variable is honoured here, as the flag's default.
    disabled = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=not disabled,
                        help="no progress bars (the default when TQDM_DISABLE=1 is set)")


def add_knn_arguments(parser) -> None:
    from ..knn.datastore import BACKENDS, VOTES

    g = parser.add_argument_group("KNN datastore (models saved with one: override its saved settings, no retraining)")
    g.add_argument("--knn-k", type=int, help="number of neighbours K")
    g.add_argument("--knn-weight", type=float, help="share λ' of the KNN vote in the combined probabilities")
    g.add_argument("--knn-vote", choices=VOTES, help="uniform vote share or similarity-weighted vote")
    g.add_argument("--knn-backend", choices=BACKENDS, help="neighbour search: exact torch, faiss, or auto")


def apply_knn_arguments(model, args) -> None:
    """Apply --knn-* overrides to a loaded model; a user error when it has no datastore."""
    from ..errors import RobustuneError

    knn = {"k": args.knn_k, "weight": args.knn_weight, "vote": args.knn_vote, "backend": args.knn_backend}
    if all(v is None for v in knn.values()):
        return
    if model.knn is None:
        raise RobustuneError(f"{args.model}: the model has no KNN datastore; --knn-* options do not apply")
    model.knn.configure(**knn)


def add_vote_arguments(parser) -> None:
    g = parser.add_argument_group("randomised smoothing (models that predict by a vote or an ensemble, ranmask, safer "
                                  "and dne: override their saved settings)")
    g.add_argument("--vote-samples", type=int, metavar="N", help="random copies per prediction (N forwards each)")
    g.add_argument("--mask-rate", type=float, help="ranmask: share of the tokens masked in each copy")
    g.add_argument("--keep-rate", type=float, help="safer: the least probability that a word keeps itself")
    g.add_argument("--vote-seed", type=int, help="seed of the per-input copies")


VOTE_FLAGS = {"samples": "--vote-samples", "mask_rate": "--mask-rate", "keep": "--keep-rate", "seed": "--vote-seed"}


def vote_overrides(args) -> dict:
    return {"samples": args.vote_samples, "mask_rate": args.mask_rate, "keep": args.keep_rate, "seed": args.vote_seed}


def apply_vote_arguments(model, args) -> None:
    """Apply --vote-*/--mask-rate/--keep-rate overrides to a loaded model; a user error when it does not
    vote, or when a flag belongs to the other kind of vote."""
    from ..errors import RobustuneError

    overrides = {k: v for k, v in vote_overrides(args).items() if v is not None}
    if not overrides:
        return
    if model.smoothing is None:
        raise RobustuneError(f"{args.model}: the model does not predict by a vote or an ensemble; {', '.join(VOTE_FLAGS.values())} "
                             "do not apply")
    settings = model.smoothing.to_dict()
    for name in overrides:
        if name not in settings:
            raise RobustuneError(f"{args.model}: {VOTE_FLAGS[name]} does not apply to a {settings['kind']} model "
                                 "(--mask-rate is ranmask's, --keep-rate safer's)")
    model.configure_smoothing(**overrides)


def info(message: str) -> None:
    print(message, file=sys.stderr)
