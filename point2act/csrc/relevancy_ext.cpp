// Python bindings of the relevancy refit's kernels for numpy arrays: a CPython extension of pybind11 that neither
// links libtorch nor imports torch (point2act/_cpp.py, PybindExtension, defines P2A_EXTENSION_NAME). The ops read
// C-contiguous inputs of the dtypes they name in place (relevancy_loss_grad and csr_matvec take the column indices
// as checked by their Python callers, point2act.requery.fit_numpy), return new arrays and release the GIL while they compute;
// num_threads <= 0 runs OpenMP's default count. compositing_weights_views runs the rasterizer's torch-free kernels
// (compositing_weights_views.cpp).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>

#include "np.h"
#include "compositing_weights.h"  // half_rounded
#include "relevancy_fit.h"
#include "threads.h"

#ifndef P2A_EXTENSION_NAME
#error "P2A_EXTENSION_NAME: the module's name (point2act/_cpp.py defines it)"
#endif

namespace p2a {
namespace {

// crow [R + 1] int64 and the matching col int32 / val float32 [nnz]; returns R.
int64_t check_csr(const py::array &crow, const py::array &col, const py::array &val) {
    input<int64_t>(crow, "crow must be a C-contiguous int64 array");
    input<int32_t>(col, "col must be a C-contiguous int32 array");
    input<float>(val, "val must be a C-contiguous float32 array");
    const int64_t R = crow.size() - 1;
    check(R >= 0, "crow must have at least one entry");
    check(val.size() == col.size(), "val must have one entry per col entry");
    check(static_cast<const int64_t *>(crow.data())[R] == col.size() && static_cast<const int64_t *>(crow.data())[0] == 0,
          "crow must start at 0 and end at nnz");
    return R;
}

py::tuple csr_transpose(const py::array &crow, const py::array &col, const py::array &val, int64_t num_cols) {
    const int64_t R = check_csr(crow, col, val), nnz = col.size();
    const int32_t *c = static_cast<const int32_t *>(col.data());
    for (int64_t q = 0; q < nnz; ++q) check(c[q] >= 0 && c[q] < num_cols, "col entries must lie in [0, num_cols)");
    py::array_t<int64_t> tcrow(num_cols + 1), tcol(nnz);
    py::array_t<float> tval(nnz);
    {
        py::gil_scoped_release nogil;
        csr_transpose_impl(R, num_cols, static_cast<const int64_t *>(crow.data()), c,
                           static_cast<const float *>(val.data()), tcrow.mutable_data(), tcol.mutable_data(),
                           tval.mutable_data());
    }
    return py::make_tuple(tcrow, tcol, tval);
}

py::tuple relevancy_loss_grad(const py::array &crow, const py::array &col, const py::array &val, const py::array &s,
                              const py::array &target, const py::array &row_w, int form, bool want_loss,
                              int64_t num_threads) {
    const int64_t R = check_csr(crow, col, val), N = s.size();
    input<float>(s, "s must be a C-contiguous float32 array");
    input<float>(target, "target must be a C-contiguous float32 array");
    input<float>(row_w, "row_w must be a C-contiguous float32 array");
    check(target.size() == R && row_w.size() == R, "target and row_w must have one entry per row");
    check(form >= 0 && form <= 2, "form must be 0 (bce), 1 (mse) or 2 (l1)");
    const int32_t *c = static_cast<const int32_t *>(col.data());  // in [0, N): the caller's check (a pass a step)
    py::array_t<float> grad(N);
    double loss;
    {
        py::gil_scoped_release nogil;
        loss = relevancy_loss_grad_impl(R, N, static_cast<const int64_t *>(crow.data()), c,
                                        static_cast<const float *>(val.data()), static_cast<const float *>(s.data()),
                                        static_cast<const float *>(target.data()),
                                        static_cast<const float *>(row_w.data()), form, want_loss,
                                        resolve_threads(num_threads), grad.mutable_data());
    }
    return py::make_tuple(loss, grad);
}

py::array_t<float> csr_matvec(const py::array &crow, const py::array &col, const py::array &val, const py::array &x,
                              int64_t num_threads) {
    const int64_t R = check_csr(crow, col, val), N = x.size();
    input<float>(x, "x must be a C-contiguous float32 array");
    const int32_t *c = static_cast<const int32_t *>(col.data());  // in [0, N): the caller's check
    (void)N;
    py::array_t<float> out(R);
    {
        py::gil_scoped_release nogil;
        csr_matvec_impl(R, static_cast<const int64_t *>(crow.data()), c, static_cast<const float *>(val.data()),
                        static_cast<const float *>(x.data()), resolve_threads(num_threads), out.mutable_data());
    }
    return out;
}

template <class C, class V>
const char *median_of(int64_t P, const py::array &crow, const py::array &col, const py::array &val,
                      const py::array &z, double *o) {
    return median_depth_csr_impl(P, z.size(), static_cast<const int64_t *>(crow.data()),
                                 static_cast<const C *>(col.data()), static_cast<const V *>(val.data()),
                                 static_cast<const double *>(z.data()), o);
}

py::array_t<double> median_depth_csr(const py::array &crow, const py::array &col, const py::array &val,
                                     const py::array &z, int64_t height, int64_t width) {
    input<int64_t>(crow, "crow must be a C-contiguous int64 array");
    input<double>(z, "z must be a C-contiguous float64 array");
    const bool c32 = is<int32_t>(col), v32 = is<float>(val);
    check(c32 || is<int64_t>(col), "col must be a C-contiguous int32 or int64 array");
    check(v32 || is<double>(val), "val must be a C-contiguous float32 or float64 array");
    check(height >= 0 && width >= 0, "height and width must be >= 0");
    const int64_t P = height * width, nnz = col.size();
    check(val.size() == nnz, "val must have one entry per col entry");
    py::array_t<double> out({height, width});
    double *o = out.mutable_data();
    if (nnz == 0) {
        std::fill(o, o + P, std::numeric_limits<double>::quiet_NaN());
        return out;
    }
    check(crow.size() >= P + 1, "crow must have height * width + 1 entries");
    const int64_t *cr = static_cast<const int64_t *>(crow.data());
    for (int64_t r = 0; r < P; ++r) check(cr[r + 1] >= cr[r], "crow must not decrease");
    check(cr[P] - cr[0] == nnz, "crow[height * width] - crow[0] must equal nnz");
    const char *err;
    {
        py::gil_scoped_release nogil;
        err = c32 ? (v32 ? median_of<int32_t, float>(P, crow, col, val, z, o)
                         : median_of<int32_t, double>(P, crow, col, val, z, o))
                  : (v32 ? median_of<int64_t, float>(P, crow, col, val, z, o)
                         : median_of<int64_t, double>(P, crow, col, val, z, o));
    }
    check(*err == '\0', err);
    return out;
}

// A float32 array of this shape (C-contiguous), else ValueError naming it.
const float *float_array(const py::array &a, std::initializer_list<int64_t> shape, const std::string &what) {
    const float *p = input<float>(a, what + " must be a C-contiguous float32 array");
    bool ok = a.ndim() == py::ssize_t(shape.size());
    int d = 0;
    for (const int64_t s : shape) ok = ok && a.shape(d++) == s;
    check(ok, what + " has the wrong shape");
    return p;
}

// The Gaussians and views both view kernels take, checked: float32 C-contiguous arrays of the stated shapes.
struct SplatViews {
    int64_t N, C;
    const float *means, *quats, *scales, *opacities, *viewmats, *Ks;
};

SplatViews splat_views(const py::array &means, const py::array &quats, const py::array &scales,
                       const py::array &opacities, const py::array &viewmats, const py::array &Ks, int64_t width,
                       int64_t height) {
    check(means.ndim() == 2, "means must be [N, 3]");
    check(viewmats.ndim() == 3, "viewmats must be [C, 4, 4]");
    const int64_t N = means.shape(0), C = viewmats.shape(0);
    check(width >= 1 && height >= 1 && width <= (1 << 20) && height <= (1 << 20),
          "width and height must be in [1, 2^20]");
    check(C * N < std::numeric_limits<int32_t>::max(), "too many Gaussians (C * N must fit in int32)");
    return {N,
            C,
            float_array(means, {N, 3}, "means [N, 3]"),
            float_array(quats, {N, 4}, "quats [N, 4]"),
            float_array(scales, {N, 3}, "scales [N, 3]"),
            float_array(opacities, {N}, "opacities [N]"),
            float_array(viewmats, {C, 4, 4}, "viewmats [C, 4, 4]"),
            float_array(Ks, {C, 3, 3}, "Ks [C, 3, 3]")};
}

py::tuple compositing_weights_views(const py::array &means, const py::array &quats, const py::array &scales,
                                    const py::array &opacities, const py::array &viewmats, const py::array &Ks,
                                    int64_t width, int64_t height, bool antialiased, double min_weight,
                                    int64_t num_threads) {
    const SplatViews sv = splat_views(means, quats, scales, opacities, viewmats, Ks, width, height);
    const int64_t N = sv.N, C = sv.C;
    py::array_t<int64_t> crow(C * height * width + 1);
    py::array_t<int32_t> col;
    py::array_t<float> val;
    int64_t *cr = crow.mutable_data();
    const char *err;
    {
        py::gil_scoped_release nogil;
        err = compositing_weights_views_impl(
            C, N, sv.means, sv.quats, sv.scales, sv.opacities, sv.viewmats, sv.Ks, int(width), int(height),
            antialiased, min_weight, resolve_threads(num_threads),
            cr, [&](int64_t nnz, int32_t *&cols, float *&vals) {
                py::gil_scoped_acquire gil;  // called once, on this thread, between the kernel's parallel passes
                col = py::array_t<int32_t>(nnz);
                val = py::array_t<float>(nnz);
                cols = col.mutable_data();
                vals = val.mutable_data();
            });
    }
    if (*err != '\0') throw std::runtime_error(err);
    return py::make_tuple(crow, col, val);
}

py::array_t<float> half_weight_render_views(const py::array &means, const py::array &quats, const py::array &scales,
                                            const py::array &opacities, const py::array &viewmats,
                                            const py::array &Ks, int64_t width, int64_t height, bool antialiased,
                                            double min_weight, const py::array &values,
                                            const py::array &tile_mask, int64_t num_threads) {
    const SplatViews sv = splat_views(means, quats, scales, opacities, viewmats, Ks, width, height);
    const int64_t N = sv.N, C = sv.C;
    const float *x = float_array(values, {N}, "values [N]");
    check(min_weight >= 6.103515625e-05, "min_weight must be at least 2^-14 (float16's smallest normal)");
    const int64_t ts = VIEWS_TILE_SIZE, tiles = C * ((width + ts - 1) / ts) * ((height + ts - 1) / ts);
    const uint8_t *mask = nullptr;
    if (tile_mask.size() > 0) {
        check(py::isinstance<py::array_t<uint8_t>>(tile_mask) && (tile_mask.flags() & py::array::c_style) &&
                  tile_mask.size() == tiles,
              "tile_mask: C-contiguous uint8 [C, tiles down, tiles across] of TILE_SIZE pixels, or empty");
        mask = static_cast<const uint8_t *>(tile_mask.data());
    }
    py::array_t<float> out({C, height, width});
    float *o_ = out.mutable_data();
    const char *err;
    {
        py::gil_scoped_release nogil;
        err = half_weight_render_views_impl(C, N, sv.means, sv.quats, sv.scales, sv.opacities, sv.viewmats, sv.Ks,
                                            int(width), int(height), antialiased, min_weight, x, mask,
                                            resolve_threads(num_threads), o_);
    }
    if (*err != '\0') throw std::runtime_error(err);
    return out;
}

py::array_t<float> half_rounded_array(const py::array &x) {
    const int64_t n = x.size();
    const float *p = float_array(x, {n}, "x [n]");
    py::array_t<float> out(n);
    float *o = out.mutable_data();
    for (int64_t i = 0; i < n; ++i) o[i] = half_rounded(p[i]);
    return out;
}

}  // namespace
}  // namespace p2a

PYBIND11_MODULE(P2A_EXTENSION_NAME, m) {
    namespace py = pybind11;
    m.def("csr_transpose", &p2a::csr_transpose, "Transpose of a float32 CSR matrix (CPU)", py::arg("crow"),
          py::arg("col"), py::arg("val"), py::arg("num_cols"));
    m.def("relevancy_loss_grad", &p2a::relevancy_loss_grad, "Relevancy refit loss and gradient on CSR weights (CPU)",
          py::arg("crow"), py::arg("col"), py::arg("val"), py::arg("s"), py::arg("target"), py::arg("row_w"),
          py::arg("form"), py::arg("want_loss") = true, py::arg("num_threads") = -1);
    m.def("csr_matvec", &p2a::csr_matvec, "A CSR matrix times a vector, rows accumulated as the rasterizer does (CPU)",
          py::arg("crow"), py::arg("col"), py::arg("val"), py::arg("x"), py::arg("num_threads") = -1);
    m.def("median_depth_csr", &p2a::median_depth_csr,
          "Median depth per pixel from a view's CSR compositing weights (CPU)", py::arg("crow"), py::arg("col"),
          py::arg("val"), py::arg("z"), py::arg("height"), py::arg("width"));
    m.def("half_rounded", &p2a::half_rounded_array, "float32 values rounded to float16 and back (the weights' rounding)",
          py::arg("x"));
    m.def("half_weight_render_views", &p2a::half_weight_render_views,
          "The render of per-Gaussian values through the float16-rounded compositing weights above a floor (CPU)",
          py::arg("means"), py::arg("quats"), py::arg("scales"), py::arg("opacities"), py::arg("viewmats"),
          py::arg("Ks"), py::arg("width"), py::arg("height"), py::arg("antialiased"), py::arg("min_weight"),
          py::arg("values"), py::arg("tile_mask"), py::arg("num_threads") = -1);
    m.attr("TILE_SIZE") = p2a::VIEWS_TILE_SIZE;
    m.def("compositing_weights_views", &p2a::compositing_weights_views,
          "Compositing weights alpha * T (CSR) of C views of N Gaussians, the rasterizer's bits (CPU)",
          py::arg("means"), py::arg("quats"), py::arg("scales"), py::arg("opacities"), py::arg("viewmats"),
          py::arg("Ks"), py::arg("width"), py::arg("height"), py::arg("antialiased"), py::arg("min_weight"),
          py::arg("num_threads") = -1);
}
