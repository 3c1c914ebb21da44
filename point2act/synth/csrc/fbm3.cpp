// Fractal value noise at 3D points (point2act.synth.noise.fbm3; reference: its numpy twin, _fbm3_numpy): the
// scene's textures evaluate it at every ray hit of every view, most of the time `point2act synth` takes.
//
// The same IEEE operations in the same order as the numpy code: the smoothstep f * f * (3 - 2 f), the eight
// corners' weights (wx * wy) * wz times the corner's hash in [0, 1), summed corner by corner in the order
// x, y, z, and each octave's amp * noise added to the running total; without FMA contraction, so the result is
// the reference's bits on every machine. The lattice hash is splitmix64's finaliser of the corner's wrapped
// products with three primes, as uint64 arithmetic in numpy. Each point is computed on its own (OpenMP over
// points): the result does not depend on the thread count.

#include "ops.h"

namespace p2a {
namespace {

constexpr uint64_t M1 = 0x9E3779B97F4A7C15ull, M2 = 0xBF58476D1CE4E5B9ull, M3 = 0x94D049BB133111EBull;
constexpr uint64_t P[3] = {73856093ull, 19349663ull, 83492791ull};

inline uint64_t mix(uint64_t h) {
    h ^= h >> 30;
    h *= M2;
    h ^= h >> 27;
    h *= M3;
    return h ^ (h >> 31);
}

__attribute__((optimize("fp-contract=off"))) inline double value_noise(const double q[3], uint64_t salt) {
    uint64_t terms[3][2];
    double w[3];
    for (int a = 0; a < 3; ++a) {
        const double base = std::floor(q[a]);
        const double f = q[a] - base;
        const int64_t b = static_cast<int64_t>(base);
        w[a] = f * f * (3.0 - 2.0 * f);
        terms[a][0] = static_cast<uint64_t>(b) * P[a];
        terms[a][1] = static_cast<uint64_t>(b + 1) * P[a];
    }
    double out = 0.0;
    for (int dx = 0; dx < 2; ++dx) {
        const double wx = dx ? w[0] : 1.0 - w[0];
        for (int dy = 0; dy < 2; ++dy) {
            const double wy = dy ? w[1] : 1.0 - w[1];
            const uint64_t hxy = terms[0][dx] ^ terms[1][dy];
            const double wxy = wx * wy;
            for (int dz = 0; dz < 2; ++dz) {
                const double wz = dz ? w[2] : 1.0 - w[2];
                const uint64_t h = mix(hxy ^ terms[2][dz] ^ salt);
                const double corner = wxy * wz;
                out = out + corner * (static_cast<double>(h >> 11) / 9007199254740992.0);  // 2^53
            }
        }
    }
    return out;
}

}  // namespace

__attribute__((optimize("fp-contract=off"))) py::array_t<double> fbm3(const py::array &p, int64_t seed,
                                                                      int64_t octaves, int64_t num_threads) {
    check(p.ndim() == 2 && p.shape(1) == 3, "fbm3: points [N, 3] expected");
    const double *p_ = input<double>(p, "fbm3: a C-contiguous float64 array of points [N, 3] expected");
    check(octaves >= 1, "fbm3: octaves >= 1 expected");
    const int64_t n = p.shape(0);
    double *o;
    auto out = output<double>({n}, o);
    std::vector<double> freq(octaves), amp(octaves);
    std::vector<uint64_t> salt(octaves);
    double a = 1.0, norm = 0.0, fr = 1.0;
    for (int64_t k = 0; k < octaves; ++k) {  // Python's running products, in its order
        amp[k] = a;
        freq[k] = fr;
        salt[k] = (static_cast<uint64_t>(seed + 101 * k) & 0xFFFFFFFFull) * M1;
        norm = norm + a;
        a = a * 0.5;
        fr = fr * 2.03;
    }
    const int nt = n < (1 << 14) ? 1 : resolve_threads(num_threads);  // a small call: no team to start
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; ++i) {
        double total = 0.0;
        for (int64_t k = 0; k < octaves; ++k) {
            const double q[3] = {p_[3 * i] * freq[k], p_[3 * i + 1] * freq[k], p_[3 * i + 2] * freq[k]};
            const double v = amp[k] * value_noise(q, salt[k]);
            total = total + v;
        }
        o[i] = total / norm;
    }
    return out;
}

}  // namespace p2a
