// The relevancy loss of training in one pass (see relevancy_bce.h): the value and the gradient w.r.t. the
// rendered relevancy, which torch computes with about twenty elementwise kernels and their backward.

#include "relevancy_bce.h"

#include <algorithm>
#include <cmath>

#include "cpu.h"

namespace p2a {
namespace {

constexpr int64_t BLOCK = 8192;  // pixels per partial sum: the block order fixes the summation order
constexpr int64_t THREADED = 1 << 18;  // fewer pixels run on one thread: a 256x192 view takes 0.3 ms there, and on
                                       // a busy 2-core machine a barrier waiting for a descheduled thread costs ms

}  // namespace

std::vector<at::Tensor> relevancy_bce(const at::Tensor &pred, const at::Tensor &target, double pos_weight,
                                      double eps, int64_t num_threads) {
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
    const float lo = float(eps), hi = float(1.0 - eps), pw1 = float(pos_weight - 1.0);
    std::vector<double> loss_sum(B, 0.0), weight_sum(B, 0.0);
    const int nt = P >= THREADED ? resolve_threads(num_threads) : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
        double ls = 0.0, ws = 0.0;
        for (int64_t i = b * BLOCK, end = std::min(P, (b + 1) * BLOCK); i < end; ++i) {
            const float x = p[i], ti = t[i];
            const float q = std::min(hi, std::max(lo, x));
            const float w = 1.0f + pw1 * ti;
            // most heatmap pixels are 0 (a few are 1): one logarithm where the other term is multiplied by 0
            const float log_q = ti != 0.0f ? std::max(std::log(q), -100.0f) : 0.0f;
            const float log_1q = ti != 1.0f ? std::max(std::log(1.0f - q), -100.0f) : 0.0f;
            const float per = -(ti * log_q + (1.0f - ti) * log_1q);
            ls += double(w) * double(per);
            ws += double(w);
            const bool inside = x > lo && x < hi;  // torch's clamp passes no gradient at its bounds either
            g[i] = inside ? w * (q - ti) / std::max(q * (1.0f - q), 1e-12f) : 0.0f;
        }
        loss_sum[b] = ls;
        weight_sum[b] = ws;
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
