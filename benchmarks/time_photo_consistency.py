"""A random start's training step with and without the photo-consistency loss (benchmarks/results/photo_consistency.md).

    python -m benchmarks.time_photo_consistency SCENE ITERATIONS WEIGHT

trains SCENE (a nerfstudio transforms.json folder with a points file under SCENE/points/) from a random start
(``--pipeline.datamanager.triangulate False``, the capture's point cloud not loaded) for at most ITERATIONS steps
with the default schedule and ``photo_consistency_weight`` WEIGHT (0: off, no depth render), timing every step, and
prints one JSON line."""
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from point2act.method.schedule import short_schedule
from point2act.method.train import registered_config, train
from point2act.method.trainer import Point2ActTrainer


def main(scene: Path, iters: int, weight: float) -> dict:
    steps = []
    step_fn = Point2ActTrainer.train_iteration

    def timed(self, step):
        t0 = time.perf_counter()
        try:
            return step_fn(self, step)
        finally:
            steps.append(time.perf_counter() - t0)

    Point2ActTrainer.train_iteration = timed
    points = sorted((scene / "points").glob("*.json"))[0]
    config = short_schedule(registered_config("point2act"), scene, points, Path(tempfile.mkdtemp()) / "runs", iters,
                            False)
    config.pipeline.datamanager.triangulate = False
    config.pipeline.datamanager.dataparser.load_3D_points = False
    config.pipeline.model.photo_consistency_weight = weight
    t0 = time.perf_counter()
    trainer = train(config)
    model = trainer.pipeline.model
    return {"weight": weight, "train_s": time.perf_counter() - t0, "steps": len(steps), "steps_s": sum(steps),
            "median_ms": statistics.median(steps) * 1e3, "gaussians": int(model.means.shape[0]),
            "photo_consistency": model.photo_views is not None}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))))
