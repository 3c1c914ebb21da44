// Declarations of the rasterizer's ops (one .cpp per op and direction);
// bound to Python in ext.cpp. Shapes: C cameras, N Gaussians, D channels.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <vector>

namespace p2a {

// -> radii [C, N] int32, means2d [C, N, 2], depths [C, N], conics [C, N, 3],
//    compensations [C, N] (empty unless calc_compensations)
std::vector<at::Tensor> projection_fwd(const at::Tensor &means,                   // [N, 3]
                                       const c10::optional<at::Tensor> &covars,   // [N, 3, 3]
                                       const c10::optional<at::Tensor> &quats,    // [N, 4]
                                       const c10::optional<at::Tensor> &scales,   // [N, 3]
                                       const at::Tensor &viewmats,                // [C, 4, 4]
                                       const at::Tensor &Ks,                      // [C, 3, 3]
                                       int64_t width, int64_t height, double eps2d, double near_plane,
                                       double far_plane, double radius_clip, bool calc_compensations,
                                       int64_t num_threads);

// -> v_means [N, 3], v_covars [N, 3, 3] | empty, v_quats [N, 4] | empty,
//    v_scales [N, 3] | empty, v_viewmats [C, 4, 4] | empty
std::vector<at::Tensor> projection_bwd(const at::Tensor &means, const c10::optional<at::Tensor> &covars,
                                       const c10::optional<at::Tensor> &quats,
                                       const c10::optional<at::Tensor> &scales, const at::Tensor &viewmats,
                                       const at::Tensor &Ks, int64_t width, int64_t height, double eps2d,
                                       const at::Tensor &radii,                              // [C, N] int32
                                       const at::Tensor &v_means2d,                          // [C, N, 2]
                                       const at::Tensor &v_depths,                           // [C, N]
                                       const at::Tensor &v_conics,                           // [C, N, 3]
                                       const c10::optional<at::Tensor> &v_compensations,     // [C, N]
                                       bool viewmats_grad, int64_t num_threads);

// -> tiles_per_gauss [C, N] int32, isect_ids [n_isects] int64,
//    flatten_ids [n_isects] int32, isect_offsets [C, th, tw] int32
// (conics and opacities given: each Gaussian's tiles narrowed to those its pixels can use, isect_tiles.h)
std::vector<at::Tensor> isect_tiles(const at::Tensor &means2d,                     // [C, N, 2]
                                    const at::Tensor &radii,                       // [C, N] int32
                                    const at::Tensor &depths,                      // [C, N]
                                    const c10::optional<at::Tensor> &conics,       // [C, N, 3]
                                    const c10::optional<at::Tensor> &opacities,    // [C, N]
                                    int64_t tile_size, int64_t tile_width, int64_t tile_height,
                                    int64_t num_threads);

// -> render_colors [C, H, W, D], render_alphas [C, H, W, 1], T_final [C, H, W],
//    last_ids [C, H, W] int32, row_masks [n_isects] int64 (tile rows using each intersection),
//    packs uint8 [C * N * sizeof(Packed)] (empty without intersections: the projected Gaussians as the
//    compositing loop reads them, for rasterize_bwd)
std::vector<at::Tensor> rasterize_fwd(const at::Tensor &means2d,                       // [C, N, 2]
                                      const at::Tensor &conics,                        // [C, N, 3]
                                      const at::Tensor &colors,                        // [C, N, D]
                                      const at::Tensor &opacities,                     // [C, N]
                                      const c10::optional<at::Tensor> &backgrounds,    // [C, D]
                                      int64_t width, int64_t height, int64_t tile_size,
                                      const at::Tensor &isect_offsets,                 // [C, th, tw] int32
                                      const at::Tensor &flatten_ids,                   // [n_isects] int32
                                      int64_t num_threads);

// geometry_channels: only colour channels [0, geometry_channels) send gradient to the geometry (means2d,
// conics, opacities); the others reach their colours only (-1: all channels).
// -> v_means2d_abs [C, N, 2] (empty unless absgrad), v_means2d [C, N, 2],
//    v_conics [C, N, 3], v_colors [C, N, D], v_opacities [C, N]
std::vector<at::Tensor> rasterize_bwd(const at::Tensor &means2d, const at::Tensor &conics, const at::Tensor &colors,
                                      const at::Tensor &opacities, const c10::optional<at::Tensor> &backgrounds,
                                      int64_t width, int64_t height, int64_t tile_size,
                                      const at::Tensor &isect_offsets, const at::Tensor &flatten_ids,
                                      const at::Tensor &T_final,          // [C, H, W]
                                      const at::Tensor &last_ids,         // [C, H, W] int32
                                      const at::Tensor &row_masks,        // [n_isects] int64
                                      const at::Tensor &v_render_colors,  // [C, H, W, D]
                                      const at::Tensor &v_render_alphas,  // [C, H, W, 1]
                                      bool absgrad, int64_t num_threads,
                                      int64_t geometry_channels = -1,
                                      const c10::optional<at::Tensor> &packs = c10::nullopt,  // rasterize_fwd's
                                      bool half_chunks = true);
// half_chunks: evaluate a Gaussian whose pixel box lies in one half of a 16-lane chunk on that half
// (AVX-512 builds; the same bits as the full chunk, common.h), else always the full chunk.

// -> crow [C*H*W + 1] int64, col [nnz] int32, val [nnz] float32
std::vector<at::Tensor> compositing_weights(const at::Tensor &means2d,        // [C, N, 2]
                                            const at::Tensor &conics,         // [C, N, 3]
                                            const at::Tensor &opacities,      // [C, N]
                                            int64_t width, int64_t height, int64_t tile_size,
                                            const at::Tensor &isect_offsets,  // [C, th, tw] int32
                                            const at::Tensor &flatten_ids,    // [n_isects] int32
                                            double min_weight, int64_t num_threads);

// -> depth [C, H, W, L]: per pixel and level, the depth of the Gaussian at which
//    the running sum of the compositing weights first reaches it (0: it never does)
at::Tensor depth_quantiles(const at::Tensor &means2d,        // [C, N, 2]
                           const at::Tensor &conics,         // [C, N, 3]
                           const at::Tensor &opacities,      // [C, N]
                           const at::Tensor &depths,         // [C, N] camera z of each Gaussian
                           const at::Tensor &levels,         // [L] composited opacities, 1 <= L <= 8
                           int64_t width, int64_t height, int64_t tile_size,
                           const at::Tensor &isect_offsets,  // [C, th, tw] int32
                           const at::Tensor &flatten_ids,    // [n_isects] int32
                           int64_t num_threads);             // -> [C, H, W, L]

// colors = clamp_min(sum_b Y_b(normalize(dirs)) * coeffs[.., b, :] + 0.5, 0) over the (degree+1)^2 SH bases
// -> colors [C, N, 3]
at::Tensor sh_colors_fwd(int64_t degree,
                         const at::Tensor &dirs,    // [C, N, 3]
                         const at::Tensor &coeffs,  // [N, K, 3] (shared by the cameras) or [C, N, K, 3]
                         int64_t num_threads);

// -> v_coeffs (coeffs' shape; summed over the cameras when shared), v_dirs [C, N, 3] | empty
std::vector<at::Tensor> sh_colors_bwd(int64_t degree, const at::Tensor &dirs, const at::Tensor &coeffs,
                                      const at::Tensor &colors,    // [C, N, 3] sh_colors_fwd's output
                                      const at::Tensor &v_colors,  // [C, N, 3]
                                      bool need_v_dirs, int64_t num_threads);

// Gradients of rgb = clamp(render[..., :G] + (1 - alpha) * background, 0, 1) and
// extra = clamp(render[..., G:], 0, 1) (G = background's size) w.r.t. render and alpha, as torch's autograd
// computes them from those ops. -> v_render (render's shape), v_alpha (alpha's shape); float32.
std::vector<at::Tensor> composite_bwd(const at::Tensor &render,      // [..., G + E]
                                      const at::Tensor &alpha,       // [..., 1]
                                      const at::Tensor &background,  // [G]
                                      const at::Tensor &v_rgb,       // [..., G]
                                      const at::Tensor &v_extra,     // [..., E]
                                      int64_t num_threads);

}  // namespace p2a
