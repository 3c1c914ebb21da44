// Declaration of the fused relevancy loss (relevancy_bce.cpp), bound to Python in ext.cpp and called by
// point2act.losses.relevancy_loss on CPU float32 tensors.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace p2a {

// Weighted binary cross-entropy of a rendered relevancy p against a heatmap t, and its gradient w.r.t. p,
// in one pass: with q = clamp(p, eps, 1 - eps) and w = 1 + (pos_weight - 1) t,
//     loss = sum(w * bce(q, t)) / sum(w),   bce(q, t) = -(t log q + (1 - t) log(1 - q)),
//     dloss/dp = [eps < p < 1 - eps] * w * (q - t) / (q (1 - q)) / sum(w)   (torch's clamp and BCE backward).
// -> loss [] float32, grad [P] float32 (the shape of pred). Sums in float64 over fixed blocks, added in
//    block order: the same bits for any thread count.
std::vector<at::Tensor> relevancy_bce(const at::Tensor &pred,    // [P] float32, contiguous
                                      const at::Tensor &target,  // [P] float32, contiguous
                                      double pos_weight, double eps, int64_t num_threads);

}  // namespace p2a
