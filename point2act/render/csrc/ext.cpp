// Python bindings of point2act's CPU rasterizer ops (the only translation unit
// that includes the heavy torch/extension.h).

#include <torch/extension.h>

#include "common.h"
#include "ops.h"

namespace {

pybind11::dict constants() {
    pybind11::dict d;
    d["ALPHA_MAX"] = p2a::ALPHA_MAX;
    d["ALPHA_MIN"] = p2a::ALPHA_MIN;
    d["TRANSMITTANCE_MIN"] = p2a::TRANSMITTANCE_MIN;
    d["PIXEL_CENTER"] = p2a::PIXEL_CENTER;
    d["SIGMA_CUT"] = p2a::SIGMA_CUT;
    d["LANES"] = p2a::LANES;
    return d;
}

std::string simd() {
#if defined(__AVX512F__)
    return "avx512f";
#elif defined(__AVX2__)
    return "avx2";
#elif defined(__AVX__)
    return "avx";
#elif defined(__SSE2__)
    return "sse2";
#elif defined(__ARM_NEON)
    return "neon";
#else
    return "scalar";
#endif
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("constants", &constants, "Compositing constants (common.h)");
    m.def("simd", &simd, "Widest SIMD instruction set the extension was compiled for");
    m.def("projection_fwd", &p2a::projection_fwd, "Fully fused projection forward (CPU)");
    m.def("projection_bwd", &p2a::projection_bwd, "Fully fused projection backward (CPU)");
    m.def("isect_tiles", &p2a::isect_tiles, "Tile/Gaussian intersections (CPU)");
    m.def("rasterize_fwd", &p2a::rasterize_fwd, "Rasterize to pixels forward (CPU)");
    m.def("rasterize_bwd", &p2a::rasterize_bwd, "Rasterize to pixels backward (CPU)");
    m.def("compositing_weights", &p2a::compositing_weights, "Sparse compositing weights alpha*T (CPU)");
    m.def("depth_quantiles", &p2a::depth_quantiles,
          "Depth quantiles: where the composited opacity first reaches each level (CPU)");
    m.def("sh_colors_fwd", &p2a::sh_colors_fwd, "Spherical harmonics to clamped colours, forward (CPU)");
    m.def("sh_colors_bwd", &p2a::sh_colors_bwd, "Spherical harmonics to clamped colours, backward (CPU)");
    m.def("composite_bwd", &p2a::composite_bwd,
          "Gradients of the background-composited, clamped colours and clamped extra channels (CPU)");
}
