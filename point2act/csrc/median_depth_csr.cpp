// The field's median depth per pixel from a view's compositing weights (CSR, one row per pixel):
// point2act.grasp.consensus.median_depth_map in C++, the same bits (point2act.relevancy_fit.median_depth_csr).
// Shapes: P = height * width rows (pixels), nnz entries, N Gaussians.

#include "cpu.h"
#include "relevancy_fit.h"

namespace p2a {
namespace {

// The numpy order of floats: ascending, NaN after every number (np.sort / np.lexsort), NaNs equal.
inline bool z_less(double a, double b) { return a < b || (!std::isnan(a) && std::isnan(b)); }

// For each row r of the CSR matrix (crow [P + 1], entries crow[r] - crow[0] ..
// crow[r + 1] - crow[0] of col / val): the depth z[col] of the first entry at which
// the running sum of the weights reaches 0.5, NaN when it never does. A row whose
// depths z[col] ever decrease from one entry to the next is first sorted by depth
// (stable, NaN last); the others stay in compositing order. As in the numpy
// function, the running sum is one float64 sum over all rows in that order and a
// row's sum is the difference of the global sums at its end and before its start
// (so the bits match np.cumsum's; one sequential pass, no threads).
template <typename C, typename V>
void median_depth_csr_impl(int64_t P, int64_t N, const int64_t *crow, const C *col, const V *val,
                           const double *z, double *out) {
    const int64_t base = crow[0];
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto zat = [&](int64_t q) {
        const int64_t c = static_cast<int64_t>(col[q]);
        TORCH_CHECK(c >= 0 && c < N, "col entries must lie in [0, len(z))");
        return z[c];
    };
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
}

}  // namespace

// Returns the median depth [height, width] float64 (NaN where the weights never sum to 0.5).
at::Tensor median_depth_csr(const at::Tensor &crow,  // [>= height * width + 1] int64, may not start at 0
                            const at::Tensor &col,   // [nnz] int32 or int64, Gaussian of each entry
                            const at::Tensor &val,   // [nnz] float32 or float64, weights alpha * T
                            const at::Tensor &z,     // [N] float64, camera depth of each Gaussian
                            int64_t height, int64_t width) {
    check_cpu_contig(crow, "crow");
    check_cpu_contig(col, "col");
    check_cpu_contig(val, "val");
    check_cpu_contig(z, "z");
    TORCH_CHECK(crow.scalar_type() == at::kLong, "crow must be int64");
    TORCH_CHECK(col.scalar_type() == at::kInt || col.scalar_type() == at::kLong, "col must be int32 or int64");
    TORCH_CHECK(val.scalar_type() == at::kFloat || val.scalar_type() == at::kDouble, "val must be float32 or float64");
    TORCH_CHECK(z.scalar_type() == at::kDouble, "z must be float64");
    TORCH_CHECK(height >= 0 && width >= 0, "height and width must be >= 0");
    const int64_t P = height * width, nnz = col.numel(), N = z.numel();
    TORCH_CHECK(val.numel() == nnz, "val must have one entry per col entry");
    auto out = at::empty({height, width}, z.options());
    double *o = out.data_ptr<double>();
    if (nnz == 0) {
        std::fill(o, o + P, std::numeric_limits<double>::quiet_NaN());
        return out;
    }
    TORCH_CHECK(crow.numel() >= P + 1, "crow must have height * width + 1 entries");
    const int64_t *c = crow.data_ptr<int64_t>();
    for (int64_t r = 0; r < P; ++r) TORCH_CHECK(c[r + 1] >= c[r], "crow must not decrease");
    TORCH_CHECK(c[P] - c[0] == nnz, "crow[height * width] - crow[0] must equal nnz");
    const double *zp = z.data_ptr<double>();
    if (col.scalar_type() == at::kInt) {
        if (val.scalar_type() == at::kFloat)
            median_depth_csr_impl(P, N, c, col.data_ptr<int32_t>(), val.data_ptr<float>(), zp, o);
        else
            median_depth_csr_impl(P, N, c, col.data_ptr<int32_t>(), val.data_ptr<double>(), zp, o);
    } else {
        if (val.scalar_type() == at::kFloat)
            median_depth_csr_impl(P, N, c, col.data_ptr<int64_t>(), val.data_ptr<float>(), zp, o);
        else
            median_depth_csr_impl(P, N, c, col.data_ptr<int64_t>(), val.data_ptr<double>(), zp, o);
    }
    return out;
}

}  // namespace p2a
