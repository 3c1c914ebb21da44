// Fully fused projection, forward: the kernel (gsplat's fully_fused_projection_fwd, pinhole camera, unpacked
// [C, N] layout) on raw arrays, without torch. projection_fwd.cpp wraps it for tensors; the torch-free refit
// extension (point2act/csrc/compositing_weights_views.cpp) runs it on numpy arrays.
//
// Per Gaussian n and camera c (o = c * N + n): world -> camera transform, 3D covariance from quaternion/scales
// (or user covariances, upper triangle), EWA Jacobian with x/y clamped to 1.3x the field of view, eps2d blur,
// conic, optional anti-aliasing compensation, radius and culling (radii[o] = 0).

#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "projection.h"

namespace p2a {

template <typename S>
void projection_fwd_impl(int64_t C, int64_t N, const S *means, const S *covars, const S *quats, const S *scales,
                         const S *viewmats, const S *Ks, int W, int H, double eps2d, double near_plane,
                         double far_plane, double radius_clip, bool calc_comp, int nthreads, int32_t *radii,
                         S *means2d, S *depths, S *conics, S *comps) {
    std::vector<Camera<S>> cams(C);
    for (int64_t c = 0; c < C; ++c) cams[c] = make_camera(viewmats + 16 * c, Ks + 9 * c, W, H);
    const S eps = S(eps2d), nearp = S(near_plane), farp = S(far_plane), rclip = S(radius_clip);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        S qn[4], qnorm;
        Mat3<S> Rq;
        const Mat3<S> cov = world_covar(n, covars, quats, scales, qn, qnorm, Rq);
        const S *mu = means + 3 * n;
        for (int64_t c = 0; c < C; ++c) {
            const Camera<S> &cam = cams[c];
            const int64_t o = c * N + n;
            S p[3];
            for (int i = 0; i < 3; ++i)
                p[i] = cam.R[i][0] * mu[0] + cam.R[i][1] * mu[1] + cam.R[i][2] * mu[2] + cam.t[i];
            // covariance in camera space: R cov R^T
            S A[3][3], Sc[3][3];
            for (int i = 0; i < 3; ++i)
                for (int k = 0; k < 3; ++k)
                    A[i][k] = cam.R[i][0] * cov.m[0][k] + cam.R[i][1] * cov.m[1][k] + cam.R[i][2] * cov.m[2][k];
            for (int i = 0; i < 3; ++i)
                for (int l = 0; l < 3; ++l)
                    Sc[i][l] = A[i][0] * cam.R[l][0] + A[i][1] * cam.R[l][1] + A[i][2] * cam.R[l][2];
            const S x = p[0], y = p[1], z = p[2];
            bool valid = z >= nearp && z <= farp;
            const S zs = valid ? z : S(1);
            const S rz = S(1) / zs;
            const S rz2 = rz * rz;
            const S tx = zs * std::min(cam.lim_x_pos, std::max(-cam.lim_x_neg, x * rz));
            const S ty = zs * std::min(cam.lim_y_pos, std::max(-cam.lim_y_neg, y * rz));
            const S J[2][3] = {{cam.fx * rz, S(0), -cam.fx * tx * rz2}, {S(0), cam.fy * rz, -cam.fy * ty * rz2}};
            S B[2][3];
            for (int i = 0; i < 2; ++i)
                for (int k = 0; k < 3; ++k) B[i][k] = J[i][0] * Sc[0][k] + J[i][1] * Sc[1][k] + J[i][2] * Sc[2][k];
            S cv[2][2];
            for (int i = 0; i < 2; ++i)
                for (int l = 0; l < 2; ++l) cv[i][l] = B[i][0] * J[l][0] + B[i][1] * J[l][1] + B[i][2] * J[l][2];
            const S mx = cam.fx * x * rz + cam.cx;
            const S my = cam.fy * y * rz + cam.cy;
            S a = cv[0][0];
            const S b = S(0.5) * (cv[0][1] + cv[1][0]);
            S cc = cv[1][1];
            const S det_orig = a * cc - b * b;
            a = a + eps;
            cc = cc + eps;
            const S det = a * cc - b * b;
            valid = valid && det > S(0);
            const S ds = valid ? det : S(1);
            if (calc_comp) {
                const S ratio = det_orig / ds;
                comps[o] = std::sqrt(std::max(ratio, S(0)));
            }
            conics[3 * o] = cc / ds;
            conics[3 * o + 1] = -b / ds;
            conics[3 * o + 2] = a / ds;
            const S bb = S(0.5) * (a + cc);
            const S v1 = bb + std::sqrt(std::max(bb * bb - ds, S(0.01)));
            const S radius = std::ceil(S(3) * std::sqrt(v1));
            valid = valid && radius > rclip;
            const bool inside = (mx + radius > S(0)) && (mx - radius < S(W)) && (my + radius > S(0)) &&
                                (my - radius < S(H));
            radii[o] = (valid && inside) ? static_cast<int32_t>(radius) : 0;
            means2d[2 * o] = mx;
            means2d[2 * o + 1] = my;
            depths[o] = z;
        }
    }
}

}  // namespace p2a
