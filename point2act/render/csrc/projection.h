// Small 3x3 helpers shared by the projection forward and backward passes.
#pragma once

#include <cmath>

namespace p2a {

template <typename S> struct Mat3 {
    S m[3][3];
};

// Rotation matrix of a (normalised) wxyz quaternion, as point2act's torch
// reference (_torch_impl._quat_to_rotmat) and gsplat write it.
template <typename S> inline Mat3<S> quat_to_rotmat(S w, S x, S y, S z) {
    Mat3<S> R;
    R.m[0][0] = 1 - 2 * (y * y + z * z);
    R.m[0][1] = 2 * (x * y - w * z);
    R.m[0][2] = 2 * (x * z + w * y);
    R.m[1][0] = 2 * (x * y + w * z);
    R.m[1][1] = 1 - 2 * (x * x + z * z);
    R.m[1][2] = 2 * (y * z - w * x);
    R.m[2][0] = 2 * (x * z - w * y);
    R.m[2][1] = 2 * (y * z + w * x);
    R.m[2][2] = 1 - 2 * (x * x + y * y);
    return R;
}

// World-space covariance of Gaussian n: the upper triangle of covars[n]
// (gsplat's rule) or R(q) diag(s)^2 R(q)^T. Also returns the normalised
// quaternion and its norm (for the backward pass).
template <typename S>
inline Mat3<S> world_covar(int64_t n, const S *covars, const S *quats, const S *scales, S qn[4], S &qnorm,
                           Mat3<S> &Rq) {
    Mat3<S> cov;
    if (covars) {
        const S *c = covars + 9 * n;
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) cov.m[i][j] = i <= j ? c[3 * i + j] : c[3 * j + i];
        return cov;
    }
    const S *q = quats + 4 * n;
    const S nrm = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    qnorm = nrm;
    const S inv = S(1) / std::max(nrm, S(1e-12));
    for (int i = 0; i < 4; ++i) qn[i] = q[i] * inv;
    Rq = quat_to_rotmat(qn[0], qn[1], qn[2], qn[3]);
    const S *s = scales + 3 * n;
    S M[3][3];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) M[i][j] = Rq.m[i][j] * s[j];
    for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 3; ++k) cov.m[i][k] = M[i][0] * M[k][0] + M[i][1] * M[k][1] + M[i][2] * M[k][2];
    return cov;
}

// Per-camera constants of the pinhole projection.
template <typename S> struct Camera {
    S R[3][3], t[3];
    S fx, fy, cx, cy;
    S lim_x_pos, lim_x_neg, lim_y_pos, lim_y_neg;
};

template <typename S> inline Camera<S> make_camera(const S *viewmat, const S *K, int width, int height) {
    Camera<S> cam;
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) cam.R[i][j] = viewmat[4 * i + j];
        cam.t[i] = viewmat[4 * i + 3];
    }
    cam.fx = K[0];
    cam.fy = K[4];
    cam.cx = K[2];
    cam.cy = K[5];
    const S tan_fovx = S(0.5 * width) / cam.fx;
    const S tan_fovy = S(0.5 * height) / cam.fy;
    cam.lim_x_pos = (S(width) - cam.cx) / cam.fx + S(0.3) * tan_fovx;
    cam.lim_x_neg = cam.cx / cam.fx + S(0.3) * tan_fovx;
    cam.lim_y_pos = (S(height) - cam.cy) / cam.fy + S(0.3) * tan_fovy;
    cam.lim_y_neg = cam.cy / cam.fy + S(0.3) * tan_fovy;
    return cam;
}

}  // namespace p2a
