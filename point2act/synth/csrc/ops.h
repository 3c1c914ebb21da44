// Declarations of the synthetic scene's kernels (one .cpp per op), bound to Python in ext.cpp and called by
// point2act.synth.noise. Arguments and results are numpy arrays, C-contiguous, of the dtypes given (an input of
// another dtype or layout is a ValueError). num_threads <= 0: OpenMP's default.
#pragma once

#include "np.h"

namespace p2a {

// Fractal sum of `octaves` octaves of value noise, normalised to [0, 1] (fbm3.cpp).
// -> [N] float64
py::array_t<double> fbm3(const py::array &p,  // [N, 3] float64 points
                         int64_t seed, int64_t octaves, int64_t num_threads);

}  // namespace p2a
