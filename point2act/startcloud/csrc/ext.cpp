// Python bindings of the plane sweep's kernel: a CPython extension of pybind11 and numpy arrays, without torch
// (point2act/_cpp.py, PybindExtension, defines P2A_EXTENSION_NAME, the module's name).

#include "ops.h"

#ifndef P2A_EXTENSION_NAME
#error "P2A_EXTENSION_NAME: the module's name (point2act/_cpp.py defines it)"
#endif

PYBIND11_MODULE(P2A_EXTENSION_NAME, m) {
    namespace py = pybind11;
    py::class_<p2a::PlaneReference>(m, "PlaneReference",
                                    "A reference image and its windows' means and variances (CPU)")
        .def(py::init<const py::array &, int64_t>(), py::arg("image"), py::arg("window"))
        .def_property_readonly("std", &p2a::PlaneReference::std, "The windows' standard deviation [h, w]")
        .def_property_readonly("shape", [](const p2a::PlaneReference &r) { return py::make_tuple(r.h, r.w); });
    m.def("plane_zncc", &p2a::plane_zncc,
          "A source image warped into a reference view through plane homographies, and their windows' ZNCC (CPU)",
          py::arg("ref"), py::arg("src"), py::arg("homographies"), py::arg("num_threads") = -1);
    m.def("plane_zncc_best", &p2a::plane_zncc_best,
          "At the masked reference pixels, the largest ZNCC over plane homographies at which the window lies inside "
          "the warp, -1 where none does (CPU)",
          py::arg("ref"), py::arg("src"), py::arg("homographies"), py::arg("mask"), py::arg("num_threads") = -1);
    m.def("plane_zncc_sums", &p2a::plane_zncc_sums,
          "Per view pair and plane homography, the ZNCC summed over the pixels inside the warp and in front of the "
          "plane (CPU)",
          py::arg("refs"), py::arg("srcs"), py::arg("homographies"), py::arg("planes"), py::arg("kinvs"),
          py::arg("num_threads") = -1);
}
