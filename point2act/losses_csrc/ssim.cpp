// Fused SSIM on the CPU: forward and backward of pytorch_msssim's SSIM (separable Gaussian window, valid
// filtering, K1 = 0.01, K2 = 0.03 given as C1, C2), one pass over the image each, OpenMP over rows.
//
// Forward, per output row of a plane: the vertical pass filters X, Y, X^2, Y^2 and XY over the window's
// rows (the full input width), the horizontal pass filters that row; the SSIM map and its partial
// derivatives follow pointwise. With mu1, mu2 the filtered X, Y and s11, s22, s12 the variances and
// covariance, A = 2 mu1 mu2 + C1, B = mu1^2 + mu2^2 + C1, Cn = 2 s12 + C2, D = s11 + s22 + C2:
//     S = (A / B) (Cn / D)
//     dS/d(G*X^2) = dS/d(G*Y^2) = -S / D                                   (dsig)
//     dS/d(G*XY) = 2 (A / B) / D                                           (dcov)
//     dS/dmu1 = (Cn / D) 2 (mu2 - mu1 A / B) / B - 2 mu1 dsig - mu2 dcov  (dmu1; dmu2 symmetric)
// Backward, per input row: the window's adjoint (full correlation) of those maps, vertical then
// horizontal, and v_Y = scale (G'dmu2 + 2 Y G'dsig + X G'dcov), v_X symmetric; optionally plus the gradient
// of an L1 term (l1_row).
//
// Deterministic for any thread count: every output value is computed by one thread in a fixed order; the
// map's sum is accumulated per row in float64 and the rows are added serially.

#include "ssim.h"

#include "cpu.h"

namespace p2a {
namespace {

// The SSIM map and its derivatives from the filtered moments, one row. Without FMA contraction, as
// pytorch_msssim's separate tensor ops compute it: a contracted s11 = G*X^2 - mu1^2 next to a rounded
// s12 = G*XY - mu1 mu2 would differ by the rounding of mu1^2 (~1e-8), which C2 = 9e-4 turns into ~1e-5.
template <typename T>
__attribute__((optimize("fp-contract=off"))) void ssim_pointwise(
    const T *__restrict__ hx, const T *__restrict__ hy, const T *__restrict__ hxx, const T *__restrict__ hyy,
    const T *__restrict__ hxy, int64_t Lout, T C1, T C2, T *__restrict__ smap, T *__restrict__ dmu1,
    T *__restrict__ dmu2, T *__restrict__ dsig, T *__restrict__ dcov) {
    const bool grads = dsig != nullptr;
    for (int64_t j = 0; j < Lout; ++j) {
        const T mu1 = hx[j], mu2 = hy[j];
        const T mu1_sq = mu1 * mu1, mu2_sq = mu2 * mu2, mu1_mu2 = mu1 * mu2;
        const T s11 = hxx[j] - mu1_sq, s22 = hyy[j] - mu2_sq, s12 = hxy[j] - mu1_mu2;
        const T A = T(2) * mu1_mu2 + C1, B = mu1_sq + mu2_sq + C1;
        const T Cn = T(2) * s12 + C2, D = s11 + s22 + C2;
        const T cs = Cn / D, lum = A / B;
        const T S = lum * cs;
        smap[j] = S;
        if (grads) {
            const T ds = -S / D;
            const T dc = T(2) * lum / D;
            dsig[j] = ds;
            dcov[j] = dc;
            if (dmu1) dmu1[j] = cs * T(2) * (mu2 - mu1 * lum) / B - T(2) * mu1 * ds - mu2 * dc;
            if (dmu2) dmu2[j] = cs * T(2) * (mu1 - mu2 * lum) / B - T(2) * mu2 * ds - mu1 * dc;
        }
    }
}

// One row through the window horizontally: h[j] = sum_k w[k] v[j + k s], the taps added in order.
template <typename T>
inline void hfilter(const T *__restrict__ v, T *__restrict__ h, const T *__restrict__ w, int64_t K, int64_t Lout,
                    int64_t s) {
    const T g0 = w[0];
    for (int64_t j = 0; j < Lout; ++j) h[j] = g0 * v[j];
    for (int64_t k = 1; k < K; ++k) {
        const T g = w[k];
        const T *__restrict__ vk = v + k * s;
        for (int64_t j = 0; j < Lout; ++j) h[j] += g * vk[j];
    }
}

template <typename T>
void fwd_row(const T *__restrict__ x0, const T *__restrict__ y0,  // first input row of the window
             const T *__restrict__ w, int64_t K, int64_t L, int64_t Lout, int64_t s, T C1, T C2,
             T *__restrict__ buf,  // 5 * L + 6 * Lout
             T *__restrict__ dmu1, T *__restrict__ dmu2, T *__restrict__ dsig, T *__restrict__ dcov,
             double &row_sum) {
    T *__restrict__ vx = buf;
    T *__restrict__ vy = vx + L;
    T *__restrict__ vxx = vy + L;
    T *__restrict__ vyy = vxx + L;
    T *__restrict__ vxy = vyy + L;
    T *__restrict__ hx = vxy + L;
    T *__restrict__ hy = hx + Lout;
    T *__restrict__ hxx = hy + Lout;
    T *__restrict__ hyy = hxx + Lout;
    T *__restrict__ hxy = hyy + Lout;
    T *__restrict__ smap = hxy + Lout;
    {  // vertical pass
        const T g = w[0];
        for (int64_t j = 0; j < L; ++j) {
            const T x = x0[j], y = y0[j];
            vx[j] = g * x;
            vy[j] = g * y;
            vxx[j] = g * (x * x);
            vyy[j] = g * (y * y);
            vxy[j] = g * (x * y);
        }
    }
    for (int64_t k = 1; k < K; ++k) {
        const T g = w[k];
        const T *__restrict__ xr = x0 + k * L;
        const T *__restrict__ yr = y0 + k * L;
        for (int64_t j = 0; j < L; ++j) {
            const T x = xr[j], y = yr[j];
            vx[j] += g * x;
            vy[j] += g * y;
            vxx[j] += g * (x * x);
            vyy[j] += g * (y * y);
            vxy[j] += g * (x * y);
        }
    }
    // horizontal pass, one map at a time (a loop over all five at once does not vectorise)
    hfilter<T>(vx, hx, w, K, Lout, s);
    hfilter<T>(vy, hy, w, K, Lout, s);
    hfilter<T>(vxx, hxx, w, K, Lout, s);
    hfilter<T>(vyy, hyy, w, K, Lout, s);
    hfilter<T>(vxy, hxy, w, K, Lout, s);
    ssim_pointwise<T>(hx, hy, hxx, hyy, hxy, Lout, C1, C2, smap, dmu1, dmu2, dsig, dcov);
    double acc = 0.0;
    for (int64_t j = 0; j < Lout; ++j) acc += static_cast<double>(smap[j]);
    row_sum = acc;
}

template <typename T>
void bwd_row(int64_t r, int64_t Hout, const T *__restrict__ w, int64_t K, int64_t L, int64_t Lout, int64_t s,
             const T *__restrict__ dmu1, const T *__restrict__ dmu2,  // plane's maps [Hout, Lout] | null
             const T *__restrict__ dsig, const T *__restrict__ dcov, const T *__restrict__ xr,
             const T *__restrict__ yr, T scale, T *__restrict__ buf,  // 4 * Lout + 4 * L
             T *__restrict__ vxr, T *__restrict__ vyr) {
    T *__restrict__ a1 = buf;
    T *__restrict__ a2 = a1 + Lout;
    T *__restrict__ as = a2 + Lout;
    T *__restrict__ ac = as + Lout;
    T *__restrict__ b1 = ac + Lout;
    T *__restrict__ b2 = b1 + L;
    T *__restrict__ bs = b2 + L;
    T *__restrict__ bc = bs + L;
    const bool gx = dmu1 != nullptr, gy = dmu2 != nullptr;
    for (int64_t j = 0; j < Lout; ++j) a1[j] = a2[j] = as[j] = ac[j] = T(0);
    // vertical adjoint: output rows i with 0 <= r - i < K
    const int64_t i0 = std::max<int64_t>(0, r - K + 1), i1 = std::min<int64_t>(Hout - 1, r);
    for (int64_t i = i0; i <= i1; ++i) {
        const T g = w[r - i];
        const T *__restrict__ ps = dsig + i * Lout;
        const T *__restrict__ pc = dcov + i * Lout;
        for (int64_t j = 0; j < Lout; ++j) {
            as[j] += g * ps[j];
            ac[j] += g * pc[j];
        }
        if (gx) {
            const T *__restrict__ p1 = dmu1 + i * Lout;
            for (int64_t j = 0; j < Lout; ++j) a1[j] += g * p1[j];
        }
        if (gy) {
            const T *__restrict__ p2 = dmu2 + i * Lout;
            for (int64_t j = 0; j < Lout; ++j) a2[j] += g * p2[j];
        }
    }
    // horizontal adjoint: b[j + k s] += w[k] a[j]
    for (int64_t j = 0; j < L; ++j) b1[j] = b2[j] = bs[j] = bc[j] = T(0);
    for (int64_t k = 0; k < K; ++k) {
        const T g = w[k];
        const int64_t o = k * s;
        for (int64_t j = 0; j < Lout; ++j) {
            bs[j + o] += g * as[j];
            bc[j + o] += g * ac[j];
        }
        if (gx)
            for (int64_t j = 0; j < Lout; ++j) b1[j + o] += g * a1[j];
        if (gy)
            for (int64_t j = 0; j < Lout; ++j) b2[j + o] += g * a2[j];
    }
    if (gx)
        for (int64_t j = 0; j < L; ++j) vxr[j] = scale * (b1[j] + T(2) * xr[j] * bs[j] + yr[j] * bc[j]);
    if (gy)
        for (int64_t j = 0; j < L; ++j) vyr[j] = scale * (b2[j] + T(2) * yr[j] * bs[j] + xr[j] * bc[j]);
}

// One output row of one plane per task (static schedule); row sums into row_sums [P * Hout].
template <typename T>
void fwd_planes(const at::Tensor &X, const at::Tensor &Y, const at::Tensor &window, int64_t s, double C1,
                double C2, at::Tensor &dmu1, at::Tensor &dmu2, at::Tensor &dsig, at::Tensor &dcov,
                std::vector<double> &row_sums, int nt) {
    const int64_t P = X.size(0), H = X.size(1), L = X.size(2), K = window.size(0);
    const int64_t Hout = H - K + 1, Lout = L - (K - 1) * s;
    const T *x = X.data_ptr<T>(), *y = Y.data_ptr<T>(), *w = window.data_ptr<T>();
    T *p1 = dmu1.numel() ? dmu1.data_ptr<T>() : nullptr, *p2 = dmu2.numel() ? dmu2.data_ptr<T>() : nullptr;
    T *ps = dsig.numel() ? dsig.data_ptr<T>() : nullptr, *pc = dcov.numel() ? dcov.data_ptr<T>() : nullptr;
    const T c1 = static_cast<T>(C1), c2 = static_cast<T>(C2);
    double *sums = row_sums.data();
#pragma omp parallel num_threads(nt)
    {
        std::vector<T> buf(static_cast<size_t>(5 * L + 6 * Lout));
#pragma omp for schedule(static)
        for (int64_t t = 0; t < P * Hout; ++t) {
            const int64_t p = t / Hout, i = t % Hout;
            const int64_t in = (p * H + i) * L, out = t * Lout;
            fwd_row<T>(x + in, y + in, w, K, L, Lout, s, c1, c2, buf.data(), p1 ? p1 + out : nullptr,
                       p2 ? p2 + out : nullptr, ps ? ps + out : nullptr, pc ? pc + out : nullptr, sums[t]);
        }
    }
}

// The gradient of l1 * mean|X - Y| added to one row's SSIM gradients, as torch's autograd adds the two:
// v_X += c sgn(X - Y), v_Y += -(c sgn(X - Y)), c = l1 / count.
template <typename T>
__attribute__((noinline)) void l1_row(const T *__restrict__ xr, const T *__restrict__ yr, int64_t L, T c,
                                      T *__restrict__ vxr, T *__restrict__ vyr) {
    for (int64_t j = 0; j < L; ++j) {
        const T d = xr[j] - yr[j];
        const T sg = d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));  // torch.sgn: +0 for +-0 and NaN
        const T g = c * sg;
        if (vxr) vxr[j] = vxr[j] + g;
        if (vyr) vyr[j] = vyr[j] + (-g);
    }
}

// One input row of one plane per task (static schedule).
template <typename T>
void bwd_planes(const at::Tensor &X, const at::Tensor &Y, const at::Tensor &window, int64_t s,
                const at::Tensor &dmu1, const at::Tensor &dmu2, const at::Tensor &dsig, const at::Tensor &dcov,
                const at::Tensor &scale, bool with_l1, double l1_scale, at::Tensor &v_x, at::Tensor &v_y, int nt) {
    const int64_t P = X.size(0), H = X.size(1), L = X.size(2), K = window.size(0);
    const int64_t Hout = H - K + 1, Lout = L - (K - 1) * s;
    const bool gx = dmu1.numel() > 0, gy = dmu2.numel() > 0;
    const T *x = X.data_ptr<T>(), *y = Y.data_ptr<T>(), *w = window.data_ptr<T>(), *sc = scale.data_ptr<T>();
    const T *p1 = gx ? dmu1.data_ptr<T>() : nullptr, *p2 = gy ? dmu2.data_ptr<T>() : nullptr;
    const T *ps = dsig.data_ptr<T>(), *pc = dcov.data_ptr<T>();
    T *vx = gx ? v_x.data_ptr<T>() : nullptr, *vy = gy ? v_y.data_ptr<T>() : nullptr;
#pragma omp parallel num_threads(nt)
    {
        std::vector<T> buf(static_cast<size_t>(4 * Lout + 4 * L));
#pragma omp for schedule(static)
        for (int64_t t = 0; t < P * H; ++t) {
            const int64_t p = t / H, r = t % H;
            const int64_t m = p * Hout * Lout, in = t * L;
            bwd_row<T>(r, Hout, w, K, L, Lout, s, p1 ? p1 + m : nullptr, p2 ? p2 + m : nullptr, ps + m, pc + m,
                       x + in, y + in, sc[p], buf.data(), vx ? vx + in : nullptr, vy ? vy + in : nullptr);
            if (with_l1)
                l1_row<T>(x + in, y + in, L, static_cast<T>(l1_scale), vx ? vx + in : nullptr,
                          vy ? vy + in : nullptr);
        }
    }
}

void check_planes(const at::Tensor &X, const at::Tensor &Y, const at::Tensor &window, int64_t tap_stride) {
    check_cpu_contig(X, "X");
    check_cpu_contig(Y, "Y");
    check_cpu_contig(window, "window");
    TORCH_CHECK(X.dim() == 3 && X.sizes() == Y.sizes(), "X and Y must be [P, H, L] of the same shape");
    TORCH_CHECK(X.scalar_type() == Y.scalar_type() && X.scalar_type() == window.scalar_type(),
                "X, Y and window must have the same dtype");
    TORCH_CHECK(X.scalar_type() == at::kFloat || X.scalar_type() == at::kDouble, "float32 or float64 only");
    TORCH_CHECK(window.dim() == 1 && window.size(0) >= 1, "window must be [K]");
    const int64_t K = window.size(0);
    TORCH_CHECK(tap_stride >= 1, "tap_stride must be >= 1");
    TORCH_CHECK(X.size(1) >= K && X.size(2) >= (K - 1) * tap_stride + 1, "image smaller than the window");
}

}  // namespace

std::vector<at::Tensor> ssim_fwd(const at::Tensor &X, const at::Tensor &Y, const at::Tensor &window,
                                 int64_t tap_stride, int64_t planes_per_image, double C1, double C2,
                                 bool need_x, bool need_y, int64_t num_threads) {
    check_planes(X, Y, window, tap_stride);
    const int64_t P = X.size(0), H = X.size(1), L = X.size(2), K = window.size(0), s = tap_stride;
    TORCH_CHECK(planes_per_image >= 1 && P % planes_per_image == 0, "P must be a multiple of planes_per_image");
    const int64_t Hout = H - K + 1, Lout = L - (K - 1) * s;
    const auto opts = X.options();
    const bool grads = need_x || need_y;
    at::Tensor dmu1 = need_x ? at::empty({P, Hout, Lout}, opts) : at::empty({0}, opts);
    at::Tensor dmu2 = need_y ? at::empty({P, Hout, Lout}, opts) : at::empty({0}, opts);
    at::Tensor dsig = grads ? at::empty({P, Hout, Lout}, opts) : at::empty({0}, opts);
    at::Tensor dcov = grads ? at::empty({P, Hout, Lout}, opts) : at::empty({0}, opts);
    std::vector<double> row_sums(static_cast<size_t>(P * Hout), 0.0);
    const int nt = resolve_threads(num_threads);
    if (X.scalar_type() == at::kDouble)
        fwd_planes<double>(X, Y, window, s, C1, C2, dmu1, dmu2, dsig, dcov, row_sums, nt);
    else
        fwd_planes<float>(X, Y, window, s, C1, C2, dmu1, dmu2, dsig, dcov, row_sums, nt);
    const int64_t num_images = P / planes_per_image;
    at::Tensor sums = at::empty({num_images}, opts.dtype(at::kDouble));
    double *ps = sums.data_ptr<double>();
    const int64_t rows_per_image = planes_per_image * Hout;
    for (int64_t n = 0; n < num_images; ++n) {
        double acc = 0.0;
        for (int64_t t = n * rows_per_image; t < (n + 1) * rows_per_image; ++t) acc += row_sums[static_cast<size_t>(t)];
        ps[n] = acc;
    }
    return {sums, dmu1, dmu2, dsig, dcov};
}

std::vector<at::Tensor> ssim_bwd(const at::Tensor &X, const at::Tensor &Y, const at::Tensor &window,
                                 int64_t tap_stride, const at::Tensor &dmu1, const at::Tensor &dmu2,
                                 const at::Tensor &dsig, const at::Tensor &dcov, const at::Tensor &scale,
                                 bool with_l1, double l1_scale, int64_t num_threads) {
    check_planes(X, Y, window, tap_stride);
    const int64_t P = X.size(0), H = X.size(1), L = X.size(2), K = window.size(0), s = tap_stride;
    const int64_t Hout = H - K + 1, Lout = L - (K - 1) * s;
    const bool gx = dmu1.numel() > 0, gy = dmu2.numel() > 0;
    const std::vector<int64_t> map_shape{P, Hout, Lout};
    for (const at::Tensor *m : {&dsig, &dcov}) {
        check_cpu_contig(*m, "derivative map");
        TORCH_CHECK(m->sizes() == map_shape && m->scalar_type() == X.scalar_type(), "maps must be [P, Hout, Lout]");
    }
    if (gx) {
        check_cpu_contig(dmu1, "dmu1");
        TORCH_CHECK(dmu1.sizes() == map_shape && dmu1.scalar_type() == X.scalar_type(), "dmu1 must be [P, Hout, Lout]");
    }
    if (gy) {
        check_cpu_contig(dmu2, "dmu2");
        TORCH_CHECK(dmu2.sizes() == map_shape && dmu2.scalar_type() == X.scalar_type(), "dmu2 must be [P, Hout, Lout]");
    }
    check_cpu_contig(scale, "scale");
    TORCH_CHECK(scale.dim() == 1 && scale.size(0) == P && scale.scalar_type() == X.scalar_type(), "scale must be [P]");
    const auto opts = X.options();
    at::Tensor v_x = gx ? at::empty({P, H, L}, opts) : at::empty({0}, opts);
    at::Tensor v_y = gy ? at::empty({P, H, L}, opts) : at::empty({0}, opts);
    const int nt = resolve_threads(num_threads);
    if (X.scalar_type() == at::kDouble)
        bwd_planes<double>(X, Y, window, s, dmu1, dmu2, dsig, dcov, scale, with_l1, l1_scale, v_x, v_y, nt);
    else
        bwd_planes<float>(X, Y, window, s, dmu1, dmu2, dsig, dcov, scale, with_l1, l1_scale, v_x, v_y, nt);
    return {v_x, v_y};
}

}  // namespace p2a
