// Declarations of the relevancy extension's kernels (relevancy_fit.cpp, median_depth_csr.cpp), bound to Python
// for numpy arrays in relevancy_ext.cpp (a pybind11 module without torch, point2act/_cpp.py PybindExtension) and
// called by point2act.refit. Plain pointers: the binding checks shapes and dtypes. Shapes: R rows (pixels of the
// stacked views), N Gaussians, nnz stored weights.
#pragma once

#include <cstdint>

namespace p2a {

// Transpose of a CSR matrix [R, N] (crow int64, col int32) to CSR [N, R]: tcrow [N + 1], tcol [nnz] int64,
// tval [nnz] float32, entries in ascending row order.
void csr_transpose_impl(int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
                        int64_t *tcrow, int64_t *tcol, float *tval);

// The row-weighted relevancy loss of p = clamp(A s, 0, 1) and its gradient grad [N] w.r.t. s; returns the loss.
// form 0 bce, 1 mse, 2 l1.
double relevancy_loss_grad_impl(int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
                                const float *s, const float *target, const float *row_w, int form, int nthreads,
                                float *grad);

// out[r] = sum_q val[q] * x[col[q]] over row r, one float32 fused multiply-add per entry in the row's order
// (the rasterizer's colour accumulation, front to back).
void csr_matvec_impl(int64_t R, const int64_t *crow, const int32_t *col, const float *val, const float *x,
                     int nthreads, float *out);

// Per pixel, the depth of the first entry (in depth order) at which the running sum of a view's
// compositing weights reaches 0.5, NaN where it never does: point2act.grasp.consensus.median_depth_map's bits.
// crow [P + 1] may not start at 0; col int32 or int64, val float32 or float64; out [P] float64. Returns "" or
// what is wrong with the input.
template <typename C, typename V>
const char *median_depth_csr_impl(int64_t P, int64_t N, const int64_t *crow, const C *col, const V *val,
                                  const double *z, double *out);

}  // namespace p2a
