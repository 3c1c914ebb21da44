// Spherical harmonics to colour, forward and backward (gsplat's spherical_harmonics op followed by the
// rasterizer's `clamp_min(colors + 0.5, 0)`): per camera c and Gaussian n,
//
//   colors[c, n] = clamp_min(sum_{b < (degree+1)^2} Y_b(u) * coeffs[(c,) n, b] + 0.5, 0),
//   u = dirs[c, n] / max(|dirs[c, n]|, 1e-12)                     (F.normalize)
//
// with the real SH bases Y_b (Sloan 2013, gsplat's order, degrees 0..4) of
// point2act.render._torch_impl._eval_sh_bases. coeffs is [N, K, 3] (shared by the cameras) or
// [C, N, K, 3]. The backward is autograd's on that reference: the clamp passes the gradient where its
// input is > 0, i.e. where the forward output colors > 0 (torch's clamp_min backward: zero at equality);
// coefficients b >= (degree+1)^2 get zero; the direction gradient goes through the normalisation.
// One thread owns a Gaussian (all its cameras), so shared-coefficient sums need no atomics and do not
// depend on the thread count.

#include "common_aten.h"
#include "ops.h"

namespace p2a {
namespace {

constexpr double NORM_EPS = 1e-12;  // F.normalize's eps
constexpr int MAX_BASES = 25;       // degree 4

// Unit direction u = d / max(|d|, eps); scale = 1 / max(|d|, eps); clamped: |d| < eps.
template <typename S> struct UnitDir {
    S u[3], scale;
    bool clamped;
};

template <typename S> inline UnitDir<S> unit_dir(const S *d) {
    UnitDir<S> r;
    const S norm = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    r.clamped = norm < S(NORM_EPS);
    r.scale = S(1) / (r.clamped ? S(NORM_EPS) : norm);
    for (int i = 0; i < 3; ++i) r.u[i] = d[i] * r.scale;
    return r;
}

// B[0, (degree+1)^2): the SH bases at the unit direction (x, y, z).
template <typename S> inline void sh_bases(int degree, S x, S y, S z, S *B) {
    B[0] = S(0.2820947917738781);
    if (degree < 1) return;
    const S a1 = S(-0.48860251190292);
    B[1] = a1 * y;
    B[2] = -a1 * z;
    B[3] = a1 * x;
    if (degree < 2) return;
    const S z2 = z * z, c1 = x * x - y * y, s1 = S(2) * x * y;
    const S b2 = S(-1.092548430592079) * z, a2 = S(0.5462742152960395);
    B[4] = a2 * s1;
    B[5] = b2 * y;
    B[6] = S(0.9461746957575601) * z2 - S(0.3153915652525201);
    B[7] = b2 * x;
    B[8] = a2 * c1;
    if (degree < 3) return;
    const S c2 = x * c1 - y * s1, s2 = x * s1 + y * c1;
    const S t3 = S(-2.285228997322329) * z2 + S(0.4570457994644658), b3 = S(1.445305721320277) * z;
    const S a3 = S(-0.5900435899266435);
    B[9] = a3 * s2;
    B[10] = b3 * s1;
    B[11] = t3 * y;
    B[12] = z * (S(1.865881662950577) * z2 - S(1.119528997770346));
    B[13] = t3 * x;
    B[14] = b3 * c1;
    B[15] = a3 * c2;
    if (degree < 4) return;
    const S c3 = x * c2 - y * s2, s3 = x * s2 + y * c2;
    const S d4 = z * (S(-4.683325804901025) * z2 + S(2.007139630671868));
    const S t4 = S(3.31161143515146) * z2 - S(0.47308734787878), b4 = S(-1.770130769779931) * z;
    const S a4 = S(0.6258357354491763);
    B[16] = a4 * s3;
    B[17] = b4 * s2;
    B[18] = t4 * s1;
    B[19] = d4 * y;
    B[20] = S(1.984313483298443) * z2 * (S(1.865881662950577) * z2 - S(1.119528997770346)) +
            S(-1.006230589874905) * (S(0.9461746957575601) * z2 - S(0.3153915652525201));
    B[21] = d4 * x;
    B[22] = t4 * c1;
    B[23] = b4 * c2;
    B[24] = a4 * c3;
}

// v[0..2] = sum_b g[b] * dY_b/d(x, y, z): the vector-Jacobian product of sh_bases (Y_0 is constant).
template <typename S> inline void sh_bases_vjp(int degree, S x, S y, S z, const S *g, S *v) {
    v[0] = v[1] = v[2] = S(0);
    if (degree < 1) return;
    const S a1 = S(-0.48860251190292);
    v[0] += a1 * g[3];
    v[1] += a1 * g[1];
    v[2] -= a1 * g[2];
    if (degree < 2) return;
    const S z2 = z * z, c1 = x * x - y * y, s1 = S(2) * x * y;
    const S k2 = S(-1.092548430592079), b2 = k2 * z, a2 = S(0.5462742152960395);
    // Y4 = a2 s1, Y5 = b2 y, Y6 = 0.946 z^2 - 0.315, Y7 = b2 x, Y8 = a2 c1
    v[0] += S(2) * a2 * (y * g[4] + x * g[8]) + b2 * g[7];
    v[1] += S(2) * a2 * (x * g[4] - y * g[8]) + b2 * g[5];
    v[2] += k2 * (y * g[5] + x * g[7]) + S(2 * 0.9461746957575601) * z * g[6];
    if (degree < 3) return;
    const S c2 = x * c1 - y * s1, s2 = x * s1 + y * c1;  // dc2 = 3 (c1, -s1), ds2 = 3 (s1, c1)
    const S t3 = S(-2.285228997322329) * z2 + S(0.4570457994644658), dt3 = S(2 * -2.285228997322329) * z;
    const S k3 = S(1.445305721320277), b3 = k3 * z, a3 = S(-0.5900435899266435);
    // Y9 = a3 s2, Y10 = b3 s1, Y11 = t3 y, Y12 = 1.866 z^3 - 1.120 z, Y13 = t3 x, Y14 = b3 c1, Y15 = a3 c2
    v[0] += S(3) * a3 * (s1 * g[9] + c1 * g[15]) + S(2) * b3 * (y * g[10] + x * g[14]) + t3 * g[13];
    v[1] += S(3) * a3 * (c1 * g[9] - s1 * g[15]) + S(2) * b3 * (x * g[10] - y * g[14]) + t3 * g[11];
    v[2] += k3 * (s1 * g[10] + c1 * g[14]) + dt3 * (y * g[11] + x * g[13]) +
            (S(3 * 1.865881662950577) * z2 - S(1.119528997770346)) * g[12];
    if (degree < 4) return;
    // dc3 = 4 (c2, -s2), ds3 = 4 (s2, c2)
    const S d4 = z * (S(-4.683325804901025) * z2 + S(2.007139630671868));
    const S dd4 = S(3 * -4.683325804901025) * z2 + S(2.007139630671868);
    const S t4 = S(3.31161143515146) * z2 - S(0.47308734787878), dt4 = S(2 * 3.31161143515146) * z;
    const S k4 = S(-1.770130769779931), b4 = k4 * z, a4 = S(0.6258357354491763);
    // Y16 = a4 s3, Y17 = b4 s2, Y18 = t4 s1, Y19 = d4 y, Y20(z), Y21 = d4 x, Y22 = t4 c1, Y23 = b4 c2,
    // Y24 = a4 c3
    const S dy20 = S(1.984313483298443) * (S(4 * 1.865881662950577) * z2 * z - S(2 * 1.119528997770346) * z) +
                   S(-1.006230589874905 * 2 * 0.9461746957575601) * z;
    v[0] += S(4) * a4 * (s2 * g[16] + c2 * g[24]) + S(3) * b4 * (s1 * g[17] + c1 * g[23]) +
            S(2) * t4 * (y * g[18] + x * g[22]) + d4 * g[21];
    v[1] += S(4) * a4 * (c2 * g[16] - s2 * g[24]) + S(3) * b4 * (c1 * g[17] - s1 * g[23]) +
            S(2) * t4 * (x * g[18] - y * g[22]) + d4 * g[19];
    v[2] += k4 * (s2 * g[17] + c2 * g[23]) + dt4 * (s1 * g[18] + c1 * g[22]) + dd4 * (y * g[19] + x * g[21]) +
            dy20 * g[20];
}

// Gradient through u = d * scale: (v_u - u (u . v_u)) * scale, or v_u * scale where |d| < eps.
template <typename S> inline void normalize_vjp(const UnitDir<S> &ud, const S *v_u, S *v_d) {
    const S dot = ud.clamped ? S(0) : ud.u[0] * v_u[0] + ud.u[1] * v_u[1] + ud.u[2] * v_u[2];
    for (int i = 0; i < 3; ++i) v_d[i] = (v_u[i] - ud.u[i] * dot) * ud.scale;
}

// Threads for the per-Gaussian loops: one below SH_PARALLEL basis evaluations. A basis costs a few ns forward
// and backward (with the directions' gradient), far more than SMALL_LOOP's items: the demo's 15.6k Gaussians at
// degree 1 (63k bases) take 0.15 ms forward and 0.35 ms backward on one thread. Each Gaussian is computed by one
// thread, so the results do not depend on the count.
constexpr int64_t SH_PARALLEL = 1 << 13;
inline int sh_threads(int64_t C, int64_t N, int nb, int nthreads) { return C * N * nb < SH_PARALLEL ? 1 : nthreads; }

// Calls f(std::integral_constant<int, degree>()): the kernels are compiled per degree, so that their
// loops over the bases have constant trip counts.
template <typename F> void dispatch_degree(int64_t degree, F &&f) {
    switch (degree) {
    case 0: f(std::integral_constant<int, 0>()); break;
    case 1: f(std::integral_constant<int, 1>()); break;
    case 2: f(std::integral_constant<int, 2>()); break;
    case 3: f(std::integral_constant<int, 3>()); break;
    default: f(std::integral_constant<int, 4>()); break;
    }
}

template <typename S, int degree>
void sh_fwd_impl(int64_t C, int64_t N, int64_t K, bool shared, const S *dirs, const S *coeffs, int nthreads,
                 S *colors) {
    constexpr int nb = (degree + 1) * (degree + 1);
#pragma omp parallel for num_threads(sh_threads(C, N, nb, nthreads)) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t c = 0; c < C; ++c) {
            const int64_t i = c * N + n;
            const S *co = coeffs + (shared ? n : i) * K * 3;
            const UnitDir<S> ud = unit_dir(dirs + 3 * i);
            S B[MAX_BASES];
            sh_bases(degree, ud.u[0], ud.u[1], ud.u[2], B);
            // one accumulator per channel: GCC's SLP vectorisation of the [b][k] loop nest is 2x slower
            S r0 = S(0), r1 = S(0), r2 = S(0);
            for (int b = 0; b < nb; ++b) {
                r0 += B[b] * co[3 * b];
                r1 += B[b] * co[3 * b + 1];
                r2 += B[b] * co[3 * b + 2];
            }
            const S x[3] = {r0 + S(0.5), r1 + S(0.5), r2 + S(0.5)};
            for (int k = 0; k < 3; ++k) colors[3 * i + k] = x[k] < S(0) ? S(0) : x[k];  // NaN stays NaN
        }
    }
}

template <typename S, int degree>
void sh_bwd_impl(int64_t C, int64_t N, int64_t K, bool shared, const S *dirs, const S *coeffs, const S *colors,
                 const S *v_colors, int nthreads, S *v_coeffs, S *v_dirs) {
    constexpr int nb = (degree + 1) * (degree + 1);
#pragma omp parallel for num_threads(sh_threads(C, N, nb, nthreads)) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        if (shared) std::fill(v_coeffs + n * K * 3, v_coeffs + (n + 1) * K * 3, S(0));
        for (int64_t c = 0; c < C; ++c) {
            const int64_t i = c * N + n;
            const int64_t row = (shared ? n : i) * K * 3;
            const S *co = coeffs + row;
            S *vco = v_coeffs + row;
            S vx[3];
            for (int k = 0; k < 3; ++k) vx[k] = colors[3 * i + k] > S(0) ? v_colors[3 * i + k] : S(0);
            const UnitDir<S> ud = unit_dir(dirs + 3 * i);
            S B[MAX_BASES];
            sh_bases(degree, ud.u[0], ud.u[1], ud.u[2], B);
            if (shared) {  // summed over the cameras
                for (int b = 0; b < nb; ++b) {
                    vco[3 * b] += B[b] * vx[0];
                    vco[3 * b + 1] += B[b] * vx[1];
                    vco[3 * b + 2] += B[b] * vx[2];
                }
            } else {
                for (int b = 0; b < nb; ++b) {
                    vco[3 * b] = B[b] * vx[0];
                    vco[3 * b + 1] = B[b] * vx[1];
                    vco[3 * b + 2] = B[b] * vx[2];
                }
                std::fill(vco + 3 * nb, vco + 3 * K, S(0));
            }
            if (!v_dirs) continue;
            S g[MAX_BASES], v_u[3];
            for (int b = 0; b < nb; ++b) g[b] = vx[0] * co[3 * b] + vx[1] * co[3 * b + 1] + vx[2] * co[3 * b + 2];
            sh_bases_vjp(degree, ud.u[0], ud.u[1], ud.u[2], g, v_u);
            normalize_vjp(ud, v_u, v_dirs + 3 * i);
        }
    }
}

// C, N, K and whether coeffs is shared by the cameras ([N, K, 3]), after checking the inputs.
struct ShDims {
    int64_t C, N, K;
    bool shared;
};

ShDims check_sh_inputs(int64_t degree, const at::Tensor &dirs, const at::Tensor &coeffs) {
    TORCH_CHECK(degree >= 0 && degree <= 4, "sh degree must be in [0, 4], got ", degree);
    check_cpu_contig(dirs, "dirs");
    check_cpu_contig(coeffs, "coeffs");
    TORCH_CHECK(dirs.dim() == 3 && dirs.size(2) == 3, "dirs must be [C, N, 3]");
    TORCH_CHECK(coeffs.scalar_type() == dirs.scalar_type(), "dirs and coeffs must have the same dtype");
    const int64_t C = dirs.size(0), N = dirs.size(1);
    const bool shared = coeffs.dim() == 3;
    TORCH_CHECK((shared || coeffs.dim() == 4) && coeffs.size(-1) == 3, "coeffs must be [N, K, 3] or [C, N, K, 3]");
    TORCH_CHECK(coeffs.size(shared ? 0 : 1) == N && (shared || coeffs.size(0) == C),
                "coeffs must be [N, K, 3] or [C, N, K, 3] with dirs [C, N, 3]");
    const int64_t K = coeffs.size(-2);
    TORCH_CHECK(K >= (degree + 1) * (degree + 1), "sh degree ", degree, " needs ", (degree + 1) * (degree + 1),
                " coefficients, got ", K);
    return {C, N, K, shared};
}

}  // namespace

at::Tensor sh_colors_fwd(int64_t degree, const at::Tensor &dirs, const at::Tensor &coeffs, int64_t num_threads) {
    const ShDims d = check_sh_inputs(degree, dirs, coeffs);
    auto colors = at::empty({d.C, d.N, 3}, dirs.options());
    AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "sh_colors_fwd", [&] {
        dispatch_degree(degree, [&](auto deg) {
            sh_fwd_impl<scalar_t, decltype(deg)::value>(d.C, d.N, d.K, d.shared, dirs.data_ptr<scalar_t>(),
                                                        coeffs.data_ptr<scalar_t>(), resolve_threads(num_threads),
                                                        colors.data_ptr<scalar_t>());
        });
    });
    return colors;
}

std::vector<at::Tensor> sh_colors_bwd(int64_t degree, const at::Tensor &dirs, const at::Tensor &coeffs,
                                      const at::Tensor &colors, const at::Tensor &v_colors, bool need_v_dirs,
                                      int64_t num_threads) {
    const ShDims d = check_sh_inputs(degree, dirs, coeffs);
    check_cpu_contig(colors, "colors");
    check_cpu_contig(v_colors, "v_colors");
    TORCH_CHECK(colors.sizes() == dirs.sizes() && v_colors.sizes() == dirs.sizes(),
                "colors and v_colors must be [C, N, 3]");
    TORCH_CHECK(colors.scalar_type() == dirs.scalar_type() && v_colors.scalar_type() == dirs.scalar_type(),
                "dtype mismatch");
    auto v_coeffs = at::empty(coeffs.sizes(), coeffs.options());
    auto v_dirs = need_v_dirs ? at::empty(dirs.sizes(), dirs.options()) : at::empty({0}, dirs.options());
    AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "sh_colors_bwd", [&] {
        dispatch_degree(degree, [&](auto deg) {
            sh_bwd_impl<scalar_t, decltype(deg)::value>(
                d.C, d.N, d.K, d.shared, dirs.data_ptr<scalar_t>(), coeffs.data_ptr<scalar_t>(),
                colors.data_ptr<scalar_t>(), v_colors.data_ptr<scalar_t>(), resolve_threads(num_threads),
                v_coeffs.data_ptr<scalar_t>(), need_v_dirs ? v_dirs.data_ptr<scalar_t>() : nullptr);
        });
    });
    return {v_coeffs, v_dirs};
}

}  // namespace p2a
