// Helpers of the kernels that build without torch (point2act/_cpp.py, PybindExtension: the grasp head's and the
// relevancy refit's): their inputs and outputs are numpy arrays (pybind11/numpy.h), their thread counts OpenMP's.
// The kernels read their inputs in place and write only the arrays they return.

#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "threads.h"

namespace p2a {

namespace py = pybind11;

// A failed check of an op's inputs: ValueError(what) in Python.
inline void check(bool ok, const std::string &what) {
    if (!ok) throw std::invalid_argument(what);
}

// Is `a` a C-contiguous array of T's dtype?
template <class T>
inline bool is(const py::array &a) {
    return py::isinstance<py::array_t<T>>(a) && (a.flags() & py::array::c_style);
}

// `a`'s data, which must be a C-contiguous array of T's dtype (else ValueError: `what`).
template <class T>
inline const T *input(const py::array &a, const std::string &what) {
    check(is<T>(a), what);
    return static_cast<const T *>(a.data());
}

// A new array of T of this shape (uninitialized) and its data.
template <class T>
inline py::array_t<T> output(std::vector<py::ssize_t> shape, T *&ptr) {
    py::array_t<T> a(std::move(shape));
    ptr = a.mutable_data();
    return a;
}

}  // namespace p2a
