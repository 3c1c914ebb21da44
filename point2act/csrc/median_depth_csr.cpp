// The field's median depth per pixel from a view's compositing weights (CSR, one row per pixel):
// point2act.where.consensus.median_depth_map in C++, the same bits (point2act.requery.fit_numpy.median_depth_csr).
// Shapes: P = height * width rows (pixels), nnz entries, N Gaussians.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "relevancy_fit.h"

namespace p2a {
namespace {

// The numpy order of floats: ascending, NaN after every number (np.sort / np.lexsort), NaNs equal.
inline bool z_less(double a, double b) { return a < b || (!std::isnan(a) && std::isnan(b)); }

}  // namespace

// For each row r of the CSR matrix (crow [P + 1], entries crow[r] - crow[0] ..
// crow[r + 1] - crow[0] of col / val): the depth z[col] of the first entry at which
// the running sum of the weights reaches 0.5, NaN when it never does. A row whose
// depths z[col] ever decrease from one entry to the next is first sorted by depth
// (stable, NaN last); the others stay in compositing order. As in the numpy
// function, the running sum is one float64 sum over all rows in that order and a
// row's sum is the difference of the global sums at its end and before its start
// (so the bits match np.cumsum's; one sequential pass, no threads).
template <typename C, typename V>
const char *median_depth_csr_impl(int64_t P, int64_t N, const int64_t *crow, const C *col, const V *val,
                                  const double *z, double *out) {
    const int64_t base = crow[0];
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (int64_t q = 0; q < crow[P] - base; ++q)
        if (static_cast<int64_t>(col[q]) < 0 || static_cast<int64_t>(col[q]) >= N)
            return "col entries must lie in [0, len(z))";
    auto zat = [&](int64_t q) { return z[static_cast<int64_t>(col[q])]; };
    std::vector<int64_t> idx;  // a sorted row's entries
    std::vector<double> zr;    // their depths
    double cs = 0.0;           // the global running sum (np.cumsum)
    for (int64_t r = 0; r < P; ++r) {
        const int64_t q0 = crow[r] - base, q1 = crow[r + 1] - base;
        const double before = cs;
        double depth = nan;
        bool hit = false, sorted = true;
        // one pass in compositing order; the first decrease of the depth stops it (no z is < -inf)
        double prev = -std::numeric_limits<double>::infinity();
        for (int64_t q = q0; q < q1; ++q) {
            const double zq = zat(q);
            if (zq < prev) {
                sorted = false;
                break;
            }
            prev = zq;
            cs += static_cast<double>(val[q]);
            if (!hit && cs - before >= 0.5) {
                hit = true;
                depth = zq;
            }
        }
        if (!sorted) {  // the row again from its start, in depth order
            cs = before;
            hit = false;
            depth = nan;
            const int64_t n = q1 - q0;
            idx.resize(n);
            zr.resize(n);
            for (int64_t k = 0; k < n; ++k) {
                idx[k] = k;
                zr[k] = zat(q0 + k);
            }
            std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return z_less(zr[a], zr[b]); });
            for (int64_t k = 0; k < n; ++k) {
                cs += static_cast<double>(val[q0 + idx[k]]);
                if (!hit && cs - before >= 0.5) {
                    hit = true;
                    depth = zr[idx[k]];
                }
            }
        }
        out[r] = depth;
    }
    return "";
}

template const char *median_depth_csr_impl(int64_t, int64_t, const int64_t *, const int32_t *, const float *,
                                           const double *, double *);
template const char *median_depth_csr_impl(int64_t, int64_t, const int64_t *, const int32_t *, const double *,
                                           const double *, double *);
template const char *median_depth_csr_impl(int64_t, int64_t, const int64_t *, const int64_t *, const float *,
                                           const double *, double *);
template const char *median_depth_csr_impl(int64_t, int64_t, const int64_t *, const int64_t *, const double *,
                                           const double *, double *);

}  // namespace p2a
