"""Device-bench stand-in: nerfstudio imports fpsample at module level; the 'random' camera sampling never calls it."""


def bucket_fps_kdline_sampling(*a, **k):
    raise NotImplementedError("fpsample stand-in")
