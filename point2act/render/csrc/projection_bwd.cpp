// Fully fused projection, backward: gradients of means2d, depths, conics and
// compensations with respect to means, quats/scales (or covars) and viewmats,
// the chain rule of projection_fwd.cpp written out (what autograd computes on
// point2act.render._torch_impl._fully_fused_projection). Like gsplat, culled
// Gaussians (radii == 0) get no gradient. Per-Gaussian sums over cameras are
// owned by one thread each; viewmat gradients are summed per fixed block of
// Gaussians and the blocks added in order (deterministic for any thread count).

#include "common_aten.h"
#include "ops.h"
#include "projection.h"

namespace p2a {
namespace {

constexpr int64_t VIEWMAT_BLOCK = 256;

template <typename S>
void projection_bwd_impl(int64_t C, int64_t N, const S *means, const S *covars, const S *quats, const S *scales,
                         const S *viewmats, const S *Ks, int W, int H, double eps2d, const int32_t *radii,
                         const S *v_means2d, const S *v_depths, const S *v_conics, const S *v_comps, int nthreads,
                         S *v_means, S *v_covars, S *v_quats, S *v_scales, S *v_viewmats) {
    std::vector<Camera<S>> cams(C);
    for (int64_t c = 0; c < C; ++c) cams[c] = make_camera(viewmats + 16 * c, Ks + 9 * c, W, H);
    const S eps = S(eps2d);
    const int64_t nblocks = (N + VIEWMAT_BLOCK - 1) / VIEWMAT_BLOCK;
    std::vector<S> vview(v_viewmats ? nblocks * C * 12 : 0, S(0));
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
        for (int64_t n = blk * VIEWMAT_BLOCK; n < std::min(N, (blk + 1) * VIEWMAT_BLOCK); ++n) {
            S qn[4] = {0, 0, 0, 0}, qnorm = 0;
            Mat3<S> Rq;
            const Mat3<S> cov = world_covar(n, covars, quats, scales, qn, qnorm, Rq);
            const S *mu = means + 3 * n;
            S vmu[3] = {0, 0, 0};
            S vcov[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
            bool any_cam = false;
            for (int64_t c = 0; c < C; ++c) {
                const int64_t o = c * N + n;
                if (radii[o] <= 0) continue;
                any_cam = true;
                const Camera<S> &cam = cams[c];
                // ---- recompute the forward pass
                S p[3];
                for (int i = 0; i < 3; ++i)
                    p[i] = cam.R[i][0] * mu[0] + cam.R[i][1] * mu[1] + cam.R[i][2] * mu[2] + cam.t[i];
                S A[3][3], Sc[3][3];
                for (int i = 0; i < 3; ++i)
                    for (int k = 0; k < 3; ++k)
                        A[i][k] = cam.R[i][0] * cov.m[0][k] + cam.R[i][1] * cov.m[1][k] + cam.R[i][2] * cov.m[2][k];
                for (int i = 0; i < 3; ++i)
                    for (int l = 0; l < 3; ++l)
                        Sc[i][l] = A[i][0] * cam.R[l][0] + A[i][1] * cam.R[l][1] + A[i][2] * cam.R[l][2];
                const S x = p[0], y = p[1], z = p[2];  // radii > 0: near <= z <= far
                const S rz = S(1) / z;
                const S rz2 = rz * rz;
                const S u = x * rz, w = y * rz;
                const S cu = std::min(cam.lim_x_pos, std::max(-cam.lim_x_neg, u));
                const S cw = std::min(cam.lim_y_pos, std::max(-cam.lim_y_neg, w));
                const S tx = z * cu, ty = z * cw;
                const S J[2][3] = {{cam.fx * rz, S(0), -cam.fx * tx * rz2}, {S(0), cam.fy * rz, -cam.fy * ty * rz2}};
                S B[2][3];
                for (int i = 0; i < 2; ++i)
                    for (int k = 0; k < 3; ++k)
                        B[i][k] = J[i][0] * Sc[0][k] + J[i][1] * Sc[1][k] + J[i][2] * Sc[2][k];
                S cv[2][2];
                for (int i = 0; i < 2; ++i)
                    for (int l = 0; l < 2; ++l)
                        cv[i][l] = B[i][0] * J[l][0] + B[i][1] * J[l][1] + B[i][2] * J[l][2];
                const S a0 = cv[0][0], c0 = cv[1][1];
                const S b = S(0.5) * (cv[0][1] + cv[1][0]);
                const S a = a0 + eps, cc = c0 + eps;
                const S det = a * cc - b * b;
                // ---- conic = inverse of [[a, b], [b, cc]]
                const S g0 = v_conics[3 * o], g1 = v_conics[3 * o + 1], g2 = v_conics[3 * o + 2];
                const S rd = S(1) / det;
                S v_det = -(g0 * cc - g1 * b + g2 * a) * rd * rd;
                S v_a0 = g2 * rd, v_c0 = g0 * rd, v_b = -g1 * rd;
                if (v_comps) {
                    const S det_orig = a0 * c0 - b * b;
                    const S ratio = det_orig / det;
                    const S comp = std::sqrt(std::max(ratio, S(0)));
                    // gsplat's add_blur_vjp: d comp = 0.5 / (comp + 1e-6) d ratio
                    const S v_ratio = v_comps[o] * S(0.5) / (comp + S(1e-6));
                    const S v_do = v_ratio / det;
                    v_det += -v_ratio * det_orig / (det * det);
                    v_a0 += v_do * c0;
                    v_c0 += v_do * a0;
                    v_b += v_do * (-2 * b);
                }
                v_a0 += v_det * cc;
                v_c0 += v_det * a;
                v_b += v_det * (-2 * b);
                const S G[2][2] = {{v_a0, S(0.5) * v_b}, {S(0.5) * v_b, v_c0}};
                // ---- cov2d = J Sc J^T
                S GJ[2][3];
                for (int i = 0; i < 2; ++i)
                    for (int k = 0; k < 3; ++k) GJ[i][k] = G[i][0] * J[0][k] + G[i][1] * J[1][k];
                S vSc[3][3];  // J^T G J
                for (int k = 0; k < 3; ++k)
                    for (int l = 0; l < 3; ++l) vSc[k][l] = J[0][k] * GJ[0][l] + J[1][k] * GJ[1][l];
                S vJ[2][3];  // G J (Sc + Sc^T)
                for (int i = 0; i < 2; ++i)
                    for (int l = 0; l < 3; ++l) {
                        S acc = 0;
                        for (int k = 0; k < 3; ++k) acc += GJ[i][k] * (Sc[k][l] + Sc[l][k]);
                        vJ[i][l] = acc;
                    }
                // ---- J, means2d, depths -> camera-space point
                const S vm0 = v_means2d[2 * o], vm1 = v_means2d[2 * o + 1];
                S v_x = vm0 * cam.fx * rz, v_y = vm1 * cam.fy * rz;
                S v_rz = vm0 * cam.fx * x + vm1 * cam.fy * y + vJ[0][0] * cam.fx + vJ[1][1] * cam.fy;
                const S v_tx = vJ[0][2] * (-cam.fx) * rz2, v_ty = vJ[1][2] * (-cam.fy) * rz2;
                const S v_rz2 = vJ[0][2] * (-cam.fx * tx) + vJ[1][2] * (-cam.fy * ty);
                S v_z = v_tx * cu + v_ty * cw + v_depths[o];
                if (u > -cam.lim_x_neg && u < cam.lim_x_pos) {
                    const S v_u = v_tx * z;
                    v_x += v_u * rz;
                    v_rz += v_u * x;
                }
                if (w > -cam.lim_y_neg && w < cam.lim_y_pos) {
                    const S v_w = v_ty * z;
                    v_y += v_w * rz;
                    v_rz += v_w * y;
                }
                v_rz += 2 * rz * v_rz2;
                v_z += -v_rz * rz * rz;
                const S vp[3] = {v_x, v_y, v_z};
                // ---- p = R mu + t, Sc = R cov R^T
                for (int j = 0; j < 3; ++j) vmu[j] += cam.R[0][j] * vp[0] + cam.R[1][j] * vp[1] + cam.R[2][j] * vp[2];
                S RtV[3][3];  // R^T vSc
                for (int j = 0; j < 3; ++j)
                    for (int l = 0; l < 3; ++l)
                        RtV[j][l] = cam.R[0][j] * vSc[0][l] + cam.R[1][j] * vSc[1][l] + cam.R[2][j] * vSc[2][l];
                for (int j = 0; j < 3; ++j)
                    for (int k = 0; k < 3; ++k)
                        vcov[j][k] += RtV[j][0] * cam.R[0][k] + RtV[j][1] * cam.R[1][k] + RtV[j][2] * cam.R[2][k];
                if (v_viewmats) {
                    S *vv = vview.data() + (blk * C + c) * 12;
                    // v_R = vp mu^T + vSc R cov^T + vSc^T R cov
                    for (int i = 0; i < 3; ++i) {
                        for (int j = 0; j < 3; ++j) {
                            S acc = vp[i] * mu[j];
                            for (int k = 0; k < 3; ++k) {
                                S Rc = 0, Rct = 0;
                                for (int l = 0; l < 3; ++l) {
                                    Rc += cam.R[k][l] * cov.m[j][l];
                                    Rct += cam.R[k][l] * cov.m[l][j];
                                }
                                acc += vSc[i][k] * Rc + vSc[k][i] * Rct;
                            }
                            vv[4 * i + j] += acc;
                        }
                        vv[4 * i + 3] += vp[i];
                    }
                }
            }
            for (int j = 0; j < 3; ++j) v_means[3 * n + j] = vmu[j];
            if (covars) {
                S *vc = v_covars + 9 * n;
                for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 3; ++j)
                        vc[3 * i + j] = i < j ? vcov[i][j] + vcov[j][i] : (i == j ? vcov[i][i] : S(0));
                continue;
            }
            if (!any_cam) {
                for (int j = 0; j < 4; ++j) v_quats[4 * n + j] = 0;
                for (int j = 0; j < 3; ++j) v_scales[3 * n + j] = 0;
                continue;
            }
            // ---- cov = M M^T, M = Rq diag(s)
            const S *s = scales + 3 * n;
            S M[3][3], vM[3][3], vR[3][3];
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 3; ++j) M[i][j] = Rq.m[i][j] * s[j];
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 3; ++j) {
                    S acc = 0;
                    for (int k = 0; k < 3; ++k) acc += (vcov[i][k] + vcov[k][i]) * M[k][j];
                    vM[i][j] = acc;
                }
            for (int j = 0; j < 3; ++j) {
                S acc = 0;
                for (int i = 0; i < 3; ++i) {
                    vR[i][j] = vM[i][j] * s[j];
                    acc += vM[i][j] * Rq.m[i][j];
                }
                v_scales[3 * n + j] = acc;
            }
            // ---- rotation of the normalised quaternion
            const S qw = qn[0], qx = qn[1], qy = qn[2], qz = qn[3];
            S vq[4];
            vq[0] = 2 * (-qz * vR[0][1] + qy * vR[0][2] + qz * vR[1][0] - qx * vR[1][2] - qy * vR[2][0] +
                         qx * vR[2][1]);
            vq[1] = 2 * (qy * vR[0][1] + qz * vR[0][2] + qy * vR[1][0] - 2 * qx * vR[1][1] - qw * vR[1][2] +
                         qz * vR[2][0] + qw * vR[2][1] - 2 * qx * vR[2][2]);
            vq[2] = 2 * (-2 * qy * vR[0][0] + qx * vR[0][1] + qw * vR[0][2] + qx * vR[1][0] + qz * vR[1][2] -
                         qw * vR[2][0] + qz * vR[2][1] - 2 * qy * vR[2][2]);
            vq[3] = 2 * (-2 * qz * vR[0][0] - qw * vR[0][1] + qx * vR[0][2] + qw * vR[1][0] - 2 * qz * vR[1][1] +
                         qy * vR[1][2] + qx * vR[2][0] + qy * vR[2][1]);
            // ---- q / max(|q|, 1e-12)
            if (qnorm > S(1e-12)) {
                const S dot = qw * vq[0] + qx * vq[1] + qy * vq[2] + qz * vq[3];
                for (int j = 0; j < 4; ++j) v_quats[4 * n + j] = (vq[j] - qn[j] * dot) / qnorm;
            } else {
                for (int j = 0; j < 4; ++j) v_quats[4 * n + j] = vq[j] / S(1e-12);
            }
        }
    }
    if (v_viewmats) {
        std::fill(v_viewmats, v_viewmats + 16 * C, S(0));
        for (int64_t blk = 0; blk < nblocks; ++blk)
            for (int64_t c = 0; c < C; ++c)
                for (int e = 0; e < 12; ++e) v_viewmats[16 * c + e] += vview[(blk * C + c) * 12 + e];
    }
}

}  // namespace

std::vector<at::Tensor> projection_bwd(const at::Tensor &means, const c10::optional<at::Tensor> &covars,
                                       const c10::optional<at::Tensor> &quats,
                                       const c10::optional<at::Tensor> &scales, const at::Tensor &viewmats,
                                       const at::Tensor &Ks, int64_t width, int64_t height, double eps2d,
                                       const at::Tensor &radii, const at::Tensor &v_means2d,
                                       const at::Tensor &v_depths, const at::Tensor &v_conics,
                                       const c10::optional<at::Tensor> &v_compensations, bool viewmats_grad,
                                       int64_t num_threads) {
    for (auto *t : {&means, &viewmats, &Ks, &radii, &v_means2d, &v_depths, &v_conics}) check_cpu_contig(*t, "input");
    const auto dtype = means.scalar_type();
    const int64_t N = means.size(0), C = viewmats.size(0);
    const bool use_cov = covars.has_value();
    const int nthreads = resolve_threads(num_threads);
    auto v_means = at::empty({N, 3}, means.options());
    auto v_covars = use_cov ? at::empty({N, 3, 3}, means.options()) : at::empty({0}, means.options());
    auto v_quats = use_cov ? at::empty({0}, means.options()) : at::empty({N, 4}, means.options());
    auto v_scales = use_cov ? at::empty({0}, means.options()) : at::empty({N, 3}, means.options());
    auto v_viewmats = viewmats_grad ? at::empty({C, 4, 4}, means.options()) : at::empty({0}, means.options());
    if (v_compensations.has_value()) check_cpu_contig(*v_compensations, "v_compensations");
    AT_DISPATCH_FLOATING_TYPES(dtype, "projection_bwd", [&] {
        projection_bwd_impl<scalar_t>(
            C, N, means.data_ptr<scalar_t>(), use_cov ? covars->data_ptr<scalar_t>() : nullptr,
            use_cov ? nullptr : quats->data_ptr<scalar_t>(), use_cov ? nullptr : scales->data_ptr<scalar_t>(),
            viewmats.data_ptr<scalar_t>(), Ks.data_ptr<scalar_t>(), int(width), int(height), eps2d,
            radii.data_ptr<int32_t>(), v_means2d.data_ptr<scalar_t>(), v_depths.data_ptr<scalar_t>(),
            v_conics.data_ptr<scalar_t>(),
            v_compensations.has_value() ? v_compensations->data_ptr<scalar_t>() : nullptr, nthreads,
            v_means.data_ptr<scalar_t>(), use_cov ? v_covars.data_ptr<scalar_t>() : nullptr,
            use_cov ? nullptr : v_quats.data_ptr<scalar_t>(), use_cov ? nullptr : v_scales.data_ptr<scalar_t>(),
            viewmats_grad ? v_viewmats.data_ptr<scalar_t>() : nullptr);
    });
    return {v_means, v_covars, v_quats, v_scales, v_viewmats};
}

}  // namespace p2a
