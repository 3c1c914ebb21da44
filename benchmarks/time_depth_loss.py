"""The training step with and without the depth loss, on one capture (benchmarks/results/stereo_depth.md).

    python benchmarks/time_depth_loss.py SCENE ITERATIONS WEIGHT

trains SCENE (a nerfstudio transforms.json folder with a points file under SCENE/points/) for ITERATIONS steps
with the default schedule for that count and ``depth_loss_weight`` WEIGHT (0: no depth render; 0.2: the default,
with stereo depth on a capture without a cloud), timing every step, and prints one JSON line."""
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
    config.pipeline.model.depth_loss_weight = weight
    t0 = time.perf_counter()
    trainer = train(config)
    return {"weight": weight, "train_s": time.perf_counter() - t0, "steps_s": sum(steps),
            "median_ms": statistics.median(steps) * 1e3, "gaussians": int(trainer.pipeline.model.means.shape[0]),
            "depth_supervised": bool(trainer.pipeline.model.depth_supervised)}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))))
