// Hits and misses of an occupancy grid's cells against depth maps (point2act.grasp.occupancy; reference:
// point2act.grasp.occupancy.occupancy_counts_reference, whose float32 expressions this file computes in the
// same order, so that the two agree exactly).
//
// Cell (i, j, k) has its centre at (ax[i], ay[j], az[k]) about the grid's middle; view c sees it at
// cam = R[:, 0] ax[i] + ((R[:, 1] ay[j] + R[:, 2] az[k]) + t), z = cam[2]; where z > near and its pixel
// (u, v) = (fx cam0 / z + cx, fy cam1 / z + cy) lies in the image with a measured depth d > 0, delta = z - d
// is a miss below -front and a hit up to back.

#include "ops.h"

namespace p2a {
namespace {

__attribute__((optimize("fp-contract=off"))) void occupancy_counts_impl(
    int64_t C, int64_t H, int64_t W, const float *depth, const float *R, const float *t, const float *intr,
    int64_t nx, int64_t ny, int64_t nz, const float *ax, const float *ay, const float *az, float near, float front,
    float back, int nthreads, int16_t *hits, int16_t *misses) {
    const float Wf = float(W), Hf = float(H);
    for (int64_t c = 0; c < C; ++c) {
        const float *Rc = R + 9 * c, *tc = t + 3 * c, *d_img = depth + c * H * W;
        const float fx = intr[4 * c], fy = intr[4 * c + 1], cx = intr[4 * c + 2], cy = intr[4 * c + 3];
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int64_t i = 0; i < nx; ++i) {
            const float x = ax[i];
            const float a0 = Rc[0] * x, a1 = Rc[3] * x, a2 = Rc[6] * x;
            for (int64_t j = 0; j < ny; ++j) {
                const float y = ay[j];
                const float b0 = Rc[1] * y, b1 = Rc[4] * y, b2 = Rc[7] * y;
                const int64_t base = (i * ny + j) * nz;
                for (int64_t k = 0; k < nz; ++k) {
                    const float z_ = az[k];
                    const float e0 = Rc[2] * z_, e1 = Rc[5] * z_, e2 = Rc[8] * z_;
                    const float y2 = (b2 + e2) + tc[2];
                    const float z = a2 + y2;
                    if (!(z > near)) continue;
                    const float y0 = (b0 + e0) + tc[0], y1 = (b1 + e1) + tc[1];
                    const float c0 = a0 + y0, c1 = a1 + y1;
                    const float p0 = fx * c0, p1 = fy * c1;
                    const float u = p0 / z + cx, v = p1 / z + cy;
                    if (!(u >= 0.0f && u < Wf && v >= 0.0f && v < Hf)) continue;
                    const float d = d_img[int64_t(v) * W + int64_t(u)];
                    if (!(d > 0.0f)) continue;
                    const float delta = z - d;
                    if (delta < -front)
                        ++misses[base + k];
                    else if (delta <= back)
                        ++hits[base + k];
                }
            }
        }
    }
}

}  // namespace

py::tuple occupancy_counts(const py::array &depth, const py::array &R, const py::array &t, const py::array &intr,
                           const py::array &ax, const py::array &ay, const py::array &az, double near, double front,
                           double back, int64_t num_threads) {
    const char *what = "occupancy_counts: C-contiguous float32 inputs expected";
    for (const auto *a : {&depth, &R, &t, &intr, &ax, &ay, &az}) check(is<float>(*a), what);
    check(depth.ndim() == 3, "occupancy_counts: depth [C, H, W]");
    const int64_t C = depth.shape(0), H = depth.shape(1), W = depth.shape(2);
    check(R.size() == 9 * C && t.size() == 3 * C && intr.size() == 4 * C,
          "occupancy_counts: R [C, 3, 3], t [C, 3], intr [C, 4] (fx, fy, cx, cy)");
    const int64_t nx = ax.size(), ny = ay.size(), nz = az.size();
    int16_t *h, *m;
    auto hits = output<int16_t>({nx, ny, nz}, h), misses = output<int16_t>({nx, ny, nz}, m);
    const float *d_ = input<float>(depth, what), *R_ = input<float>(R, what), *t_ = input<float>(t, what);
    const float *i_ = input<float>(intr, what), *ax_ = input<float>(ax, what), *ay_ = input<float>(ay, what);
    const float *az_ = input<float>(az, what);
    const int nthreads = resolve_threads(num_threads);
    {
        py::gil_scoped_release nogil;
        std::fill(h, h + nx * ny * nz, int16_t(0));
        std::fill(m, m + nx * ny * nz, int16_t(0));
        occupancy_counts_impl(C, H, W, d_, R_, t_, i_, nx, ny, nz, ax_, ay_, az_, float(near), float(front),
                              float(back), nthreads, h, m);
    }
    return py::make_tuple(hits, misses);
}

}  // namespace p2a
