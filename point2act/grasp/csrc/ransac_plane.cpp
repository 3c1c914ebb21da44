// The support of each RANSAC plane: how many points lie within the threshold of it and the sum of their distances
// (point2act.grasp.surface.ransac_plane; reference: point2act.grasp.surface.ransac_plane_reference, whose float64
// expressions this file computes in the same order, so that the two agree exactly).
//
// Plane i (unit normal n = nrm[i], offset off[i]) and point p: dist = |((p0 n0 + p1 n1) + p2 n2) + off[i]|, the
// point inside where dist < threshold; count[i] is the number inside, err[i] the sum of their distances added in
// point order (numpy's sum over the rows of an [N, w] array, w > 1, adds them in that order too). A plane whose
// ok[i] is 0 (a draw without a plane) gets 0 and 0. The planes are scored in blocks of kBlock, a block's planes
// side by side for each point (SIMD across planes, each plane's sum sequential over the points), the blocks
// spread over the threads: the same bits under any thread count.

#include "ops.h"

namespace p2a {
namespace {

constexpr int64_t kBlock = 8;

// Planes [i0, i0 + kBlock) (normals and offsets padded to a whole block) against every point.
__attribute__((optimize("fp-contract=off"))) void score_block(const double *P, int64_t N, const double *n0,
                                                                const double *n1, const double *n2,
                                                                const double *off, double threshold,
                                                                int64_t *count, double *err) {
    double acc[kBlock], a0[kBlock], a1[kBlock], a2[kBlock], o[kBlock];
    int64_t cnt[kBlock];
    for (int64_t j = 0; j < kBlock; ++j) {
        acc[j] = 0.0;
        cnt[j] = 0;
        a0[j] = n0[j];
        a1[j] = n1[j];
        a2[j] = n2[j];
        o[j] = off[j];
    }
    for (int64_t i = 0; i < N; ++i) {
        const double x = P[3 * i], y = P[3 * i + 1], z = P[3 * i + 2];
        for (int64_t j = 0; j < kBlock; ++j) {
            const double d = std::fabs(((x * a0[j] + y * a1[j]) + z * a2[j]) + o[j]);
            const bool inside = d < threshold;
            acc[j] += inside ? d : 0.0;
            cnt[j] += inside ? 1 : 0;
        }
    }
    for (int64_t j = 0; j < kBlock; ++j) {
        count[j] = cnt[j];
        err[j] = acc[j];
    }
}

}  // namespace

py::tuple ransac_plane_scores(const py::array &P, const py::array &nrm, const py::array &off, const py::array &ok,
                              double threshold, int64_t num_threads) {
    const char *what = "ransac_plane_scores: C-contiguous float64 P, nrm and off, bool ok expected";
    check(P.ndim() == 2 && P.shape(1) == 3, "ransac_plane_scores: P [N, 3]");
    check(nrm.ndim() == 2 && nrm.shape(1) == 3, "ransac_plane_scores: nrm [I, 3]");
    const int64_t N = P.shape(0), I = nrm.shape(0);
    check(off.ndim() == 1 && off.shape(0) == I && ok.ndim() == 1 && ok.shape(0) == I,
          "ransac_plane_scores: off [I], ok [I]");
    const double *P_ = input<double>(P, what), *n_ = input<double>(nrm, what), *o_ = input<double>(off, what);
    const bool *ok_ = input<bool>(ok, what);
    int64_t *c;
    double *e;
    auto count = output<int64_t>({I}, c);
    auto err = output<double>({I}, e);
    const int nthreads = resolve_threads(num_threads);
    {
        py::gil_scoped_release nogil;
        const int64_t nb = (I + kBlock - 1) / kBlock;
        // structure of arrays, padded with planes that are never reported
        std::vector<double> soa(4 * nb * kBlock, 0.0);
        double *n0 = soa.data(), *n1 = n0 + nb * kBlock, *n2 = n1 + nb * kBlock, *of = n2 + nb * kBlock;
        for (int64_t i = 0; i < I; ++i) {
            n0[i] = n_[3 * i];
            n1[i] = n_[3 * i + 1];
            n2[i] = n_[3 * i + 2];
            of[i] = o_[i];
        }
        std::vector<int64_t> cnt(nb * kBlock);
        std::vector<double> acc(nb * kBlock);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t i0 = b * kBlock;
            score_block(P_, N, n0 + i0, n1 + i0, n2 + i0, of + i0, threshold, cnt.data() + i0, acc.data() + i0);
        }
        for (int64_t i = 0; i < I; ++i) {
            c[i] = ok_[i] ? cnt[i] : 0;
            e[i] = ok_[i] ? acc[i] : 0.0;
        }
    }
    return py::make_tuple(count, err);
}

}  // namespace p2a
