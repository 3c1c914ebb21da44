// Backward of splatfacto's training outputs from one render of G colour and E extra channels (see ops.h):
//     rgb   = clamp(render[..., :G] + (1 - alpha) * background, 0, 1)
//     extra = clamp(render[..., G:], 0, 1)
// in one pass over the pixels: the gradients of torch's slice, rsub, mul, add and clamp nodes and of the
// channel split, the same bits (torch's clamp passes gradient strictly inside (0, 1); the mul's gradient to
// 1 - alpha is summed over the channels in order, from +0).

#include "ops.h"

#include <algorithm>

#include "cpu.h"

namespace p2a {
namespace {

constexpr int64_t THREADED = 1 << 18;  // fewer pixels run on one thread (a 256x192 view in tens of microseconds)

// Without FMA contraction: x = r + (1 - a) * b rounds the product first, as torch's separate mul and add do,
// and the clamp's gradient mask depends on x's last bit. Branch-free (selects), so that the pixel loop
// vectorises: the masks of a photo's pixels are no pattern a branch predictor learns. G, E > 0: compile-time
// channel counts; 0: the run-time ones.
template <int64_t G_, int64_t E_>
__attribute__((optimize("fp-contract=off"))) void composite_bwd_rows(
    const float *__restrict__ render, const float *__restrict__ alpha, const float *__restrict__ bg,
    const float *__restrict__ v_rgb, const float *__restrict__ v_extra, int64_t G_rt, int64_t E_rt, int64_t p0,
    int64_t p1, float *__restrict__ v_render, float *__restrict__ v_alpha) {
    const int64_t G = G_ > 0 ? G_ : G_rt, E = G_ > 0 ? E_ : E_rt, D = G + E;
    for (int64_t p = p0; p < p1; ++p) {
        const float oma = 1.0f - alpha[p];
        float acc = 0.0f;  // from +0, as torch's sum
        for (int64_t c = 0; c < G; ++c) {
            const float t = oma * bg[c];
            const float x = render[p * D + c] + t;
            const float gin = v_rgb[p * G + c];
            const float g = (x > 0.0f) & (x < 1.0f) ? gin : 0.0f;
            v_render[p * D + c] = g;
            acc += g * bg[c];
        }
        v_alpha[p] = -acc;
        for (int64_t e = 0; e < E; ++e) {
            const float x = render[p * D + G + e];
            const float gin = v_extra[p * E + e];
            v_render[p * D + G + e] = (x > 0.0f) & (x < 1.0f) ? gin : 0.0f;
        }
    }
}

}  // namespace

std::vector<at::Tensor> composite_bwd(const at::Tensor &render, const at::Tensor &alpha,
                                      const at::Tensor &background, const at::Tensor &v_rgb,
                                      const at::Tensor &v_extra, int64_t num_threads) {
    for (const auto *t : {&render, &alpha, &background, &v_rgb, &v_extra}) {
        check_cpu_contig(*t, "composite_bwd input");
        TORCH_CHECK(t->scalar_type() == at::kFloat, "composite_bwd takes float32 tensors");
    }
    const int64_t G = background.numel();
    const int64_t D = render.size(-1), E = D - G;
    const int64_t P = alpha.numel();
    TORCH_CHECK(G >= 1 && E >= 0 && render.numel() == P * D, "render must be [..., G + E] with alpha [..., 1]");
    TORCH_CHECK(v_rgb.numel() == P * G && v_extra.numel() == P * E, "v_rgb must be [..., G], v_extra [..., E]");
    auto v_render = at::empty(render.sizes(), render.options());
    auto v_alpha = at::empty(alpha.sizes(), alpha.options());
    const float *r = render.data_ptr<float>(), *a = alpha.data_ptr<float>(), *b = background.data_ptr<float>();
    const float *gr = v_rgb.data_ptr<float>(), *ge = E ? v_extra.data_ptr<float>() : nullptr;
    float *vr = v_render.data_ptr<float>(), *va = v_alpha.data_ptr<float>();
    const int nt = P >= THREADED ? resolve_threads(num_threads) : 1;
#pragma omp parallel num_threads(nt)
    {
        const int64_t n = team_size(), t = thread_id();
        const int64_t p0 = P * t / n, p1 = P * (t + 1) / n;
        if (G == 3 && E == 1)
            composite_bwd_rows<3, 1>(r, a, b, gr, ge, G, E, p0, p1, vr, va);
        else if (G == 3 && E == 0)
            composite_bwd_rows<3, 0>(r, a, b, gr, ge, G, E, p0, p1, vr, va);
        else
            composite_bwd_rows<0, 0>(r, a, b, gr, ge, G, E, p0, p1, vr, va);
    }
    return {v_render, v_alpha};
}

}  // namespace p2a
