// Declarations of the relevancy extension's kernels (relevancy_fit.cpp, median_depth_csr.cpp), bound to Python
// in relevancy_ext.cpp and called by point2act.relevancy_fit. Shapes: R rows (pixels of the stacked views), N Gaussians.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace p2a {

// Transpose of a CSR matrix [R, num_cols].
// -> crow [num_cols + 1] int64, col [nnz] int64, val [nnz] float32
std::vector<at::Tensor> csr_transpose(const at::Tensor &crow,  // [R + 1] int64
                                      const at::Tensor &col,   // [nnz] int32
                                      const at::Tensor &val,   // [nnz] float32
                                      int64_t num_cols, int64_t num_threads);

// The row-weighted relevancy loss of p = clamp(A s, 0, 1) and its gradient w.r.t. s.
// -> loss [] float64, grad_s [N] float32
std::vector<at::Tensor> relevancy_loss_grad(const at::Tensor &crow,    // [R + 1] int64
                                            const at::Tensor &col,     // [nnz] int32
                                            const at::Tensor &val,     // [nnz] float32
                                            const at::Tensor &s,       // [N] float32
                                            const at::Tensor &target,  // [R] float32
                                            const at::Tensor &row_w,   // [R] float32
                                            int64_t form,              // 0 bce, 1 mse, 2 l1
                                            int64_t num_threads);

// Per pixel, the depth of the first entry (in depth order) at which the running sum of a view's
// compositing weights reaches 0.5, NaN where it never does: point2act.grasp.consensus.median_depth_map's bits.
// -> depth [height, width] float64
at::Tensor median_depth_csr(const at::Tensor &crow,  // [height * width + 1] int64 (may not start at 0)
                            const at::Tensor &col,   // [nnz] int32 or int64
                            const at::Tensor &val,   // [nnz] float32 or float64
                            const at::Tensor &z,     // [N] float64
                            int64_t height, int64_t width);

}  // namespace p2a
