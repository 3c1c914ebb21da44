// Gripper boxes against a cloud, for the grasp planner's collision checks
// (point2act.grasp.planner; reference: point2act.grasp.box_hits.gripper_cloud_hits_reference).
//
// Candidates are (pair k, approach angle t). Pair k's entries are the cloud
// points near it, in the pair's frame: sx along its closing axis x (from the
// pair's centre), su and sv across it. Approach angle t turns the gripper about
// x: the point's gripper coordinates are
//     x = sx - off[k, t],  y = su sin t - sv cos t,  z = su cos t + sv sin t.
// A box is given relative to the grasp (ax = |x|, zr = z - dep[k, t]):
//     ax in [xa0 + xh0 * hh[k, t], xa1 + xh1 * hh[k, t]],  |y| <= y_half,
//     zr in [z_lo, z_hi];
// a point's excess over it per axis is (ex, ey, ez) >= 0. A "hit" box counts
// the points within `margin` of it (metric 0: Euclidean, sqrt(ex^2 + ey^2 +
// ez^2) <= margin; 1: per axis, max(ex, ey, ez) <= margin); a "distance" box
// gives the smallest Euclidean excess over the points. Only candidates with
// alive[k, t] are checked; a candidate stops counting at min_points unless a
// distance box needs every point.
//
// A candidate's count (its hits capped at min_points) and distance (the
// smallest over its entries) do not depend on the order its entries are tested
// in, so the kernel tests them in any order and skips those that cannot count:
// the cloud is sorted into cells of nearby points (make_cells); a pair skips a
// cell whose bounding ball is outside its radius or band (cell_may_hold) or, with
// no distance box, cannot reach a box at any approach still counting
// (cell_may_hit), both with a tolerance far above rounding; the entries of the
// cells it keeps are gathered in batches and every approach still counting
// tests a batch in one vectorized loop. Whether a point is an entry and whether
// it hits is decided by the same floating-point operations, in the same order
// and rounding, as a scalar loop over the cloud compiled by GCC (mul_add).

#include "ops.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace p2a {
namespace {

struct Box {
    double xa0, xh0, xa1, xh1, y_half, z_lo, z_hi, margin;
    int metric, role;  // role 0: hit, 1: distance
};

// a * b + c, the way the compiler contracts the kernel's expressions: one rounding on FMA targets
// (std::fma), two elsewhere. Every sum of products below is written with it in the order GCC contracts
// `p + q + r` (p fused into q, then r fused), so a value does not depend on whether its loop is
// vectorized: d0 x0 + d1 x1 + d2 x2 is mul_add(d2, x2, mul_add(d0, x0, d1 * x1)).
inline double mul_add(double a, double b, double c) {
#ifdef __FMA__
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

// Entries per batch: a batch's entries are gathered, then every approach still counting tests them
// together (a loop the compiler vectorizes); the early stop is checked between batches.
constexpr int64_t kBlock = 256;

// Per-thread scratch of one batch: the pair coordinates (bx, bu, bv) of the points being gathered and
// whether each is an entry, the batch's entries (sx, su, sv) and, per approach, their gripper
// coordinates and hit flags.
struct Scratch {
    std::vector<double> bx, bu, bv, sx, su, sv, ax, ay, zr;
    std::vector<int64_t> keep, hit;
    Scratch()
        : bx(kBlock), bu(kBlock), bv(kBlock), sx(kBlock), su(kBlock), sv(kBlock), ax(kBlock), ay(kBlock),
          zr(kBlock), keep(kBlock), hit(kBlock) {}
};

// Appends the entries among points [j0, j0 + nb) (px, py, pz: the cloud's coordinates) of the pair at
// ck with axes xk, uk, vk to the e0 entries in s.sx, s.su, s.sv (e0 + nb <= kBlock), in point order;
// returns the new number of entries. A point is an entry unless d . d > r2 or |sx| < lo or |sx| > hi
// (d: the point minus ck).
inline int64_t gather_entries(Scratch &s, const double *px, const double *py, const double *pz, int64_t j0,
                              int64_t nb, const double *ck, const double *xk, const double *uk, const double *vk,
                              double r2, double lo, double hi, int64_t e0) {
    double *__restrict bx = s.bx.data(), *__restrict bu = s.bu.data(), *__restrict bv = s.bv.data();
    int64_t *__restrict keep = s.keep.data();
    const double c0 = ck[0], c1 = ck[1], c2 = ck[2];
    const double x0 = xk[0], x1 = xk[1], x2 = xk[2], u0 = uk[0], u1 = uk[1], u2 = uk[2];
    const double v0 = vk[0], v1 = vk[1], v2 = vk[2];
    for (int64_t i = 0; i < nb; ++i) {
        const double d0 = px[j0 + i] - c0, d1 = py[j0 + i] - c1, d2 = pz[j0 + i] - c2;
        const double sx = mul_add(d2, x2, mul_add(d0, x0, d1 * x1));
        bx[i] = sx;
        bu[i] = mul_add(d2, u2, mul_add(d0, u0, d1 * u1));
        bv[i] = mul_add(d2, v2, mul_add(d0, v0, d1 * v1));
        keep[i] = int64_t(!(mul_add(d2, d2, mul_add(d0, d0, d1 * d1)) > r2)) &
                  int64_t(!(std::abs(sx) < lo)) & int64_t(!(std::abs(sx) > hi));
    }
    double *__restrict sx = s.sx.data(), *__restrict su = s.su.data(), *__restrict sv = s.sv.data();
    int64_t e = e0, i = 0;
#ifdef __AVX512F__
    for (; i + 8 <= nb; i += 8) {  // the same compaction, 8 points at a time
        const __mmask8 m = _mm512_test_epi64_mask(_mm512_loadu_si512(keep + i), _mm512_set1_epi64(1));
        _mm512_storeu_pd(sx + e, _mm512_maskz_compress_pd(m, _mm512_loadu_pd(bx + i)));
        _mm512_storeu_pd(su + e, _mm512_maskz_compress_pd(m, _mm512_loadu_pd(bu + i)));
        _mm512_storeu_pd(sv + e, _mm512_maskz_compress_pd(m, _mm512_loadu_pd(bv + i)));
        e += __builtin_popcount(unsigned(m));
    }
#endif
    for (; i < nb; ++i) {
        sx[e] = bx[i];
        su[e] = bu[i];
        sv[e] = bv[i];
        e += keep[i];
    }
    return e;
}

// Tests entries [0, e) of `s` against the boxes at approach t of pair k (gripper-frame |x|, |y| and z
// relative to the TCP, as in the header): returns how many are within a HIT box's margin; a DISTANCE
// box lowers `best`.
inline int64_t block_hits(Scratch &s, int64_t e, double sin_t, double cos_t, double off, double h, double dep,
                          const std::vector<Box> &boxes, double &best) {
    double *__restrict ax = s.ax.data(), *__restrict ay = s.ay.data(), *__restrict zr = s.zr.data();
    const double *__restrict sx = s.sx.data(), *__restrict u = s.su.data(), *__restrict v = s.sv.data();
    int64_t *__restrict hit = s.hit.data();
    for (int64_t i = 0; i < e; ++i) {
        ax[i] = std::abs(sx[i] - off);
        ay[i] = std::abs(mul_add(u[i], sin_t, -(v[i] * cos_t)));
        zr[i] = mul_add(u[i], cos_t, v[i] * sin_t) - dep;
        hit[i] = 0;
    }
    bool any_hit_box = false;
    for (const Box &b : boxes) {
        const double xlo = mul_add(b.xh0, h, b.xa0), xhi = mul_add(b.xh1, h, b.xa1);
        const double y_half = b.y_half, z_lo = b.z_lo, z_hi = b.z_hi, margin = b.margin;
        if (b.role == 1) {
            double m = best;
            for (int64_t i = 0; i < e; ++i) {
                const double ex = std::max(std::max(xlo - ax[i], ax[i] - xhi), 0.0);
                const double ey = std::max(ay[i] - y_half, 0.0);
                const double ez = std::max(std::max(z_lo - zr[i], zr[i] - z_hi), 0.0);
                m = std::min(m, std::sqrt(mul_add(ez, ez, mul_add(ex, ex, ey * ey))));
            }
            best = m;
        } else if (b.metric == 0) {
            any_hit_box = true;
            const double m2 = margin * margin;
            for (int64_t i = 0; i < e; ++i) {
                const double ex = std::max(std::max(xlo - ax[i], ax[i] - xhi), 0.0);
                const double ey = std::max(ay[i] - y_half, 0.0);
                const double ez = std::max(std::max(z_lo - zr[i], zr[i] - z_hi), 0.0);
                hit[i] |= int64_t(mul_add(ez, ez, mul_add(ex, ex, ey * ey)) <= m2);
            }
        } else {
            any_hit_box = true;
            for (int64_t i = 0; i < e; ++i) {
                const double ex = std::max(std::max(xlo - ax[i], ax[i] - xhi), 0.0);
                const double ey = std::max(ay[i] - y_half, 0.0);
                const double ez = std::max(std::max(z_lo - zr[i], zr[i] - z_hi), 0.0);
                hit[i] |= int64_t(std::max(std::max(ex, ey), ez) <= margin);
            }
        }
    }
    if (!any_hit_box) return 0;
    int64_t n = 0;
    for (int64_t i = 0; i < e; ++i) n += hit[i];
    return n;
}

// The cloud in cells of kCell points, near points together: each cell's box bounds its points, so a
// pair skips a cell none of whose points can be its entry.
constexpr int64_t kCell = 64;

struct Cells {
    std::vector<double> xyz;  // [3, M] the points' x, y and z, each contiguous, in cell order
    std::vector<double> mid;  // [C, 3] the centre of each cell's bounding box
    std::vector<double> rad;  // [C] half its diagonal; NaN for a cell with a non-finite coordinate
};

// Orders the points along a Z-order curve of a 16^3 grid over their bounding box (a stable counting
// sort, so points keep their cloud order within a grid cell) and cuts them into cells of kCell points.
Cells make_cells(const double *cloud, int64_t M) {
    constexpr int G = 16;
    double lo[3], hi[3];
    for (int a = 0; a < 3; ++a) lo[a] = std::numeric_limits<double>::infinity(), hi[a] = -lo[a];
    for (int64_t j = 0; j < M; ++j)
        for (int a = 0; a < 3; ++a) {
            const double p = cloud[3 * j + a];
            if (std::isfinite(p)) lo[a] = std::min(lo[a], p), hi[a] = std::max(hi[a], p);
        }
    std::vector<int32_t> code(M);
    std::vector<int64_t> start(G * G * G + 1, 0);
    for (int64_t j = 0; j < M; ++j) {
        int32_t z = 0;
        for (int a = 0; a < 3; ++a) {
            // cell along axis a, 0 for NaN and below, G - 1 for +inf and above
            const double f = (cloud[3 * j + a] - lo[a]) * (G / (hi[a] - lo[a]));
            const int q = f > 0 ? (f < G ? int(f) : G - 1) : 0;
            for (int bit = 0; bit < 4; ++bit) z |= ((q >> bit) & 1) << (3 * bit + a);
        }
        code[j] = z;
        ++start[z + 1];
    }
    for (int i = 0; i < G * G * G; ++i) start[i + 1] += start[i];
    Cells cs;
    cs.xyz.resize(3 * M);
    double *px = cs.xyz.data(), *py = px + M, *pz = py + M;
    for (int64_t j = 0; j < M; ++j) {
        const int64_t at = start[code[j]]++;
        px[at] = cloud[3 * j];
        py[at] = cloud[3 * j + 1];
        pz[at] = cloud[3 * j + 2];
    }
    const int64_t C = (M + kCell - 1) / kCell;
    cs.mid.resize(3 * C);
    cs.rad.resize(C);
    for (int64_t b = 0; b < C; ++b) {
        const int64_t j0 = b * kCell, j1 = std::min(M, j0 + kCell);
        double r2 = 0;
        bool finite = true;
        for (int a = 0; a < 3; ++a) {
            const double *p = cs.xyz.data() + a * M;
            double l = p[j0], h = p[j0];
            for (int64_t j = j0; j < j1; ++j) {
                finite &= std::isfinite(p[j]);
                l = std::min(l, p[j]);
                h = std::max(h, p[j]);
            }
            cs.mid[3 * b + a] = 0.5 * (l + h);
            r2 += (h - l) * (h - l);
        }
        cs.rad[b] = finite ? 0.5 * std::sqrt(r2) : std::numeric_limits<double>::quiet_NaN();
    }
    return cs;
}

// Can cell b hold an entry of the pair at ck (axis xk, |xk| = xn)? False only when its bounding ball
// lies, by more than a tolerance far above the rounding of the entry test, outside the radius or the
// band |sx| in [lo, hi]; NaN anywhere (a non-finite point, radius or band) keeps the cell.
inline bool cell_may_hold(const Cells &cs, int64_t b, const double *ck, const double *xk, double xn, double radius,
                          double lo, double hi) {
    const double *m = cs.mid.data() + 3 * b;
    const double rb = cs.rad[b];
    const double d0 = m[0] - ck[0], d1 = m[1] - ck[1], d2 = m[2] - ck[2];
    const double dist = std::sqrt(d0 * d0 + d1 * d1 + d2 * d2);
    const double scale = 1.0 + std::abs(m[0]) + std::abs(m[1]) + std::abs(m[2]) + std::abs(ck[0]) +
                         std::abs(ck[1]) + std::abs(ck[2]) + rb + radius;
    const double tol = 1e-9 * scale;
    if (dist - rb > radius + tol) return false;
    const double sx = d0 * xk[0] + d1 * xk[1] + d2 * xk[2], ext = rb * xn, tol_x = tol * (1.0 + xn);
    if (std::abs(sx) + ext < lo - tol_x) return false;
    if (std::abs(sx) - ext > hi + tol_x) return false;
    return true;
}

// Can a point of cell b hit a HIT box at approach t of pair k? The cell's centre, in the pair's frame
// (cx, cu, cv), has excess vector E over each box; a point of the cell is within L * rb of the centre
// in gripper coordinates (L: a bound on the norm of the map from cloud to gripper coordinates), and E
// changes by at most as much per axis, so the point's |E| (L2) or max(E) (LINF) is at least the centre's
// less L * rb. False only when that bound exceeds every HIT box's margin by a tolerance far above the
// rounding of the exact test; NaN anywhere keeps the cell.
inline bool cell_may_hit(double cx, double cu, double cv, double reach, double scale, double sin_t, double cos_t,
                         double off, double h, double dep, const std::vector<Box> &boxes) {
    const double ax = std::abs(cx - off), ay = std::abs(cu * sin_t - cv * cos_t), zr = cu * cos_t + cv * sin_t - dep;
    const double tol = 1e-9 * (scale + std::abs(off) + std::abs(h) + std::abs(dep));
    for (const Box &b : boxes) {
        if (b.role == 1) return true;
        const double xlo = b.xa0 + b.xh0 * h, xhi = b.xa1 + b.xh1 * h;
        const double ex = std::max(std::max(xlo - ax, ax - xhi), 0.0);
        const double ey = std::max(ay - b.y_half, 0.0);
        const double ez = std::max(std::max(b.z_lo - zr, zr - b.z_hi), 0.0);
        const double lower = (b.metric == 0 ? std::sqrt(ex * ex + ey * ey + ez * ez) : std::max(std::max(ex, ey), ez)) - reach;
        const double btol = tol * (1.0 + std::abs(b.xa0) + std::abs(b.xh0) + std::abs(b.xa1) + std::abs(b.xh1) +
                                   std::abs(b.y_half) + std::abs(b.z_lo) + std::abs(b.z_hi) + std::abs(b.margin));
        if (!(lower > b.margin + btol)) return true;
    }
    return false;
}

// Pair k's points are the cloud points within `radius` of its centre c[k] whose |sx| lies in
// [band_lo[k], band_hi[k]] (sx, su, sv: the point minus c[k] along the pair's axes x[k], u[k], v[k]).
// Each pair goes through the cloud's cells (make_cells) once, skipping those that cannot hold one of
// its points (cell_may_hold) and, without a DISTANCE box, those that cannot hit a box at any live
// approach still below min_points (cell_may_hit); it gathers the entries of the others up to kBlock
// at a time, then each such approach that one of the batch's cells may hit (every live approach where
// a DISTANCE box needs every point) tests them all. A candidate's count is its number of hits capped at
// min_points, and its distance the smallest over its entries: neither depends on the order the
// entries are tested in, and a skipped entry would not have hit, so the scan stops after the batch
// where every live approach has reached min_points.
void gripper_cloud_hits_impl(int64_t K, int64_t T, int64_t M, const double *c, const double *xa, const double *ua,
                             const double *va, const double *cloud, double radius, const double *band_lo,
                             const double *band_hi, const double *cos_t, const double *sin_t, const bool *alive,
                             const double *off, const double *hh, const double *dep, const std::vector<Box> &boxes,
                             int64_t min_points, int nthreads, int32_t *hits, float *clear) {
    bool want_dist = false;
    for (const Box &b : boxes) want_dist |= b.role == 1;
    const double r2 = radius * radius;
    const Cells cs = make_cells(cloud, M);
    const double *px = cs.xyz.data(), *py = px + M, *pz = py + M;
    const int64_t C = int64_t(cs.rad.size());
#pragma omp parallel num_threads(nthreads)
    {
        Scratch s;
        std::vector<int64_t> n(T), open_t(T);
        std::vector<double> best(T);
        std::vector<char> test(T);  // approaches that a cell of the batch may hit
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < K; ++k) {
            std::fill(n.begin(), n.end(), 0);
            std::fill(best.begin(), best.end(), std::numeric_limits<double>::infinity());
            int64_t open = 0;
            for (int64_t t = 0; t < T; ++t) {
                test[t] = want_dist;
                if (alive[k * T + t]) open_t[open++] = t;
            }
            int64_t n_open = open;  // open_t[0, n_open): the live approaches below min_points
            const double *ck = c + 3 * k, *xk = xa + 3 * k, *uk = ua + 3 * k, *vk = va + 3 * k;
            const double lo = band_lo[k], hi = band_hi[k];
            const double xx = xk[0] * xk[0] + xk[1] * xk[1] + xk[2] * xk[2];
            const double uu = uk[0] * uk[0] + uk[1] * uk[1] + uk[2] * uk[2];
            const double vv = vk[0] * vk[0] + vk[1] * vk[1] + vk[2] * vk[2];
            const double xu = xk[0] * uk[0] + xk[1] * uk[1] + xk[2] * uk[2];
            const double xv = xk[0] * vk[0] + xk[1] * vk[1] + xk[2] * vk[2];
            const double uv = uk[0] * vk[0] + uk[1] * vk[1] + uk[2] * vk[2];
            const double xn = std::sqrt(xx);
            // norm of p -> (x, y, z): 1 for orthonormal axes (1 + 1e-5 within 1e-6 of them), else at most
            // the Frobenius norm sqrt(|x|^2 + |u|^2 + |v|^2)
            const double dev = std::max(std::max(std::max(std::abs(xx - 1), std::abs(uu - 1)), std::abs(vv - 1)),
                                        std::max(std::max(std::abs(xu), std::abs(xv)), std::abs(uv)));
            const double lip = dev <= 1e-6 ? 1.0 + 1e-5 : 1e-5 + std::sqrt(xx + uu + vv) * (1.0 + 1e-9);
            int64_t e = 0;
            for (int64_t b = 0; b <= C && (open > 0 || want_dist); ++b) {
                bool take = false;
                if (b < C && cell_may_hold(cs, b, ck, xk, xn, radius, lo, hi)) {
                    take = true;
                    if (!want_dist) {
                        const double *m = cs.mid.data() + 3 * b;
                        const double d0 = m[0] - ck[0], d1 = m[1] - ck[1], d2 = m[2] - ck[2];
                        const double cx = d0 * xk[0] + d1 * xk[1] + d2 * xk[2];
                        const double cu = d0 * uk[0] + d1 * uk[1] + d2 * uk[2];
                        const double cv = d0 * vk[0] + d1 * vk[1] + d2 * vk[2];
                        const double reach = lip * cs.rad[b];
                        const double scale = 1.0 + std::abs(m[0]) + std::abs(m[1]) + std::abs(m[2]) +
                                             std::abs(ck[0]) + std::abs(ck[1]) + std::abs(ck[2]) + std::abs(cx) +
                                             std::abs(cu) + std::abs(cv) + reach;
                        take = false;
                        for (int64_t i = 0; i < n_open; ++i) {
                            const int64_t t = open_t[i], kt = k * T + t;
                            if (test[t] ||
                                cell_may_hit(cx, cu, cv, reach, scale, sin_t[t], cos_t[t], off[kt], hh[kt], dep[kt], boxes))
                                take = test[t] = true;
                        }
                    }
                }
                if (take && e + kCell <= kBlock) {
                    e = gather_entries(s, px, py, pz, b * kCell, std::min(kCell, M - b * kCell), ck, xk, uk, vk, r2,
                                       lo, hi, e);
                    continue;
                }
                if (!take && b < C) continue;
                // a full batch, or the last: test it, then start the next with cell b
                for (int64_t t = 0; t < T && e > 0; ++t) {
                    const int64_t kt = k * T + t;
                    if (!alive[kt] || (n[t] >= min_points && !want_dist) || !test[t]) continue;
                    const int64_t m = block_hits(s, e, sin_t[t], cos_t[t], off[kt], hh[kt], dep[kt], boxes, best[t]);
                    if (n[t] < min_points && n[t] + m >= min_points) --open;
                    n[t] = std::min(n[t] + m, min_points);
                }
                n_open = 0;
                for (int64_t t = 0; t < T; ++t) {
                    test[t] = want_dist;
                    if (alive[k * T + t] && n[t] < min_points) open_t[n_open++] = t;
                }
                e = 0;
                if (b < C) --b;  // cell b again, into the empty batch
            }
            for (int64_t t = 0; t < T; ++t) {
                hits[k * T + t] = alive[k * T + t] ? int32_t(n[t]) : 0;
                clear[k * T + t] = alive[k * T + t] ? float(best[t]) : std::numeric_limits<float>::infinity();
            }
        }
    }
}

}  // namespace

py::tuple gripper_cloud_hits(const py::array &centres, const py::array &xa, const py::array &ua, const py::array &va,
                             const py::array &cloud, double radius, const py::array &band_lo,
                             const py::array &band_hi, const py::array &cos_t, const py::array &sin_t,
                             const py::array &alive, const py::array &off, const py::array &hh, const py::array &dep,
                             const py::array &boxes, int64_t min_points, int64_t num_threads) {
    const char *w64 = "gripper_cloud_hits: C-contiguous float64 inputs expected";
    const char *wb = "gripper_cloud_hits: alive must be C-contiguous bool";
    for (const auto *p : {&centres, &xa, &ua, &va, &cloud, &band_lo, &band_hi, &cos_t, &sin_t, &off, &hh, &dep, &boxes})
        check(is<double>(*p), w64);
    check(is<bool>(alive), wb);
    check(centres.ndim() == 2 && centres.shape(1) == 3 && cloud.ndim() == 2 && cloud.shape(1) == 3, "[K, 3] / [M, 3]");
    check(cos_t.ndim() >= 1, "angles [T]");
    const int64_t K = centres.shape(0), T = cos_t.shape(0), M = cloud.shape(0);
    check(xa.size() == 3 * K && ua.size() == 3 * K && va.size() == 3 * K, "axes must be [K, 3]");
    check(band_lo.size() == K && band_hi.size() == K && sin_t.size() == T, "band / angle sizes differ");
    check(alive.size() == K * T && off.size() == K * T && hh.size() == K * T && dep.size() == K * T,
          "alive, off, hh and dep must be [K, T]");
    check(boxes.ndim() == 2 && boxes.shape(1) == 10, "boxes must be [B, 10]");
    check(min_points >= 1, "min_points must be >= 1");
    std::vector<Box> bx;
    const double *b = input<double>(boxes, w64);
    for (int64_t i = 0; i < boxes.shape(0); ++i, b += 10)
        bx.push_back({b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], int(b[8]), int(b[9])});
    const double *c_ = input<double>(centres, w64), *xa_ = input<double>(xa, w64), *ua_ = input<double>(ua, w64);
    const double *va_ = input<double>(va, w64), *cl_ = input<double>(cloud, w64);
    const double *lo_ = input<double>(band_lo, w64), *hi_ = input<double>(band_hi, w64);
    const double *ct_ = input<double>(cos_t, w64), *st_ = input<double>(sin_t, w64);
    const double *off_ = input<double>(off, w64), *hh_ = input<double>(hh, w64), *dep_ = input<double>(dep, w64);
    const bool *alive_ = input<bool>(alive, wb);
    int32_t *h_;
    float *c2_;
    auto hits = output<int32_t>({K, T}, h_);
    auto clear = output<float>({K, T}, c2_);
    const int nthreads = resolve_threads(num_threads);
    {
        py::gil_scoped_release nogil;
        gripper_cloud_hits_impl(K, T, M, c_, xa_, ua_, va_, cl_, radius, lo_, hi_, ct_, st_, alive_, off_, hh_, dep_,
                                bx, min_points, nthreads, h_, c2_);
    }
    return py::make_tuple(hits, clear);
}

}  // namespace p2a
