// The plane sweep's comparison (point2act.startcloud.plane_sweep; reference: OpenCV's warpPerspective, erode and
// box filter in point2act/startcloud/_plane_zncc_impl.py): a source image warped into a reference view through a
// plane's homography, and the zero-normalised cross-correlation (ZNCC) of their square windows at each reference
// pixel. A sweep makes thousands of these comparisons on small images, where the reference's dozen OpenCV and
// numpy calls per comparison cost more than their arithmetic; here one call makes every plane's, the planes spread
// over the threads. plane_zncc_best makes them at a mask's pixels only (the warp at those pixels' windows, each
// window summed as the whole-image pass sums it: the same bits) and keeps each pixel's largest.
//
// Warp, as OpenCV's INTER_LINEAR with WARP_INVERSE_MAP and a zero border: each reference pixel's source position
// from the homography in double, rounded to 1/32 pixel (cvRound of 32 x the position), its four taps weighted by
// the products of (1 - f, f) in float and summed in float, a tap outside the source counting 0. A pixel is inside
// where the weights of its taps inside the source sum above 0.999, over its whole window (OpenCV's erode with a
// window-sized square: beyond the image's border counts as inside).
// ZNCC: window sums with mirrored borders (OpenCV's BORDER_REFLECT_101) in double, var = max(E[x^2] - E[x]^2, 0);
// a window pair with sqrt(var_a var_b) <= 1e-3 (a flat window) gets 0. The reference computes these in float32:
// the two agree to float32 rounding of the variances (tests/startcloud/test_plane_zncc.py).
// Each plane is computed on its own: the results do not depend on the thread count.

#include <memory>

#include "ops.h"

namespace p2a {
namespace {

// OpenCV's cvRound of a double within int's range: to the nearest integer, halves to even (the default rounding
// mode, which nearbyint follows as the SSE conversion does; a form the compiler vectorises).
inline int round_even(double v) { return static_cast<int>(std::nearbyint(v)); }

constexpr int TAB = 32;  // OpenCV's INTER_TAB_SIZE: sub-pixel positions in 1/32 pixel

inline int reflect101(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
}

// Window sums (side 2 r + 1, mirrored borders) of `v` [h, w] into `out` [h, w]: each row's windows summed tap by
// tap, then each column's as a running sum down the rows.
void box_sums(const double *v, int h, int w, int r, std::vector<double> &rows, std::vector<double> &pad,
              double *out) {
    const int k = 2 * r + 1;
    rows.assign(static_cast<size_t>(h) * w, 0.0);
    pad.resize(static_cast<size_t>(w) + 2 * r);
    for (int y = 0; y < h; ++y) {
        const double *row = v + static_cast<size_t>(y) * w;
        for (int x = 0; x < r; ++x) {
            pad[x] = row[reflect101(x - r, w)];
            pad[w + r + x] = row[reflect101(w + x, w)];
        }
        std::copy(row, row + w, pad.begin() + r);
        double *o = rows.data() + static_cast<size_t>(y) * w;
        const double *pd = pad.data();
        for (int t = 0; t < k; ++t)
            for (int x = 0; x < w; ++x) o[x] += pd[x + t];
    }
    double *acc = out;  // row 0's sums, then each next row's from the one above
    for (int x = 0; x < w; ++x) acc[x] = 0.0;
    for (int t = -r; t <= r; ++t) {
        const double *row = rows.data() + static_cast<size_t>(reflect101(t, h)) * w;
        for (int x = 0; x < w; ++x) acc[x] += row[x];
    }
    for (int y = 1; y < h; ++y) {
        const double *up = out + static_cast<size_t>(y - 1) * w;
        const double *in = rows.data() + static_cast<size_t>(reflect101(y + r, h)) * w;
        const double *gone = rows.data() + static_cast<size_t>(reflect101(y - 1 - r, h)) * w;
        double *o = out + static_cast<size_t>(y) * w;
        for (int x = 0; x < w; ++x) o[x] = up[x] + in[x] - gone[x];
    }
}

// Erode `in` [h, w] (0 / 1) by the (2 r + 1)^2 square into `out`: 1 where every pixel of the window inside the
// image is 1. Counts of zeros along rows, then along columns.
void erode(const uint8_t *in, int h, int w, int r, std::vector<int32_t> &cnt, uint8_t *out) {
    cnt.assign(static_cast<size_t>(h) * w, 0);
    std::vector<int32_t> prefix(static_cast<size_t>(w) + 1);
    for (int y = 0; y < h; ++y) {
        const uint8_t *row = in + static_cast<size_t>(y) * w;
        prefix[0] = 0;
        for (int x = 0; x < w; ++x) prefix[x + 1] = prefix[x] + (row[x] ? 0 : 1);
        int32_t *c = cnt.data() + static_cast<size_t>(y) * w;
        for (int x = 0; x < w; ++x) c[x] = prefix[std::min(w, x + r + 1)] - prefix[std::max(0, x - r)];
    }
    std::vector<int32_t> col(w, 0);
    for (int y = 0; y <= std::min(h - 1, r); ++y)
        for (int x = 0; x < w; ++x) col[x] += cnt[static_cast<size_t>(y) * w + x];
    for (int y = 0; y < h; ++y) {
        if (y > 0) {
            if (y + r < h)
                for (int x = 0; x < w; ++x) col[x] += cnt[static_cast<size_t>(y + r) * w + x];
            if (y - 1 - r >= 0)
                for (int x = 0; x < w; ++x) col[x] -= cnt[static_cast<size_t>(y - 1 - r) * w + x];
        }
        uint8_t *o = out + static_cast<size_t>(y) * w;
        for (int x = 0; x < w; ++x) o[x] = col[x] == 0;
    }
}

// One thread's arrays for one plane's comparison.
struct Scratch {
    std::vector<double> b, strip, pad;
    std::vector<uint8_t> in0;
    std::vector<int32_t> cnt;
};

constexpr int STRIP = 16;  // rows whose window sums are formed together (their rows' sums stay in cache)

// The window sums along row `y` (mirrored borders) of b, b^2 and a b into out[0], out[1], out[2] (each [w]).
inline void row_sums(const double *a, const double *b, int w, int r, std::vector<double> &pad, double *out[3]) {
    const int k = 2 * r + 1;
    pad.resize(3 * (static_cast<size_t>(w) + 2 * r));
    double *pb = pad.data(), *pbb = pb + w + 2 * r, *pab = pbb + w + 2 * r;
    for (int x = 0; x < w; ++x) {
        pb[x + r] = b[x];
        pbb[x + r] = b[x] * b[x];
        pab[x + r] = a[x] * b[x];
    }
    for (int e = 0; e < r; ++e) {  // the mirrored borders
        for (const int x : {e - r, w + e}) {
            const int i = reflect101(x, w);
            pb[x + r] = b[i];
            pbb[x + r] = b[i] * b[i];
            pab[x + r] = a[i] * b[i];
        }
    }
    for (int q = 0; q < 3; ++q) {
        const double *p = q == 0 ? pb : q == 1 ? pbb : pab;
        double *o = out[q];
        for (int x = 0; x < w; ++x) o[x] = p[x];
        for (int t = 1; t < k; ++t)
            for (int x = 0; x < w; ++x) o[x] += p[x + t];
    }
}

// A reference pixel of the warped source: its value, and whether its taps' weights inside the source sum above 0.999.
struct Warped {
    float v;
    bool in;
};

// A block's start (xb, y) through H: OpenCV's X0, Y0, W0.
struct BlockStart {
    double X0, Y0, W0;
};

__attribute__((optimize("fp-contract=off"))) inline BlockStart block_start(const double *H, int xb, int y) {
    return {H[0] * xb + H[1] * y + H[2], H[3] * xb + H[4] * y + H[5], H[6] * xb + H[7] * y + H[8]};
}

// std::max(INT32_MIN, std::min(INT32_MAX, v)) in doubles, written out: std::min and std::max, instantiated with
// the default options, are not inlined into a function compiled with others, and the call keeps its loop scalar.
inline double clamp_int(double v) {
    const double hi = static_cast<double>(INT32_MAX), lo = static_cast<double>(INT32_MIN);
    const double m = v < hi ? v : hi;  // std::min(hi, v)
    return lo < m ? m : lo;            // std::max(lo, m)
}

// A pixel's source position in 1/TAB pixels, x1 pixels after its block's start (OpenCV's X, Y).
struct Position {
    int X, Y;
};

__attribute__((optimize("fp-contract=off"))) inline Position position_at(const double *H, const BlockStart &b,
                                                                          int x1) {
    double W = b.W0 + H[6] * x1;
    W = W != 0.0 ? TAB / W : 0.0;
    return {round_even(clamp_int((b.X0 + H[0] * x1) * W)), round_even(clamp_int((b.Y0 + H[3] * x1) * W))};
}

// The source's bilinear sample at a position (X, Y in 1/TAB pixels) and whether its taps' weights inside the
// source sum above 0.999.
__attribute__((optimize("fp-contract=off"))) inline Warped sample_at(const float *src, int hs, int ws, int X, int Y) {
    const int sx = X >> 5, sy = Y >> 5;  // INTER_BITS = 5
    const float fx = static_cast<float>(X & (TAB - 1)) * (1.f / TAB);
    const float fy = static_cast<float>(Y & (TAB - 1)) * (1.f / TAB);
    const float wx[2] = {1.f - fx, fx}, wy[2] = {1.f - fy, fy};
    const float wt[4] = {wy[0] * wx[0], wy[0] * wx[1], wy[1] * wx[0], wy[1] * wx[1]};
    float v, one;
    if (static_cast<unsigned>(sx) < static_cast<unsigned>(ws - 1) &&
        static_cast<unsigned>(sy) < static_cast<unsigned>(hs - 1)) {  // every tap inside
        const float *S = src + static_cast<size_t>(sy) * ws + sx;
        v = S[0] * wt[0] + S[1] * wt[1] + S[ws] * wt[2] + S[ws + 1] * wt[3];
        one = wt[0] + wt[1] + wt[2] + wt[3];
    } else {  // a tap outside counts 0
        v = 0.f;
        one = 0.f;
        for (int t = 0; t < 4; ++t) {
            const int tx = sx + (t & 1), ty = sy + (t >> 1);
            const bool ok = tx >= 0 && tx < ws && ty >= 0 && ty < hs;
            const float s = ok ? src[static_cast<size_t>(ty) * ws + tx] : 0.f;
            v = t == 0 ? s * wt[0] : v + s * wt[t];
            one = t == 0 ? (ok ? wt[0] : 0.f) : one + (ok ? wt[t] : 0.f);
        }
    }
    return {v, one > 0.999f};
}

// The reference pixel x1 pixels after its block's start `b`, warped through H, as OpenCV's warpPerspective computes
// it: its position in doubles from the block's start, its taps' weights and sum in float.
__attribute__((optimize("fp-contract=off"))) inline Warped warp_at(const double *H, const float *src, int hs, int ws,
                                                                    const BlockStart &b, int x1) {
    const Position p = position_at(H, b, x1);
    return sample_at(src, hs, ws, p.X, p.Y);
}

// OpenCV's block width along a row (its height moves no position).
inline int warp_block(int h, int w) { return std::min(1024 / std::min(16, h), w); }

// The source warped into the reference through H (reference pixel index -> source pixel index) into
// `warped` (as double) and `in0` (the taps' weights inside the source sum above 0.999): warp_at at every pixel,
// split in two loops per block, the positions (position_at, a loop the compiler vectorises) and then the samples
// (sample_at). Compiled with their options, so that they are inlined.
__attribute__((optimize("fp-contract=off"))) void warp(const double *H, const float *src, int hs, int ws, int h,
                                                        int w, double *warped, uint8_t *in0) {
    const int bw0 = warp_block(h, w);
    int X[1024], Y[1024];  // a block's positions (bw0 <= 1024)
    for (int y = 0; y < h; ++y) {
        for (int xb = 0; xb < w; xb += bw0) {
            const int bw = std::min(bw0, w - xb);
            const BlockStart start = block_start(H, xb, y);
            for (int x1 = 0; x1 < bw; ++x1) {  // the positions first: a loop the compiler vectorises
                const Position p = position_at(H, start, x1);
                X[x1] = p.X;
                Y[x1] = p.Y;
            }
            for (int x1 = 0; x1 < bw; ++x1) {
                const Warped p = sample_at(src, hs, ws, X[x1], Y[x1]);
                const size_t i = static_cast<size_t>(y) * w + xb + x1;
                warped[i] = p.v;
                in0[i] = p.in;
            }
        }
    }
}

// The ZNCC of a window pair from its sums (b: the warped source's window sums of b, b^2 and a b; the reference's
// mean and variance), as every comparison computes it (compiled with compare's options, so that it is inlined
// there).
__attribute__((optimize("no-math-errno"))) inline float zncc_of(double sb, double sbb, double sab, double ma,
                                                                 double va, double inv_area) {
    const double mb = sb * inv_area;
    const double vv = sbb * inv_area - mb * mb;
    const double vb = vv < 0.0 ? 0.0 : vv;  // std::max(vv, 0.0), written out (see clamp_int)
    const double cov = sab * inv_area - ma * mb;
    const double den = std::sqrt(va * vb);
    return den > 1e-3 ? static_cast<float>(cov / den) : 0.f;
}

// One plane's comparison: ZNCC into `zncc` [h, w] and the eroded inside mask into `inside` [h, w]. The window
// sums are formed a strip of rows at a time: each strip's rows (and the r rows beyond each of its edges) summed
// along the row, then down the columns.
__attribute__((optimize("no-math-errno"))) void compare(const PlaneReference &ref, const float *src, int hs, int ws, const double *H, Scratch &s, float *zncc,
             uint8_t *inside) {
    const int h = ref.h, w = ref.w, r = ref.r, k = 2 * r + 1;
    const size_t n = static_cast<size_t>(h) * w;
    const double inv_area = 1.0 / static_cast<double>(k * k);
    s.b.resize(n);
    s.in0.resize(n);
    warp(H, src, hs, ws, h, w, s.b.data(), s.in0.data());
    const size_t plane = static_cast<size_t>(STRIP + 2 * r) * w;  // one quantity's rows of a strip
    s.strip.resize(3 * plane + 3 * static_cast<size_t>(w));
    double *col[3] = {s.strip.data() + 3 * plane, s.strip.data() + 3 * plane + w, s.strip.data() + 3 * plane + 2 * w};
    for (int y0 = 0; y0 < h; y0 += STRIP) {
        const int y1 = std::min(h, y0 + STRIP);
        for (int t = y0 - r; t < y1 + r; ++t) {
            const int yy = t < 0 || t >= h ? reflect101(t, h) : t;
            const size_t off = static_cast<size_t>(t - (y0 - r)) * w;
            double *out[3] = {s.strip.data() + off, s.strip.data() + plane + off, s.strip.data() + 2 * plane + off};
            row_sums(ref.image.data() + static_cast<size_t>(yy) * w, s.b.data() + static_cast<size_t>(yy) * w, w, r,
                     s.pad, out);
        }
        for (int y = y0; y < y1; ++y) {
            for (int q = 0; q < 3; ++q) {
                const double *base = s.strip.data() + q * plane + static_cast<size_t>(y - y0) * w;
                double *c = col[q];
                for (int x = 0; x < w; ++x) c[x] = base[x];
                for (int t = 1; t < k; ++t)
                    for (int x = 0; x < w; ++x) c[x] += base[static_cast<size_t>(t) * w + x];
            }
            const size_t row = static_cast<size_t>(y) * w;
            const double *ma = ref.mean.data() + row, *va = ref.var.data() + row;
            float *z = zncc + row;
            for (int x = 0; x < w; ++x) z[x] = zncc_of(col[0][x], col[1][x], col[2][x], ma[x], va[x], inv_area);
        }
    }
    erode(s.in0.data(), h, w, r, s.cnt, inside);
}

// The share of a reference's pixels above which plane_zncc_best compares whole images: a masked pixel costs about
// four times a pixel of the whole-image pass (its window's warp and sums are its own), so the two meet near a
// fifth (a 640x480 reference, 22 planes, on a 2-core AVX-512 EPYC: 0.23 of the whole pass's time at 5 % of the
// pixels, 1.9 times at 45 %). Either way the bits are the same.
constexpr double MASKED_SHARE_MAX = 0.2;

// One plane's comparison at the pixels `pixels` (indices y * w + x) only: per pixel, the ZNCC where its window is
// inside the warp (compare's eroded mask), else -1, raised into `best`. The warp is made at the pixels of their
// windows only (`need`, warp_at with the block starts of warp()), and each window's sums are formed as compare()
// forms them, the same additions in the same order (a row's taps left to right, then the rows top to bottom,
// mirrored borders), so every ZNCC is the bits compare() gives that pixel.
__attribute__((optimize("fp-contract=off"))) void compare_at(const PlaneReference &ref, const float *src, int hs,
                                                              int ws, const double *H,
                                                              const std::vector<int64_t> &pixels,
                                                              const std::vector<int64_t> &need,
                                                              std::vector<double> &b, std::vector<uint8_t> &in0,
                                                              float *best) {
    const int h = ref.h, w = ref.w, r = ref.r, k = 2 * r + 1;
    const double inv_area = 1.0 / static_cast<double>(k * k);
    const int bw0 = warp_block(h, w);
    for (const int64_t i : need) {
        const int y = static_cast<int>(i / w), x = static_cast<int>(i % w);
        const int xb = (x / bw0) * bw0;
        const Warped p = warp_at(H, src, hs, ws, block_start(H, xb, y), x - xb);
        b[i] = p.v;
        in0[i] = p.in;
    }
    const double *a = ref.image.data();
    int cx[64];
    for (const int64_t i : pixels) {
        const int y = static_cast<int>(i / w), x = static_cast<int>(i % w);
        bool inside = true;  // erode: every pixel of the window within the image inside the warp
        for (int yy = std::max(0, y - r); inside && yy <= std::min(h - 1, y + r); ++yy)
            for (int xx = std::max(0, x - r); xx <= std::min(w - 1, x + r); ++xx)
                if (!in0[static_cast<size_t>(yy) * w + xx]) {
                    inside = false;
                    break;
                }
        if (!inside) continue;  // -1: no larger than best's start
        for (int t = 0; t < k; ++t) cx[t] = reflect101(x - r + t, w);
        double sb = 0.0, sbb = 0.0, sab = 0.0;
        for (int t = 0; t < k; ++t) {
            const size_t row = static_cast<size_t>(reflect101(y - r + t, h)) * w;
            double rb = b[row + cx[0]];
            double rbb = b[row + cx[0]] * b[row + cx[0]];
            double rab = a[row + cx[0]] * b[row + cx[0]];
            for (int u = 1; u < k; ++u) {
                const double v = b[row + cx[u]];
                const double vv = v * v, av = a[row + cx[u]] * v;
                rb += v;
                rbb += vv;
                rab += av;
            }
            if (t == 0) {
                sb = rb;
                sbb = rbb;
                sab = rab;
            } else {
                sb += rb;
                sbb += rbb;
                sab += rab;
            }
        }
        const float z = zncc_of(sb, sbb, sab, ref.mean[i], ref.var[i], inv_area);
        if (z > best[i]) best[i] = z;
    }
}

struct Inputs {
    const float *src;
    const double *H;
    int hs, ws;
    int64_t P;
};

Inputs inputs(const py::array &src, const py::array &homographies, const char *op) {
    const std::string name(op);
    check(src.ndim() == 2 && src.shape(0) > 0 && src.shape(1) > 0, name + ": a source image [hs, ws] expected");
    check(homographies.ndim() == 3 && homographies.shape(1) == 3 && homographies.shape(2) == 3,
          name + ": homographies [P, 3, 3] expected");
    Inputs in;
    in.src = input<float>(src, name + ": a C-contiguous float32 source image expected");
    in.H = input<double>(homographies, name + ": C-contiguous float64 homographies expected");
    in.hs = static_cast<int>(src.shape(0));
    in.ws = static_cast<int>(src.shape(1));
    in.P = homographies.shape(0);
    return in;
}

}  // namespace

PlaneReference::PlaneReference(const py::array &image, int64_t window) {
    check(image.ndim() == 2 && image.shape(0) > 0 && image.shape(1) > 0, "PlaneReference: an image [h, w] expected");
    check(window >= 1 && window % 2 == 1, "PlaneReference: an odd window side >= 1 expected");
    const float *a = input<float>(image, "PlaneReference: a C-contiguous float32 image expected");
    h = static_cast<int>(image.shape(0));
    w = static_cast<int>(image.shape(1));
    r = static_cast<int>(window / 2);
    const size_t n = static_cast<size_t>(h) * w;
    const double inv_area = 1.0 / static_cast<double>((2 * r + 1) * (2 * r + 1));
    std::vector<double> sq(n), rows, pad, s2(n);
    this->image.resize(n);
    mean.resize(n);
    var.resize(n);
    for (size_t i = 0; i < n; ++i) {
        this->image[i] = a[i];
        sq[i] = this->image[i] * this->image[i];
    }
    box_sums(this->image.data(), h, w, r, rows, pad, mean.data());
    box_sums(sq.data(), h, w, r, rows, pad, s2.data());
    for (size_t i = 0; i < n; ++i) {
        mean[i] *= inv_area;
        var[i] = std::max(s2[i] * inv_area - mean[i] * mean[i], 0.0);
    }
}

py::array_t<float> PlaneReference::std() const {
    float *o;
    auto out = output<float>({h, w}, o);
    for (size_t i = 0; i < var.size(); ++i) o[i] = static_cast<float>(std::sqrt(var[i]));
    return out;
}

std::tuple<py::array_t<float>, py::array_t<bool>> plane_zncc(const PlaneReference &ref, const py::array &src,
                                                              const py::array &homographies, int64_t num_threads) {
    const Inputs in = inputs(src, homographies, "plane_zncc");
    const size_t n = static_cast<size_t>(ref.h) * ref.w;
    float *zo;
    bool *io;
    auto zncc = output<float>({in.P, static_cast<int64_t>(ref.h), static_cast<int64_t>(ref.w)}, zo);
    auto inside = output<bool>({in.P, static_cast<int64_t>(ref.h), static_cast<int64_t>(ref.w)}, io);
    {
        py::gil_scoped_release nogil;
        const int nt = static_cast<int>(std::min<int64_t>(std::max<int64_t>(in.P, 1), resolve_threads(num_threads)));
#pragma omp parallel num_threads(nt)
        {
            Scratch s;
            std::vector<uint8_t> mask(n);
#pragma omp for schedule(dynamic, 1)
            for (int64_t p = 0; p < in.P; ++p) {
                compare(ref, in.src, in.hs, in.ws, in.H + 9 * p, s, zo + p * n, mask.data());
                for (size_t i = 0; i < n; ++i) io[p * n + i] = mask[i] != 0;
            }
        }
    }
    return {zncc, inside};
}

py::array_t<float> plane_zncc_best(const PlaneReference &ref, const py::array &src, const py::array &homographies,
                                   const py::array &mask, int64_t num_threads) {
    const Inputs in = inputs(src, homographies, "plane_zncc_best");
    check(mask.ndim() == 2 && mask.shape(0) == ref.h && mask.shape(1) == ref.w,
          "plane_zncc_best: a mask [h, w] of the reference's size expected");
    const bool *m = input<bool>(mask, "plane_zncc_best: a C-contiguous bool mask expected");
    const int h = ref.h, w = ref.w, r = ref.r;
    const size_t n = static_cast<size_t>(h) * w;
    float *bo;
    auto best = output<float>({static_cast<int64_t>(h), static_cast<int64_t>(w)}, bo);
    {
        py::gil_scoped_release nogil;
        std::fill(bo, bo + n, -1.f);
        std::vector<int64_t> pixels, need;
        for (size_t i = 0; i < n; ++i)
            if (m[i]) pixels.push_back(static_cast<int64_t>(i));
        // Above MASKED_SHARE_MAX of the pixels a whole-image comparison (compare) is the cheaper way to the same
        // bits; below, the warp is made at the pixels of the compared pixels' windows only (`need`)
        const bool whole = static_cast<double>(pixels.size()) > MASKED_SHARE_MAX * static_cast<double>(n);
        if (!whole) {
            std::vector<uint8_t> mark(n, 0);
            for (const int64_t i : pixels) {
                const int y = static_cast<int>(i / w), x = static_cast<int>(i % w);
                for (int yy = std::max(0, y - r); yy <= std::min(h - 1, y + r); ++yy)
                    for (int xx = std::max(0, x - r); xx <= std::min(w - 1, x + r); ++xx)
                        mark[static_cast<size_t>(yy) * w + xx] = 1;
            }
            for (size_t i = 0; i < n; ++i)
                if (mark[i]) need.push_back(static_cast<int64_t>(i));
        }
        // each thread raises its own best over its planes, the maxima taken after (a max is exact: the result
        // does not depend on the thread count)
        const int nt = static_cast<int>(std::min<int64_t>(std::max<int64_t>(in.P, 1), resolve_threads(num_threads)));
        std::vector<std::vector<float>> part(nt);
#pragma omp parallel num_threads(nt)
        {
            std::vector<float> &mine = part[thread_id()];
            mine.assign(n, -1.f);
            std::vector<double> b(whole ? 0 : n);
            std::vector<uint8_t> in0(whole ? 0 : n), inside(whole ? n : 0);
            std::vector<float> z(whole ? n : 0);
            Scratch s;
#pragma omp for schedule(dynamic, 1)
            for (int64_t p = 0; p < in.P; ++p) {
                if (!whole) {
                    compare_at(ref, in.src, in.hs, in.ws, in.H + 9 * p, pixels, need, b, in0, mine.data());
                    continue;
                }
                compare(ref, in.src, in.hs, in.ws, in.H + 9 * p, s, z.data(), inside.data());
                for (const int64_t i : pixels)
                    if (inside[i] && z[i] > mine[i]) mine[i] = z[i];
            }
        }
        for (const auto &mine : part)
            if (!mine.empty())  // a thread of the team
                for (const int64_t i : pixels) bo[i] = std::max(bo[i], mine[i]);
    }
    return best;
}

std::tuple<py::array_t<double>, py::array_t<int64_t>> plane_zncc_sums(
    const std::vector<const PlaneReference *> &refs, const std::vector<py::array> &srcs,
    const std::vector<py::array> &homographies, const std::vector<py::array> &planes,
    const std::vector<py::array> &kinvs, int64_t num_threads) {
    const size_t pairs = refs.size();
    check(srcs.size() == pairs && homographies.size() == pairs && planes.size() == pairs && kinvs.size() == pairs,
          "plane_zncc_sums: one source, homographies, planes and kinv per reference expected");
    std::vector<Inputs> in;
    std::vector<const double *> pl, Ki;
    const int64_t P = pairs ? homographies[0].shape(0) : 0;
    for (size_t k = 0; k < pairs; ++k) {
        check(refs[k] != nullptr, "plane_zncc_sums: a reference expected");
        in.push_back(inputs(srcs[k], homographies[k], "plane_zncc_sums"));
        check(in.back().P == P, "plane_zncc_sums: the same number of homographies for every pair expected");
        check(planes[k].ndim() == 2 && planes[k].shape(0) == P && planes[k].shape(1) == 4,
              "plane_zncc_sums: planes [P, 4] expected, one per homography");
        check(kinvs[k].ndim() == 2 && kinvs[k].shape(0) == 3 && kinvs[k].shape(1) == 3,
              "plane_zncc_sums: kinv [3, 3] expected");
        pl.push_back(input<double>(planes[k], "plane_zncc_sums: C-contiguous float64 planes expected"));
        Ki.push_back(input<double>(kinvs[k], "plane_zncc_sums: a C-contiguous float64 kinv expected"));
    }
    double *so;
    int64_t *co;
    auto sums = output<double>({static_cast<py::ssize_t>(pairs), P}, so);
    auto counts = output<int64_t>({static_cast<py::ssize_t>(pairs), P}, co);
    {
        py::gil_scoped_release nogil;
        const int64_t tasks = static_cast<int64_t>(pairs) * P;
        const int nt = static_cast<int>(std::min<int64_t>(std::max<int64_t>(tasks, 1), resolve_threads(num_threads)));
#pragma omp parallel num_threads(nt)
        {
            Scratch s;
            std::vector<float> z;
            std::vector<uint8_t> mask;
#pragma omp for schedule(dynamic, 1)
            for (int64_t task = 0; task < tasks; ++task) {
                const int64_t k = task / P, p = task % P;
                const PlaneReference &ref = *refs[k];
                const int w = ref.w;
                const size_t n = static_cast<size_t>(ref.h) * w;
                z.resize(n);
                mask.resize(n);
                compare(ref, in[k].src, in[k].hs, in[k].ws, in[k].H + 9 * p, s, z.data(), mask.data());
                const double *q = pl[k] + 4 * p, *K = Ki[k];
                double total = 0.0;
                int64_t count = 0;
                for (size_t i = 0; i < n; ++i) {
                    if (!mask[i]) continue;
                    const double u = static_cast<double>(i % w) + 0.5, v = static_cast<double>(i / w) + 0.5;
                    double dot = 0.0;  // the pixel's ray . the plane's normal
                    for (int c = 0; c < 3; ++c) dot += (u * K[3 * c] + v * K[3 * c + 1] + K[3 * c + 2]) * q[c];
                    const double depth = -q[3] / dot;
                    if (!(std::isfinite(depth) && depth > 0.0)) continue;  // the plane behind the camera
                    total += z[i];
                    ++count;
                }
                so[task] = total;
                co[task] = count;
            }
        }
    }
    return {sums, counts};
}

}  // namespace p2a
