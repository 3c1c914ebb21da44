// Depth maps fused into a truncated signed distance cube and its zero crossings (point2act.grasp.tsdf; reference:
// point2act.grasp.tsdf.tsdf_points_reference, whose float32 expressions this file computes in the same order, so
// that the two agree exactly).
//
// Voxel (x, y, z) of the cube (res per side, voxel length vl, corner `origin`) has its centre at origin + vl (x,
// y, z) + vl / 2. Each view, in order, projects it (float32: the camera point cam = E p, stepped along z by E's
// third column times vl), reads the depth d at its pixel (u, v) = (int(fx cam0 / cam2 + cx + 0.5), ...), and
// where d > 0 and the signed distance along the ray sdf = (d - cam2) sqrt(1 + ((u - cx) / fx)^2 + ((v - cy) /
// fy)^2) lies above -trunc, averages min(1, sdf / trunc) into the voxel (weight + 1). A zero crossing is a pair
// of neighbouring voxels along an axis, both with weight and |tsdf| < 0.98 (-0.98 included), of opposite signs:
// its point lies between their centres at the linear interpolation's zero. Points come in the order of the
// first voxel (x, then y, then z) and the axis.

#include "ops.h"

namespace p2a {
namespace {

struct Cube {
    int64_t res;
    double origin[3];
    double vl;
    float trunc;
};

__attribute__((optimize("fp-contract=off"))) void integrate_impl(int64_t C, int64_t H, int64_t W,
                                                                 const float *depth, const float *E,
                                                                 const float *intr, const Cube &cube, int nthreads,
                                                                 float *tsdf, float *weight) {
    const int64_t res = cube.res;
    const float vl = float(cube.vl), half = vl * 0.5f, trunc = cube.trunc, trunc_inv = 1.0f / trunc;
    const float safe_w = float(W) - 0.0001f, safe_h = float(H) - 0.0001f;
    // per view: the ray-length factor of each column and row
    std::vector<float> xx(C * W), yy(C * H);
    for (int64_t c = 0; c < C; ++c) {
        const float fx = intr[4 * c], fy = intr[4 * c + 1], cx = intr[4 * c + 2], cy = intr[4 * c + 3];
        const float ifx = 1.0f / fx, ify = 1.0f / fy;
        for (int64_t j = 0; j < W; ++j) xx[c * W + j] = (float(j) - cx) * ifx;
        for (int64_t i = 0; i < H; ++i) yy[c * H + i] = (float(i) - cy) * ify;
    }
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t xy = 0; xy < res * res; ++xy) {
        const int64_t x = xy / res, y = xy % res;
        const float p0 = float(double(half + vl * float(x)) + cube.origin[0]);
        const float p1 = float(double(half + vl * float(y)) + cube.origin[1]);
        const float p2 = float(double(half) + cube.origin[2]);
        float *col_t = tsdf + xy * res, *col_w = weight + xy * res;
        for (int64_t c = 0; c < C; ++c) {
            const float *e = E + 16 * c, *d_img = depth + c * H * W;
            const float fx = intr[4 * c], fy = intr[4 * c + 1], cx = intr[4 * c + 2], cy = intr[4 * c + 3];
            float c0 = ((e[0] * p0 + e[1] * p1) + e[2] * p2) + e[3];
            float c1 = ((e[4] * p0 + e[5] * p1) + e[6] * p2) + e[7];
            float c2 = ((e[8] * p0 + e[9] * p1) + e[10] * p2) + e[11];
            const float s0 = e[2] * vl, s1 = e[6] * vl, s2 = e[10] * vl;
            for (int64_t z = 0; z < res; ++z, c0 += s0, c1 += s1, c2 += s2) {
                if (c2 <= 0.0f) continue;
                const float u_f = (c0 * fx) / c2 + cx + 0.5f;
                const float v_f = (c1 * fy) / c2 + cy + 0.5f;
                if (!(u_f >= 0.0001f && u_f < safe_w && v_f >= 0.0001f && v_f < safe_h)) continue;
                const int64_t u = int64_t(u_f), v = int64_t(v_f);
                const float d = d_img[v * W + u];
                if (d <= 0.0f) continue;
                const float a = xx[c * W + u], b = yy[c * H + v];
                const float sdf = (d - c2) * std::sqrt((a * a + b * b) + 1.0f);
                if (sdf > -trunc) {
                    const float t = std::min(1.0f, sdf * trunc_inv);
                    col_t[z] = (col_t[z] * col_w[z] + t) / (col_w[z] + 1.0f);
                    col_w[z] += 1.0f;
                }
            }
        }
    }
}

inline bool surface_voxel(const float *tsdf, const float *weight, int64_t i) {
    const float f = tsdf[i];
    return weight[i] != 0.0f && f < 0.98f && f >= -0.98f;
}

__attribute__((optimize("fp-contract=off"))) std::vector<double> crossings_impl(
    const float *tsdf, const float *weight, const Cube &cube, int nthreads) {
    const int64_t res = cube.res;
    const double vl = cube.vl, half = vl * 0.5;
    const int64_t inner = std::max<int64_t>(res - 2, 0);
    std::vector<std::vector<double>> slabs(inner);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic)
    for (int64_t k = 0; k < inner; ++k) {
        const int64_t x = k + 1;
        std::vector<double> &out = slabs[k];
        for (int64_t y = 1; y < res - 1; ++y)
            for (int64_t z = 1; z < res - 1; ++z) {
                const int64_t i0 = (x * res + y) * res + z;
                if (!surface_voxel(tsdf, weight, i0)) continue;
                const float f0 = tsdf[i0];
                const int64_t idx[3] = {x, y, z};
                const double p0[3] = {half + vl * double(x), half + vl * double(y), half + vl * double(z)};
                const int64_t stride[3] = {res * res, res, 1};
                for (int a = 0; a < 3; ++a) {
                    if (idx[a] + 1 >= res - 1) continue;
                    const int64_t i1 = i0 + stride[a];
                    if (!surface_voxel(tsdf, weight, i1)) continue;
                    const float f1 = tsdf[i1];
                    if (!(f0 * f1 < 0.0f)) continue;
                    const float r0 = std::fabs(f0), r1 = std::fabs(f1);
                    double p[3] = {p0[0], p0[1], p0[2]};
                    p[a] = (p0[a] * double(r1) + (p0[a] + vl) * double(r0)) / double(r0 + r1);
                    for (int q = 0; q < 3; ++q) out.push_back(p[q] + cube.origin[q]);
                }
            }
    }
    std::vector<double> all;
    for (auto &s : slabs) all.insert(all.end(), s.begin(), s.end());
    return all;
}

}  // namespace

py::array_t<double> tsdf_fuse(const py::array &depth, const py::array &E, const py::array &intr,
                              const py::array &origin, double voxel, int64_t res, double trunc,
                              int64_t num_threads) {
    const char *what = "tsdf_fuse: C-contiguous float32 depth, E and intr, float64 origin expected";
    check(depth.ndim() == 3, "tsdf_fuse: depth [C, H, W]");
    const int64_t C = depth.shape(0), H = depth.shape(1), W = depth.shape(2);
    check(E.size() == 16 * C && intr.size() == 4 * C && origin.size() == 3,
          "tsdf_fuse: E [C, 4, 4], intr [C, 4] (fx, fy, cx, cy), origin [3]");
    check(res >= 1 && res <= 1024 && voxel > 0.0 && trunc > 0.0, "tsdf_fuse: 1 <= res <= 1024, voxel > 0, trunc > 0");
    const float *d_ = input<float>(depth, what), *E_ = input<float>(E, what), *i_ = input<float>(intr, what);
    const double *o_ = input<double>(origin, what);
    const Cube cube{res, {o_[0], o_[1], o_[2]}, voxel, float(trunc)};
    const int nthreads = resolve_threads(num_threads);
    std::vector<double> pts;
    {
        py::gil_scoped_release nogil;
        std::vector<float> tsdf(res * res * res, 0.0f), weight(res * res * res, 0.0f);
        integrate_impl(C, H, W, d_, E_, i_, cube, nthreads, tsdf.data(), weight.data());
        pts = crossings_impl(tsdf.data(), weight.data(), cube, nthreads);
    }
    double *p;
    auto out = output<double>({py::ssize_t(pts.size() / 3), 3}, p);
    std::copy(pts.begin(), pts.end(), p);
    return out;
}

}  // namespace p2a
