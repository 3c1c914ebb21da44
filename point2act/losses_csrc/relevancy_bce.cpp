// The relevancy loss of training in one pass (see relevancy_bce.h): the value and the gradient w.r.t. the
// rendered relevancy, which torch computes with about twenty elementwise kernels and their backward.

#include "relevancy_bce.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu.h"

namespace p2a {
namespace {

constexpr int64_t BLOCK = 8192;  // pixels per partial sum: the block order fixes the summation order
constexpr int64_t THREADED = 1 << 18;  // fewer pixels run on one thread (a 256x192 view in tens of microseconds):
                                       // on a busy 2-core machine a barrier waiting for a descheduled thread costs ms

// Natural logarithm of a positive normal float, branch-free so that the pixel loop vectorises (glibc's logf is
// a call per value): x = m 2^e with m in [sqrt(1/2), sqrt(2)), log x = e log 2 + log1p(m - 1), log1p by Cephes'
// logf polynomial (relative error about 1e-7 on [1e-6, 1], tests/render/test_relevancy_bce.py).
__attribute__((optimize("no-trapping-math"))) inline float log_normal(float x) {
    uint32_t ix;
    std::memcpy(&ix, &x, sizeof ix);
    float e = float(int32_t(ix >> 23) - 126);                 // x = m' 2^e, m' in [1/2, 1)
    const uint32_t im = (ix & 0x007fffffu) | 0x3f000000u;
    float m;
    std::memcpy(&m, &im, sizeof m);
    const bool low = m < 0.70710678118654752f;
    // both arms computed, then selected: arithmetic under the condition is a branch (GCC does not speculate
    // floating-point operations), and the pixel loop would not vectorise
    const float e_low = e - 1.0f, m_low = m + m - 1.0f, m_high = m - 1.0f;
    e = low ? e_low : e;
    m = low ? m_low : m_high;                                // m in [sqrt(1/2) - 1, sqrt(2) - 1)
    const float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    return (m + y) + 0.693359375f * e;
}

}  // namespace

// no-trapping-math: the pixel loop's selects may compute both arms (its division, log_normal's two arms), so it
// vectorises; the values are the same, no floating-point exception is read.
__attribute__((optimize("no-trapping-math"))) std::vector<at::Tensor> relevancy_bce(
    const at::Tensor &pred, const at::Tensor &target, double pos_weight, double eps, int64_t num_threads) {
    check_cpu_contig(pred, "pred");
    check_cpu_contig(target, "target");
    TORCH_CHECK(pred.scalar_type() == at::kFloat && target.scalar_type() == at::kFloat,
                "pred and target must be float32");
    TORCH_CHECK(pred.numel() == target.numel(), "pred and target must have as many values");
    const int64_t P = pred.numel();
    const int64_t B = std::max<int64_t>(1, (P + BLOCK - 1) / BLOCK);
    auto grad = at::empty(pred.sizes(), pred.options());
    const float *p = pred.data_ptr<float>();
    const float *t = target.data_ptr<float>();
    float *g = grad.data_ptr<float>();
    const float lo_s = float(eps), hi_s = float(1.0 - eps), pw1 = float(pos_weight - 1.0);
    std::vector<double> loss_sum(B, 0.0), weight_sum(B, 0.0);
    const int nt = P >= THREADED ? resolve_threads(num_threads) : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
        const int64_t i0 = b * BLOCK, n = std::min(P, (b + 1) * BLOCK) - i0;
        const float lo = lo_s, hi = hi_s;  // the thread's own copies: std::min/max of the shared ones (by
                                           // reference) are loads under a condition, and the loop would not vectorise
        float wper[BLOCK], wt[BLOCK];
        // per pixel, vectorised: no reduction in this loop
        for (int64_t k = 0; k < n; ++k) {
            const float x = p[i0 + k], ti = t[i0 + k];
            const float lx = lo < x ? x : lo;  // std::min(hi, std::max(lo, x)), spelled out: std's functions are
            const float q = lx < hi ? lx : hi;  // not inlined into a function of other optimisation options
            const float w = 1.0f + pw1 * ti;
            // q and 1 - q lie in [eps, 1 - eps]: normal floats whose logarithms are above torch's floor of -100
            wper[k] = -w * (ti * log_normal(q) + (1.0f - ti) * log_normal(1.0f - q));
            wt[k] = w;
            // computed for every pixel and selected: a division under the condition is a branch (GCC does not
            // speculate a division), and the loop then runs one pixel at a time
            const float qq = q * (1.0f - q);
            const float gin = w * (q - ti) / (qq < 1e-12f ? 1e-12f : qq);  // std::max(q (1 - q), 1e-12)
            const bool inside = (x > lo) & (x < hi);  // torch's clamp passes no gradient at its bounds either
            g[i0 + k] = inside ? gin : 0.0f;
        }
        // the block's sums in float64, eight interleaved partial sums in a fixed order
        double ls[8] = {0.0}, ws[8] = {0.0};
        for (int64_t k = 0; k < n; ++k) {
            ls[k & 7] += double(wper[k]);
            ws[k & 7] += double(wt[k]);
        }
        double lsum = 0.0, wsum = 0.0;
        for (int j = 0; j < 8; ++j) {
            lsum += ls[j];
            wsum += ws[j];
        }
        loss_sum[b] = lsum;
        weight_sum[b] = wsum;
    }
    double L = 0.0, W = 0.0;
    for (int64_t b = 0; b < B; ++b) {
        L += loss_sum[b];
        W += weight_sum[b];
    }
    const float inv = float(1.0 / W);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < P; ++i) g[i] *= inv;
    auto loss = at::empty({}, pred.options());
    loss.data_ptr<float>()[0] = float(L / W);
    return {loss, grad};
}

}  // namespace p2a
