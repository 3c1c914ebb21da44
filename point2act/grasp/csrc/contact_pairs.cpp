// Contact-pair candidates: for each seed, the surface points whose distance from it lies in [min_width,
// max_opening] and whose line to it is inside the seed's friction cone (point2act.grasp.planner
// .sample_contact_pairs, whose exact, elementwise tests then decide; this kernel is a prefilter looser by
// a relative 1e-6 than those tests, so that it keeps every pair they accept).
//
// Output: (i, j) index pairs into the seeds and the points, seed by seed, each seed's points in ascending
// order (the order in which the planner's stable sorts, keyed on the seed first, see them).

#include "ops.h"

namespace p2a {
namespace {

void contact_candidates_impl(int64_t S, int64_t M, const double *Ps, const double *Ns, const double *Q, double hi2,
                             double lo2, double cos2, int nthreads, std::vector<std::vector<int32_t>> &out) {
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 8)
    for (int64_t i = 0; i < S; ++i) {
        const double s0 = Ps[3 * i], s1 = Ps[3 * i + 1], s2 = Ps[3 * i + 2];
        const double n0 = Ns[3 * i], n1 = Ns[3 * i + 1], n2 = Ns[3 * i + 2];
        std::vector<int32_t> &o = out[i];
        for (int64_t j = 0; j < M; ++j) {
            const double d0 = Q[3 * j] - s0, d1 = Q[3 * j + 1] - s1, d2 = Q[3 * j + 2] - s2;
            const double sq = d0 * d0 + d1 * d1 + d2 * d2;
            if (!(sq <= hi2 && sq >= lo2)) continue;
            const double dn = d0 * n0 + d1 * n1 + d2 * n2;
            if (dn * dn >= cos2 * sq) o.push_back(int32_t(j));
        }
    }
}

}  // namespace

py::tuple contact_candidates(const py::array &Ps, const py::array &Ns, const py::array &Q, double max_width,
                             double min_width, double cos_angle, int64_t num_threads) {
    const char *what = "contact_candidates: C-contiguous float64 [S, 3] seeds, normals and [M, 3] points expected";
    for (const auto *a : {&Ps, &Ns, &Q}) check(is<double>(*a) && a->ndim() == 2 && a->shape(1) == 3, what);
    const int64_t S = Ps.shape(0), M = Q.shape(0);
    check(Ns.shape(0) == S, "contact_candidates: one normal per seed");
    check(M < (int64_t(1) << 31), "contact_candidates: at most 2^31 points");
    const double *ps = input<double>(Ps, what), *ns = input<double>(Ns, what), *q = input<double>(Q, what);
    const double slack = 1e-6;
    const int nthreads = resolve_threads(num_threads);
    std::vector<std::vector<int32_t>> out(S);
    int64_t E = 0;
    {
        py::gil_scoped_release nogil;
        contact_candidates_impl(S, M, ps, ns, q, max_width * max_width * (1 + slack),
                                min_width * min_width * (1 - slack), cos_angle * cos_angle * (1 - slack), nthreads,
                                out);
        for (const auto &o : out) E += int64_t(o.size());
    }
    int64_t *pi, *pj;
    auto ii = output<int64_t>({E}, pi), jj = output<int64_t>({E}, pj);
    {
        py::gil_scoped_release nogil;
        for (int64_t i = 0, e = 0; i < S; ++i)
            for (int32_t j : out[i]) {
                pi[e] = i;
                pj[e++] = j;
            }
    }
    return py::make_tuple(ii, jj);
}

}  // namespace p2a
