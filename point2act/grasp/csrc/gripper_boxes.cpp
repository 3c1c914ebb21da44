// Gripper boxes against a cloud, for the grasp planner's collision checks
// (point2act.grasp.planner; reference: point2act.grasp.collide.gripper_cloud_hits_reference).
//
// Candidates are (pair k, approach angle t). Pair k's entries are the cloud
// points near it, in the pair's frame: sx along its closing axis x (from the
// pair's centre), su and sv across it. Approach angle t turns the gripper about
// x: the point's gripper coordinates are
//     x = sx - off[k, t],  y = su sin t - sv cos t,  z = su cos t + sv sin t.
// A box is given relative to the grasp (ax = |x|, zr = z - dep[k, t]):
//     ax in [xa0 + xh0 * hh[k, t], xa1 + xh1 * hh[k, t]],  |y| <= y_half,
//     zr in [z_lo, z_hi];
// a point's excess over it per axis is (ex, ey, ez) >= 0. A "hit" box counts
// the points within `margin` of it (metric 0: Euclidean, sqrt(ex^2 + ey^2 +
// ez^2) <= margin; 1: per axis, max(ex, ey, ez) <= margin); a "distance" box
// gives the smallest Euclidean excess over the points. Only candidates with
// alive[k, t] are checked; a candidate stops counting at min_points unless a
// distance box needs every point.

#include "cpu.h"
#include "ops.h"

namespace p2a {
namespace {

struct Box {
    double xa0, xh0, xa1, xh1, y_half, z_lo, z_hi, margin;
    int metric, role;  // role 0: hit, 1: distance
};

// Counts one point (gripper-frame |x|, |y|, z relative to the TCP) against the boxes: true when it is
// within a HIT box's margin; a DISTANCE box lowers `best`.
inline bool point_in_boxes(double ax, double ay, double zr, double h, const std::vector<Box> &boxes, double &best) {
    bool hit = false;
    for (const Box &b : boxes) {
        const double xlo = b.xa0 + b.xh0 * h, xhi = b.xa1 + b.xh1 * h;
        const double ex = std::max(std::max(xlo - ax, ax - xhi), 0.0);
        const double ey = std::max(ay - b.y_half, 0.0);
        const double ez = std::max(std::max(b.z_lo - zr, zr - b.z_hi), 0.0);
        if (b.role == 1) {
            best = std::min(best, std::sqrt(ex * ex + ey * ey + ez * ez));
        } else if (b.metric == 0 ? ex * ex + ey * ey + ez * ez <= b.margin * b.margin
                                 : std::max(std::max(ex, ey), ez) <= b.margin) {
            hit = true;
        }
    }
    return hit;
}

// Pair k's points are the cloud points within `radius`
// of its centre c[k] whose |sx| lies in [band_lo[k], band_hi[k]] (sx, su, sv: the point minus c[k] along
// the pair's axes x[k], u[k], v[k]). Each pair scans the cloud once; it stops when every live approach
// has min_points hits (unless a DISTANCE box needs every point).
void gripper_cloud_hits_impl(int64_t K, int64_t T, int64_t M, const double *c, const double *xa, const double *ua,
                             const double *va, const double *cloud, double radius, const double *band_lo,
                             const double *band_hi, const double *cos_t, const double *sin_t, const bool *alive,
                             const double *off, const double *hh, const double *dep, const std::vector<Box> &boxes,
                             int64_t min_points, int nthreads, int32_t *hits, float *clear) {
    bool want_dist = false;
    for (const Box &b : boxes) want_dist |= b.role == 1;
    const double r2 = radius * radius;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
    for (int64_t k = 0; k < K; ++k) {
        std::vector<int32_t> n(T, 0);
        std::vector<double> best(T, std::numeric_limits<double>::infinity());
        int64_t open = 0;
        for (int64_t t = 0; t < T; ++t) open += alive[k * T + t];
        const double *ck = c + 3 * k, *xk = xa + 3 * k, *uk = ua + 3 * k, *vk = va + 3 * k;
        for (int64_t j = 0; j < M && (open > 0 || want_dist); ++j) {
            const double d0 = cloud[3 * j] - ck[0], d1 = cloud[3 * j + 1] - ck[1], d2 = cloud[3 * j + 2] - ck[2];
            if (d0 * d0 + d1 * d1 + d2 * d2 > r2) continue;
            const double sx = d0 * xk[0] + d1 * xk[1] + d2 * xk[2];
            if (std::abs(sx) < band_lo[k] || std::abs(sx) > band_hi[k]) continue;
            const double u = d0 * uk[0] + d1 * uk[1] + d2 * uk[2];
            const double v = d0 * vk[0] + d1 * vk[1] + d2 * vk[2];
            for (int64_t t = 0; t < T; ++t) {
                const int64_t kt = k * T + t;
                if (!alive[kt] || (n[t] >= min_points && !want_dist)) continue;
                const double ax = std::abs(sx - off[kt]);
                const double ay = std::abs(u * sin_t[t] - v * cos_t[t]);
                const double zr = u * cos_t[t] + v * sin_t[t] - dep[kt];
                if (point_in_boxes(ax, ay, zr, hh[kt], boxes, best[t]) && n[t] < min_points) {
                    if (++n[t] >= min_points) --open;
                }
            }
        }
        for (int64_t t = 0; t < T; ++t) {
            hits[k * T + t] = alive[k * T + t] ? n[t] : 0;
            clear[k * T + t] = alive[k * T + t] ? float(best[t]) : std::numeric_limits<float>::infinity();
        }
    }
}

}  // namespace

std::vector<at::Tensor> gripper_cloud_hits(const at::Tensor &centres, const at::Tensor &xa, const at::Tensor &ua,
                                           const at::Tensor &va, const at::Tensor &cloud, double radius,
                                           const at::Tensor &band_lo, const at::Tensor &band_hi,
                                           const at::Tensor &cos_t, const at::Tensor &sin_t, const at::Tensor &alive,
                                           const at::Tensor &off, const at::Tensor &hh, const at::Tensor &dep,
                                           const at::Tensor &boxes, int64_t min_points, int64_t num_threads) {
    for (const auto *p : {&centres, &xa, &ua, &va, &cloud, &band_lo, &band_hi, &cos_t, &sin_t, &alive, &off, &hh,
                          &dep, &boxes})
        check_cpu_contig(*p, "gripper_cloud_hits input");
    for (const auto *p : {&centres, &xa, &ua, &va, &cloud, &band_lo, &band_hi, &cos_t, &sin_t, &off, &hh, &dep, &boxes})
        TORCH_CHECK(p->scalar_type() == at::kDouble, "gripper_cloud_hits: float64 inputs expected");
    TORCH_CHECK(alive.scalar_type() == at::kBool, "alive must be bool");
    const int64_t K = centres.size(0), T = cos_t.size(0), M = cloud.size(0);
    TORCH_CHECK(centres.dim() == 2 && centres.size(1) == 3 && cloud.dim() == 2 && cloud.size(1) == 3, "[K, 3] / [M, 3]");
    TORCH_CHECK(xa.numel() == 3 * K && ua.numel() == 3 * K && va.numel() == 3 * K, "axes must be [K, 3]");
    TORCH_CHECK(band_lo.numel() == K && band_hi.numel() == K && sin_t.numel() == T, "band / angle sizes differ");
    TORCH_CHECK(alive.numel() == K * T && off.numel() == K * T && hh.numel() == K * T && dep.numel() == K * T,
                "alive, off, hh and dep must be [K, T]");
    TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 10, "boxes must be [B, 10]");
    TORCH_CHECK(min_points >= 1, "min_points must be >= 1");
    std::vector<Box> bx;
    const double *b = boxes.data_ptr<double>();
    for (int64_t i = 0; i < boxes.size(0); ++i, b += 10)
        bx.push_back({b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], int(b[8]), int(b[9])});
    auto hits = at::empty({K, T}, alive.options().dtype(at::kInt));
    auto clear = at::empty({K, T}, centres.options().dtype(at::kFloat));
    gripper_cloud_hits_impl(K, T, M, centres.data_ptr<double>(), xa.data_ptr<double>(), ua.data_ptr<double>(),
                            va.data_ptr<double>(), cloud.data_ptr<double>(), radius, band_lo.data_ptr<double>(),
                            band_hi.data_ptr<double>(), cos_t.data_ptr<double>(), sin_t.data_ptr<double>(),
                            alive.data_ptr<bool>(), off.data_ptr<double>(), hh.data_ptr<double>(),
                            dep.data_ptr<double>(), bx, min_points, resolve_threads(num_threads),
                            hits.data_ptr<int32_t>(), clear.data_ptr<float>());
    return {hits, clear};
}

}  // namespace p2a
