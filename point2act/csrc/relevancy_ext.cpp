// Python bindings of the relevancy refit's kernels for numpy arrays: a CPython extension of pybind11 that neither
// links libtorch nor imports torch (point2act/_cpp.py, PybindExtension, defines P2A_EXTENSION_NAME). The ops read
// C-contiguous inputs of the dtypes they name in place (relevancy_loss_grad and csr_matvec take the column indices
// as checked by their Python callers, point2act.refit), return new arrays and release the GIL while they compute;
// num_threads <= 0 runs OpenMP's default count.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>

#include "np.h"
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
                              const py::array &target, const py::array &row_w, int form, int64_t num_threads) {
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
                                        static_cast<const float *>(row_w.data()), form,
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

}  // namespace
}  // namespace p2a

PYBIND11_MODULE(P2A_EXTENSION_NAME, m) {
    namespace py = pybind11;
    m.def("csr_transpose", &p2a::csr_transpose, "Transpose of a float32 CSR matrix (CPU)", py::arg("crow"),
          py::arg("col"), py::arg("val"), py::arg("num_cols"));
    m.def("relevancy_loss_grad", &p2a::relevancy_loss_grad, "Relevancy refit loss and gradient on CSR weights (CPU)",
          py::arg("crow"), py::arg("col"), py::arg("val"), py::arg("s"), py::arg("target"), py::arg("row_w"),
          py::arg("form"), py::arg("num_threads") = -1);
    m.def("csr_matvec", &p2a::csr_matvec, "A CSR matrix times a vector, rows accumulated as the rasterizer does (CPU)",
          py::arg("crow"), py::arg("col"), py::arg("val"), py::arg("x"), py::arg("num_threads") = -1);
    m.def("median_depth_csr", &p2a::median_depth_csr,
          "Median depth per pixel from a view's CSR compositing weights (CPU)", py::arg("crow"), py::arg("col"),
          py::arg("val"), py::arg("z"), py::arg("height"), py::arg("width"));
}
