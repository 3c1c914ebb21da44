// Python bindings of the fused loss kernels (the only translation unit that includes the heavy
// torch/extension.h).

#include <torch/extension.h>

#include "relevancy_bce.h"
#include "ssim.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("ssim_fwd", &p2a::ssim_fwd, "Fused SSIM forward: per-image sums and derivative maps (CPU)");
    m.def("ssim_bwd", &p2a::ssim_bwd, "Fused SSIM backward from the derivative maps (CPU)");
    m.def("relevancy_bce", &p2a::relevancy_bce, "Weighted BCE of the relevancy and its gradient, one pass (CPU)");
}
