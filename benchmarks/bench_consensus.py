"""Time the views' consensus (:func:`point2act.where.consensus.consensus`) on a trained run's views and answers.

    python -m benchmarks.bench_consensus --config RUN/config.yml --points POINTS.json [--extra 2] [--repeats 3]

The views are the ones ``point2act query`` forms from the run's cache (its current ``query-d2`` section: the
training views' median depths from their compositing weights, the answers of ``POINTS.json`` as the query maps
them). ``--extra N`` adds N answers to every answered view before timing (the first near its first answer,
3 px of noise; the rest anywhere in the view, seeded), as a pointer that marks several spots per view: the
consensus's crossings grow as the answers squared. Prints the median and worst of ``--repeats`` calls and a
digest of the outcome (the places' points and votes, to the bit), so two commits' runs can be compared with
``PYTHONPATH`` on each side (``farm-bench --vs``). Writes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np


def with_extra_answers(views: list, extra: int, seed: int = 0) -> list:
    """``views`` with ``extra`` more answers in each answered view (module docstring)."""
    rng = np.random.default_rng(seed)
    out = []
    for v in views:
        p = v.points
        if extra > 0 and len(p):
            H, W = v.size
            near = p[:1] + rng.normal(0.0, 3.0, (1, 2))
            anywhere = rng.uniform([0.0, 0.0], [W, H], (extra - 1, 2))
            p = np.r_[p, near, anywhere]
        out.append(dataclasses.replace(v, points=p))
    return out


def digest(cons) -> str:
    """The outcome's places and confidence, hashed to the bit."""
    h = hashlib.sha256()
    for pl in cons.places:
        h.update(np.asarray(pl.point, dtype=np.float64).tobytes())
        h.update(repr((pl.votes, pl.views, pl.eval_views, pl.seen, pl.num_candidates, pl.triangulated, pl.answers)).encode())
    h.update(repr((cons.confidence, cons.answered_views, cons.info)).encode())
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_consensus", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--points", type=Path, required=True)
    ap.add_argument("--extra", type=int, default=0, help="answers added to every answered view")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    from point2act import cache_file
    from point2act.requery.from_cache import answers_of, load, supervised, training_weights
    from point2act.where.consensus import consensus

    if not cache_file.is_current(a.config):
        raise SystemExit(f"{a.config}: the run's cache is not current; run `point2act query` on it once first")
    qv = load(a.config, 2)
    if qv is None:
        raise SystemExit(f"{a.config}: the cache has no query section at downscale 2")
    views = supervised(qv, training_weights(qv, 1e-3), answers_of(qv, a.points))
    views = with_extra_answers(views, a.extra)
    seconds, outcome = [], None
    for _ in range(max(1, a.repeats)):
        t0 = time.perf_counter()
        outcome = consensus(views)
        seconds.append(time.perf_counter() - t0)
    answers = sum(len(v.points) for v in views)
    print(f"{len(views)} views, {answers} answers, {outcome.info['candidates']} candidates: consensus "
          f"{np.median(seconds):.3f} s median, {max(seconds):.3f} s worst of {len(seconds)}; outcome {digest(outcome)}")


if __name__ == "__main__":
    main()
