// Python bindings of the relevancy refit's kernels (the only translation unit that includes the heavy
// torch/extension.h).

#include <torch/extension.h>

#include "relevancy_fit.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("csr_transpose", &p2a::csr_transpose, "Transpose of a float32 CSR matrix (CPU)");
    m.def("relevancy_loss_grad", &p2a::relevancy_loss_grad,
          "Relevancy refit loss and gradient on CSR weights (CPU)");
    m.def("median_depth_csr", &p2a::median_depth_csr,
          "Median depth per pixel from a view's CSR compositing weights (CPU)");
}
