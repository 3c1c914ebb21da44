// Declarations of the plane sweep's kernel (plane_zncc.cpp), bound to Python in ext.cpp and called by
// point2act.startcloud.plane_sweep. Arguments and results are numpy arrays, C-contiguous, of the dtypes given (an
// input of another dtype or layout is a ValueError). num_threads <= 0: OpenMP's default.
#pragma once

#include <tuple>
#include <vector>

#include "np.h"

namespace p2a {

// A reference image as every comparison with it reads it: its pixels and its windows' means and variances
// (window side 2 r + 1, mirrored borders), computed once for all the planes and sources compared with it.
struct PlaneReference {
    int h = 0, w = 0, r = 0;
    std::vector<double> image, mean, var;  // [h * w]

    PlaneReference(const py::array &image,  // [h, w] float32 grey image
                   int64_t window);         // the window's side (odd)
    py::array_t<float> std() const;         // [h, w] float32: the windows' standard deviation
};

// The source image warped into the reference view through each homography, and the ZNCC of their windows.
// -> (zncc [P, h, w] float32, inside [P, h, w] bool)
std::tuple<py::array_t<float>, py::array_t<bool>> plane_zncc(
    const PlaneReference &ref,
    const py::array &src,           // [hs, ws] float32 grey source image
    const py::array &homographies,  // [P, 3, 3] float64: reference pixel index -> source pixel index
    int64_t num_threads);

// At the pixels of `mask` only: the largest ZNCC over the homographies at which the pixel's window lies inside the
// warp (the values plane_zncc gives those pixels, the same bits), -1 where none does and off the mask.
// -> best [h, w] float32
py::array_t<float> plane_zncc_best(
    const PlaneReference &ref,
    const py::array &src,           // [hs, ws] float32 grey source image
    const py::array &homographies,  // [P, 3, 3] float64: reference pixel index -> source pixel index
    const py::array &mask,          // [h, w] bool: the reference pixels to compare
    int64_t num_threads);

// Per view pair (a reference and a source, each list one entry per pair) and per homography of the pair, the sum
// of the ZNCC over the reference pixels inside the warp and in front of the plane, and their count; every pair
// has P homographies. -> (sums [pairs, P] float64, counts [pairs, P] int64)
std::tuple<py::array_t<double>, py::array_t<int64_t>> plane_zncc_sums(
    const std::vector<const PlaneReference *> &refs,
    const std::vector<py::array> &srcs,          // [hs, ws] float32 each
    const std::vector<py::array> &homographies,  // [P, 3, 3] float64 each
    const std::vector<py::array> &planes,        // [P, 4] float64: each homography's plane in the reference camera
    const std::vector<py::array> &kinvs,         // [3, 3] float64: the reference's inverse intrinsics
    int64_t num_threads);

}  // namespace p2a
