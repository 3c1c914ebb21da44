// Fully fused projection, forward (gsplat's fully_fused_projection_fwd,
// pinhole camera, unpacked [C, N] layout): world -> camera transform, 3D
// covariance from quaternion/scales (or user covariances, upper triangle),
// EWA Jacobian with x/y clamped to 1.3x the field of view, eps2d blur, conic,
// optional anti-aliasing compensation, radius and culling. Matches
// point2act.render._torch_impl._fully_fused_projection operation by operation.
// The kernel (projection_fwd_impl) is projection_fwd.h; this file wraps it for tensors.

#include "common_aten.h"
#include "ops.h"
#include "projection_fwd.h"

namespace p2a {

std::vector<at::Tensor> projection_fwd(const at::Tensor &means, const c10::optional<at::Tensor> &covars,
                                       const c10::optional<at::Tensor> &quats,
                                       const c10::optional<at::Tensor> &scales, const at::Tensor &viewmats,
                                       const at::Tensor &Ks, int64_t width, int64_t height, double eps2d,
                                       double near_plane, double far_plane, double radius_clip,
                                       bool calc_compensations, int64_t num_threads) {
    check_cpu_contig(means, "means");
    check_cpu_contig(viewmats, "viewmats");
    check_cpu_contig(Ks, "Ks");
    const auto dtype = means.scalar_type();
    TORCH_CHECK(means.dim() == 2 && means.size(1) == 3, "means must be [N, 3]");
    const int64_t N = means.size(0), C = viewmats.size(0);
    TORCH_CHECK(viewmats.dim() == 3 && viewmats.size(1) == 4 && viewmats.size(2) == 4, "viewmats must be [C, 4, 4]");
    TORCH_CHECK(Ks.dim() == 3 && Ks.size(0) == C && Ks.size(1) == 3 && Ks.size(2) == 3, "Ks must be [C, 3, 3]");
    TORCH_CHECK(viewmats.scalar_type() == dtype && Ks.scalar_type() == dtype, "dtype mismatch");
    const bool use_cov = covars.has_value();
    if (use_cov) {
        check_cpu_contig(*covars, "covars");
        TORCH_CHECK(covars->scalar_type() == dtype && covars->numel() == N * 9, "covars must be [N, 3, 3]");
    } else {
        TORCH_CHECK(quats.has_value() && scales.has_value(), "quats and scales (or covars) are required");
        check_cpu_contig(*quats, "quats");
        check_cpu_contig(*scales, "scales");
        TORCH_CHECK(quats->scalar_type() == dtype && quats->numel() == N * 4, "quats must be [N, 4]");
        TORCH_CHECK(scales->scalar_type() == dtype && scales->numel() == N * 3, "scales must be [N, 3]");
    }
    const int nthreads = resolve_threads(num_threads);
    auto radii = at::empty({C, N}, means.options().dtype(at::kInt));
    auto means2d = at::empty({C, N, 2}, means.options());
    auto depths = at::empty({C, N}, means.options());
    auto conics = at::empty({C, N, 3}, means.options());
    auto comps = calc_compensations ? at::empty({C, N}, means.options()) : at::empty({0}, means.options());
    AT_DISPATCH_FLOATING_TYPES(dtype, "projection_fwd", [&] {
        projection_fwd_impl<scalar_t>(
            C, N, means.data_ptr<scalar_t>(), use_cov ? covars->data_ptr<scalar_t>() : nullptr,
            use_cov ? nullptr : quats->data_ptr<scalar_t>(), use_cov ? nullptr : scales->data_ptr<scalar_t>(),
            viewmats.data_ptr<scalar_t>(), Ks.data_ptr<scalar_t>(), int(width), int(height), eps2d, near_plane,
            far_plane, radius_clip, calc_compensations, nthreads, radii.data_ptr<int32_t>(),
            means2d.data_ptr<scalar_t>(), depths.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
            calc_compensations ? comps.data_ptr<scalar_t>() : nullptr);
    });
    return {radii, means2d, depths, conics, comps};
}

}  // namespace p2a
