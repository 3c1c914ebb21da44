"""Accuracy benchmark: does a multi-view relevancy field beat a single-view MLLM point?

``python -m benchmarks.accuracy`` runs a fixed, seeded suite of synthetic scenes
(:mod:`.suite`: mug handles and rims, a hammer's handle versus its head, targets behind an
occluder, the ACRONYM mug) under simulated pointer errors (:mod:`.pointer`: pixel noise,
outliers on a distractor, guesses on the occluder, "no point" answers) and compares, on the same
points, a single-view lift with the view's depth (the paper's MLLM* baseline), multi-view
triangulation with RANSAC (:mod:`.baselines`) and point2act's relevancy field with its action
point and grasps (:mod:`.run`). Results: ``benchmarks/results/accuracy/`` (Markdown, JSON, PNG).
"""
