// Unit normals of a cloud from its points' neighbourhoods (point2act.grasp.surface._normals; reference:
// point2act.grasp.surface._normals_reference, numpy's eigh).
//
// Point i's neighbours are the entries of idx[i] (nearest first; an index outside [0, M) is none) at squared
// distance (dx dx + dy dy) + dz dz < radius^2, d = neighbour - point. Their moments about the point, added in
// neighbour order, give the covariance cov = S_ab / c - m_a m_b (m = S_a / c, c the neighbour count), the
// reference's expressions. The normal is the unit eigenvector of cov's smallest eigenvalue, from the closed form
// of a symmetric 3x3 matrix (D. Eberly, "A Robust Eigensolver for 3 x 3 Symmetric Matrices", Geometric Tools;
// open3d's FastEigen3x3): the matrix scaled by its largest |entry|, the eigenvalues by the trigonometric method,
// the eigenvector of the better separated extreme eigenvalue as the longest cross product of two rows of
// (A - lambda I), the middle one from the 2x2 system in its orthogonal complement, the third their cross product.
// Sign: the component of largest magnitude (the first of equal ones) positive. Fewer than 3 neighbours, or a zero
// covariance: (0, 0, 1). Each point's answer depends on its own row only: the same bits under any thread count.

#include "ops.h"

namespace p2a {
namespace {

struct V3 {
    double x, y, z;
};

inline V3 cross(const V3 &a, const V3 &b) {
    return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}

inline double dot(const V3 &a, const V3 &b) { return (a.x * b.x + a.y * b.y) + a.z * b.z; }

inline V3 scale(const V3 &a, double s) { return {a.x * s, a.y * s, a.z * s}; }

// (p, q) scaled to unit length by its larger entry p (|p| >= |q|, p != 0): q / p, then both by 1 / |(1, q / p)|.
__attribute__((optimize("fp-contract=off"))) inline void unit_pair(double &p, double &q) {
    q /= p;
    p = 1.0 / std::sqrt(1.0 + q * q);
    q *= p;
}

// Symmetric 3x3, scaled so that its largest |entry| is 1.
struct Sym3 {
    double a00, a01, a02, a11, a12, a22;
};

// A unit eigenvector of eigenvalue e where it is simple: the longest cross product of two rows of A - e I.
__attribute__((optimize("fp-contract=off"))) V3 eigenvector_cross(const Sym3 &A, double e) {
    const V3 r0{A.a00 - e, A.a01, A.a02}, r1{A.a01, A.a11 - e, A.a12}, r2{A.a02, A.a12, A.a22 - e};
    const V3 c01 = cross(r0, r1), c02 = cross(r0, r2), c12 = cross(r1, r2);
    const double d0 = dot(c01, c01), d1 = dot(c02, c02), d2 = dot(c12, c12);
    if (d0 >= d1 && d0 >= d2) return scale(c01, 1.0 / std::sqrt(d0));
    if (d1 >= d2) return scale(c02, 1.0 / std::sqrt(d1));
    return scale(c12, 1.0 / std::sqrt(d2));
}

// A unit eigenvector of eigenvalue e orthogonal to the unit eigenvector w: the 2x2 system of A - e I in w's
// orthogonal complement (u, v), solved from its longest row.
__attribute__((optimize("fp-contract=off"))) V3 eigenvector_complement(const Sym3 &A, const V3 &w, double e) {
    V3 u;
    if (std::fabs(w.x) > std::fabs(w.y)) {
        const double inv = 1.0 / std::sqrt(w.x * w.x + w.z * w.z);
        u = {-w.z * inv, 0.0, w.x * inv};
    } else {
        const double inv = 1.0 / std::sqrt(w.y * w.y + w.z * w.z);
        u = {0.0, w.z * inv, -w.y * inv};
    }
    const V3 v = cross(w, u);
    const V3 au{(A.a00 * u.x + A.a01 * u.y) + A.a02 * u.z, (A.a01 * u.x + A.a11 * u.y) + A.a12 * u.z,
                (A.a02 * u.x + A.a12 * u.y) + A.a22 * u.z};
    const V3 av{(A.a00 * v.x + A.a01 * v.y) + A.a02 * v.z, (A.a01 * v.x + A.a11 * v.y) + A.a12 * v.z,
                (A.a02 * v.x + A.a12 * v.y) + A.a22 * v.z};
    const double m00 = dot(u, au) - e, m01 = dot(u, av), m11 = dot(v, av) - e;
    const double b00 = std::fabs(m00), b01 = std::fabs(m01), b11 = std::fabs(m11);
    // the null direction r1 u - r0 v of the 2x2 block, from its row (r0, r1) with the larger diagonal entry d (the
    // first row on a tie), the row scaled by its larger entry (d on a tie) to unit length
    const bool first = b00 >= b11;
    double d = first ? m00 : m11, o = m01;
    const double bd = first ? b00 : b11;
    if (!(std::max(bd, b01) > 0.0)) return u;
    if (bd >= b01)
        unit_pair(d, o);
    else
        unit_pair(o, d);
    const double r0 = first ? d : o, r1 = first ? o : d;
    return {r1 * u.x - r0 * v.x, r1 * u.y - r0 * v.y, r1 * u.z - r0 * v.z};
}

// The unit eigenvector of the smallest eigenvalue of the symmetric matrix (c00 c01 c02; c01 c11 c12; c02 c12
// c22), not all zero.
__attribute__((optimize("fp-contract=off"))) V3 smallest_eigenvector(double c00, double c01, double c02, double c11,
                                                                     double c12, double c22) {
    const double m0 = std::max(std::fabs(c00), std::fabs(c01)), m1 = std::max(std::fabs(c02), std::fabs(c11));
    const double big = std::max(std::max(m0, m1), std::max(std::fabs(c12), std::fabs(c22)));
    const double s = 1.0 / big;
    const Sym3 A{c00 * s, c01 * s, c02 * s, c11 * s, c12 * s, c22 * s};
    const double off2 = (A.a01 * A.a01 + A.a02 * A.a02) + A.a12 * A.a12;
    if (!(off2 > 0.0)) {  // diagonal: the axis of the smallest entry (the first of equal ones)
        if (A.a00 <= A.a11 && A.a00 <= A.a22) return {1.0, 0.0, 0.0};
        if (A.a11 <= A.a22) return {0.0, 1.0, 0.0};
        return {0.0, 0.0, 1.0};
    }
    const double q = ((A.a00 + A.a11) + A.a22) / 3.0;
    const double b00 = A.a00 - q, b11 = A.a11 - q, b22 = A.a22 - q;
    const double p = std::sqrt((((b00 * b00 + b11 * b11) + b22 * b22) + off2 * 2.0) / 6.0);
    const double k00 = b11 * b22 - A.a12 * A.a12;
    const double k01 = A.a01 * b22 - A.a12 * A.a02;
    const double k02 = A.a01 * A.a12 - b11 * A.a02;
    const double det = ((b00 * k00 - A.a01 * k01) + A.a02 * k02) / ((p * p) * p);
    const double half_det = std::min(std::max(det * 0.5, -1.0), 1.0);
    const double angle = std::acos(half_det) / 3.0;
    const double two_thirds_pi = 2.09439510239319549;
    const double beta2 = std::cos(angle) * 2.0;
    const double beta0 = std::cos(angle + two_thirds_pi) * 2.0;
    const double beta1 = -(beta0 + beta2);
    const double e0 = q + p * beta0, e1 = q + p * beta1, e2 = q + p * beta2;  // ascending
    if (half_det < 0.0) return eigenvector_cross(A, e0);  // the smallest eigenvalue is the better separated one
    const V3 w2 = eigenvector_cross(A, e2);
    const V3 w1 = eigenvector_complement(A, w2, e1);
    return cross(w1, w2);
}

__attribute__((optimize("fp-contract=off"))) void normals_impl(const double *P, int64_t M, const int64_t *idx,
                                                                 int64_t k, double radius, int nthreads,
                                                                 double *out) {
    const double r2 = radius * radius;
#pragma omp parallel for num_threads(nthreads) schedule(static, 256)
    for (int64_t i = 0; i < M; ++i) {
        const double px = P[3 * i], py = P[3 * i + 1], pz = P[3 * i + 2];
        const int64_t *nb = idx + i * k;
        int64_t cnt = 0;
        double sx = 0.0, sy = 0.0, sz = 0.0, sxx = 0.0, syy = 0.0, szz = 0.0, sxy = 0.0, sxz = 0.0, syz = 0.0;
        for (int64_t t = 0; t < k; ++t) {
            const int64_t j = nb[t];
            if (j < 0 || j >= M) continue;
            const double dx = P[3 * j] - px, dy = P[3 * j + 1] - py, dz = P[3 * j + 2] - pz;
            if (!((dx * dx + dy * dy) + dz * dz < r2)) continue;
            ++cnt;
            sx += dx;
            sy += dy;
            sz += dz;
            sxx += dx * dx;
            syy += dy * dy;
            szz += dz * dz;
            sxy += dx * dy;
            sxz += dx * dz;
            syz += dy * dz;
        }
        double *n = out + 3 * i;
        const double c = double(std::max<int64_t>(cnt, 1));
        const double mx = sx / c, my = sy / c, mz = sz / c;
        const double c00 = sxx / c - mx * mx, c11 = syy / c - my * my, c22 = szz / c - mz * mz;
        const double c01 = sxy / c - mx * my, c02 = sxz / c - mx * mz, c12 = syz / c - my * mz;
        if (cnt < 3 || (c00 == 0.0 && c11 == 0.0 && c22 == 0.0 && c01 == 0.0 && c02 == 0.0 && c12 == 0.0)) {
            n[0] = 0.0;
            n[1] = 0.0;
            n[2] = 1.0;
            continue;
        }
        const V3 v = smallest_eigenvector(c00, c01, c02, c11, c12, c22);
        const double a[3] = {std::fabs(v.x), std::fabs(v.y), std::fabs(v.z)};
        const double lead = a[0] >= a[1] && a[0] >= a[2] ? v.x : (a[1] >= a[2] ? v.y : v.z);
        const double sgn = lead < 0.0 ? -1.0 : 1.0;
        n[0] = v.x * sgn;
        n[1] = v.y * sgn;
        n[2] = v.z * sgn;
    }
}

}  // namespace

py::array_t<double> surface_normals(const py::array &points, const py::array &idx, double radius,
                                    int64_t num_threads) {
    const char *what = "surface_normals: C-contiguous float64 points and int64 idx expected";
    check(points.ndim() == 2 && points.shape(1) == 3, "surface_normals: points [M, 3]");
    const int64_t M = points.shape(0);
    check(idx.ndim() == 2 && idx.shape(0) == M, "surface_normals: idx [M, k]");
    const int64_t k = idx.shape(1);
    const double *P_ = input<double>(points, what);
    const int64_t *i_ = input<int64_t>(idx, what);
    double *n;
    auto out = output<double>({M, 3}, n);
    const int nthreads = resolve_threads(num_threads);
    {
        py::gil_scoped_release nogil;
        normals_impl(P_, M, i_, k, radius, nthreads, n);
    }
    return out;
}

}  // namespace p2a
