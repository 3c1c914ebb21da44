// Declarations of the fused SSIM kernels (ssim.cpp), bound to Python in ext.cpp and called by
// point2act.ssim. An image batch is passed as P planes of H rows of L values; the Gaussian window's taps
// are `tap_stride` values apart along a row (1 for [N, C, H, W] images: P = N * C planes, L = W; C for
// channels-last images: P = N planes of [H, W * C]). Hout = H - K + 1, Lout = L - (K - 1) * tap_stride
// (valid filtering, as pytorch_msssim). Float32 or float64 throughout.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace p2a {

// SSIM map of X and Y (11x11 separable Gaussian window: vertical pass, then horizontal), summed.
// -> sums [num_images] float64 (the SSIM map summed over each image's planes_per_image planes),
//    dmu1 [P, Hout, Lout] | empty (unless need_x), dmu2 [P, Hout, Lout] | empty (unless need_y),
//    dsig [P, Hout, Lout], dcov [P, Hout, Lout] (empty unless need_x or need_y):
//    the derivatives of the SSIM map at each pixel w.r.t. the filtered X (mu1) and Y (mu2), total through
//    the variances and covariance, and w.r.t. the filtered squares (X^2 and Y^2 share one) and product XY.
std::vector<at::Tensor> ssim_fwd(const at::Tensor &X,       // [P, H, L]
                                 const at::Tensor &Y,       // [P, H, L]
                                 const at::Tensor &window,  // [K], same dtype as X
                                 int64_t tap_stride, int64_t planes_per_image, double C1, double C2,
                                 bool need_x, bool need_y, int64_t num_threads);

// Gradients of sum_p scale[p] * sum(SSIM map of plane p) w.r.t. X and Y from ssim_fwd's derivative maps;
// with_l1: plus those of l1 * mean(|X - Y|) given l1_scale = l1 / X.numel(), added as torch's autograd adds
// the two terms' gradients (v_Y += -(l1_scale sgn(X - Y)), v_X += l1_scale sgn(X - Y): the same bits).
// -> v_X [P, H, L] | empty (unless dmu1 is given), v_Y [P, H, L] | empty (unless dmu2 is given)
std::vector<at::Tensor> ssim_bwd(const at::Tensor &X,       // [P, H, L]
                                 const at::Tensor &Y,       // [P, H, L]
                                 const at::Tensor &window,  // [K]
                                 int64_t tap_stride,
                                 const at::Tensor &dmu1,    // [P, Hout, Lout] | empty
                                 const at::Tensor &dmu2,    // [P, Hout, Lout] | empty
                                 const at::Tensor &dsig,    // [P, Hout, Lout]
                                 const at::Tensor &dcov,    // [P, Hout, Lout]
                                 const at::Tensor &scale,   // [P], same dtype as X
                                 bool with_l1, double l1_scale, int64_t num_threads);

}  // namespace p2a
