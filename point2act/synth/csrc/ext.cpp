// Python bindings of the synthetic scene's kernels: a CPython extension of pybind11 and numpy arrays, without
// torch (point2act/_cpp.py, PybindExtension, defines P2A_EXTENSION_NAME, the module's name).

#include "ops.h"

#ifndef P2A_EXTENSION_NAME
#error "P2A_EXTENSION_NAME: the module's name (point2act/_cpp.py defines it)"
#endif

PYBIND11_MODULE(P2A_EXTENSION_NAME, m) {
    namespace py = pybind11;
    m.def("fbm3", &p2a::fbm3, "Fractal value noise at 3D points, normalised to [0, 1] (CPU)", py::arg("p"),
          py::arg("seed"), py::arg("octaves"), py::arg("num_threads") = -1);
}
