// Declarations of the relevancy extension's kernels (relevancy_fit.cpp, median_depth_csr.cpp,
// compositing_weights_views.cpp), bound to Python
// for numpy arrays in relevancy_ext.cpp (a pybind11 module without torch, point2act/_cpp.py PybindExtension) and
// called by point2act.requery.fit_numpy. Plain pointers: the binding checks shapes and dtypes. Shapes: R rows (pixels of the
// stacked views), N Gaussians, nnz stored weights.
#pragma once

#include <cstdint>
#include <functional>

namespace p2a {

// Transpose of a CSR matrix [R, N] (crow int64, col int32) to CSR [N, R]: tcrow [N + 1], tcol [nnz] int64,
// tval [nnz] float32, entries in ascending row order.
void csr_transpose_impl(int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
                        int64_t *tcrow, int64_t *tcol, float *tval);

// The row-weighted relevancy loss of p = clamp(A s, 0, 1) and its gradient grad [N] w.r.t. s; returns the loss
// (NaN where want_loss is false: the gradient alone, without the loss's logarithms). form 0 bce, 1 mse, 2 l1.
double relevancy_loss_grad_impl(int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
                                const float *s, const float *target, const float *row_w, int form, bool want_loss,
                                int nthreads, float *grad);

// out[r] = sum_q val[q] * x[col[q]] over row r, one float32 fused multiply-add per entry in the row's order
// (the rasterizer's colour accumulation, front to back).
void csr_matvec_impl(int64_t R, const int64_t *crow, const int32_t *col, const float *val, const float *x,
                     int nthreads, float *out);

// Per pixel, the depth of the first entry (in depth order) at which the running sum of a view's
// compositing weights reaches 0.5, NaN where it never does: point2act.where.consensus.median_depth_map's bits.
// crow [P + 1] may not start at 0; col int32 or int64, val float32 or float64; out [P] float64. Returns "" or
// what is wrong with the input.
template <typename C, typename V>
const char *median_depth_csr_impl(int64_t P, int64_t N, const int64_t *crow, const C *col, const V *val,
                                  const double *z, double *out);

// The compositing weights of C views of N Gaussians, without torch: the rasterizer's kernels (point2act/render/csrc:
// projection_fwd.h, isect_tiles.h, compositing_weights.h) as point2act.requery.fit_torch.compositing_weights_views
// runs them through torch (_project_views: near 0.01, far 1e10, radius_clip 0, eps2d 0.3, 16-pixel tiles; in
// antialiased mode the opacities times the projection's compensations), so the same bits. means [N, 3],
// quats [N, 4] (wxyz), scales [N, 3], opacities [N] (activated), viewmats [C, 4, 4], Ks [C, 3, 3], all float32
// -> crow [C * height * width + 1] (the caller's), and col int32 / val float32 [nnz] from alloc(nnz, col, val),
// called once on the calling thread. Weights <= min_weight are left out. Returns "" or what went wrong.
using WeightsAlloc = std::function<void(int64_t nnz, int32_t *&col, float *&val)>;
const char *compositing_weights_views_impl(int64_t C, int64_t N, const float *means, const float *quats,
                                           const float *scales, const float *opacities, const float *viewmats,
                                           const float *Ks, int width, int height, bool antialiased,
                                           double min_weight, int nthreads, int64_t *crow,
                                           const WeightsAlloc &alloc);
// The side, in pixels, of the square tiles the views' kernels composite (the rasterizer's tile size).
constexpr int VIEWS_TILE_SIZE = 16;

// The render of values [N] through the compositing weights above min_weight rounded to float16, per pixel of C
// views [C * height * width] (compositing_weights.h, half_weight_render_impl), without storing the weights; only
// the 16-pixel tiles tile_mask [C * tiles] marks (nullptr: every tile), the other pixels 0.
const char *half_weight_render_views_impl(int64_t C, int64_t N, const float *means, const float *quats,
                                          const float *scales, const float *opacities, const float *viewmats,
                                          const float *Ks, int width, int height, bool antialiased,
                                          double min_weight, const float *values, const uint8_t *tile_mask,
                                          int nthreads, float *out);

}  // namespace p2a
