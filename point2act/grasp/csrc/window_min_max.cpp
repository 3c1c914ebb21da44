// The smallest or largest value over each pixel's size x size window of an image, its edges repeated
// (point2act.grasp.window; reference: point2act.grasp.window._window_reference, and scipy.ndimage's
// minimum_filter / maximum_filter with mode="nearest"). A minimum or maximum picks one of its inputs: the three
// agree exactly on images without NaN, down to the sign of a zero (each scan takes the later of equal values).
//
// Separable: output row i is, for each column, the extreme of rows clamp(i - r .. i + r) (r = size / 2), then
// along the row the extreme of columns clamp(j - r .. j + r), from a row buffer with r copies of its end
// values on either side. Each output row is computed on its own (OpenMP over rows), so the result does not
// depend on the thread count; num_threads <= 0 takes OpenMP's default count, at most one thread per 2^18 pixels.

#include "ops.h"

namespace p2a {
namespace {

// The extreme of the running one `a` and the next value `b`, `b` on a tie (np.minimum / np.maximum's choice,
// and scipy's: of 0.0 and -0.0, the later in the scan).
template <class T, bool Max>
inline T pick(T a, T b) {
    if constexpr (Max)
        return a > b ? a : b;
    else
        return a < b ? a : b;
}

template <class T, bool Max>
void window_impl(int64_t H, int64_t W, int64_t r, const T *a, int nthreads, T *out) {
    const int64_t n = 2 * r + 1;
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<T> buf(W + 2 * r);  // the column extremes of one row, r end copies on either side
        T *col = buf.data() + r;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < H; ++i) {
            const T *first = a + std::max<int64_t>(i - r, 0) * W;
            std::copy(first, first + W, col);
            const int64_t last = std::min<int64_t>(i + r, H - 1);
            for (int64_t k = std::max<int64_t>(i - r, 0) + 1; k <= last; ++k) {
                const T *row = a + k * W;
                for (int64_t j = 0; j < W; ++j) col[j] = pick<T, Max>(col[j], row[j]);
            }
            std::fill(buf.data(), col, col[0]);
            std::fill(col + W, col + W + r, col[W - 1]);
            T *o = out + i * W;
            std::copy(buf.data(), buf.data() + W, o);
            for (int64_t k = 1; k < n; ++k) {
                const T *b = buf.data() + k;
                for (int64_t j = 0; j < W; ++j) o[j] = pick<T, Max>(o[j], b[j]);
            }
        }
    }
}

template <class T>
py::array_t<T> window_typed(const py::array &a, int64_t size, bool is_max, int64_t num_threads) {
    const int64_t H = a.shape(0), W = a.shape(1), r = size / 2;
    const T *a_ = input<T>(a, "window_min_max: a C-contiguous float32 or float64 image [H, W] expected");
    T *o;
    auto out = output<T>({H, W}, o);
    // The default team has at most one thread per 2^18 pixels: a 192 x 256 image (20-40 us of work) runs on
    // one, where a team's start would cost more than it saves, and far more on a busy machine.
    const int nthreads = num_threads > 0 ? resolve_threads(num_threads)
                                         : int(std::clamp<int64_t>((H * W) >> 18, 1, resolve_threads(num_threads)));
    if (H * W == 0) return out;
    {
        py::gil_scoped_release nogil;
        if (is_max)
            window_impl<T, true>(H, W, r, a_, nthreads, o);
        else
            window_impl<T, false>(H, W, r, a_, nthreads, o);
    }
    return out;
}

}  // namespace

py::array window_min_max(const py::array &a, int64_t size, bool is_max, int64_t num_threads) {
    check(a.ndim() == 2, "window_min_max: a [H, W] expected");
    check(size >= 1 && size % 2 == 1, "window_min_max: an odd size >= 1 expected");
    if (is<float>(a)) return window_typed<float>(a, size, is_max, num_threads);
    return window_typed<double>(a, size, is_max, num_threads);
}

}  // namespace p2a
