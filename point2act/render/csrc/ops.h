// Declarations of the extension's ops (one .cpp per op and direction);
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
std::vector<at::Tensor> isect_tiles(const at::Tensor &means2d,  // [C, N, 2]
                                    const at::Tensor &radii,    // [C, N] int32
                                    const at::Tensor &depths,   // [C, N]
                                    int64_t tile_size, int64_t tile_width, int64_t tile_height,
                                    int64_t num_threads);

// -> render_colors [C, H, W, D], render_alphas [C, H, W, 1], T_final [C, H, W],
//    last_ids [C, H, W] int32, row_masks [n_isects] int64 (tile rows using each intersection)
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
                                      int64_t geometry_channels = -1);

// -> crow [C*H*W + 1] int64, col [nnz] int32, val [nnz] float32
std::vector<at::Tensor> compositing_weights(const at::Tensor &means2d, const at::Tensor &conics,
                                            const at::Tensor &opacities, int64_t width, int64_t height,
                                            int64_t tile_size, const at::Tensor &isect_offsets,
                                            const at::Tensor &flatten_ids, double min_weight, int64_t num_threads);

// -> crow [num_cols + 1] int64, col [nnz] int64, val [nnz] float32
std::vector<at::Tensor> csr_transpose(const at::Tensor &crow, const at::Tensor &col, const at::Tensor &val,
                                      int64_t num_cols, int64_t num_threads);

// -> loss [] float64, grad_s [N] float32
std::vector<at::Tensor> relevancy_loss_grad(const at::Tensor &crow, const at::Tensor &col, const at::Tensor &val,
                                            const at::Tensor &s, const at::Tensor &target, const at::Tensor &row_w,
                                            int64_t form, int64_t num_threads);

// -> depth, off, hkt [K, T] float64, n_close [K, T] int64, n_rel [K, T] float64: what each grasp candidate holds
// (contact_pairs.cpp)
std::vector<at::Tensor> contact_candidates(const at::Tensor &Ps, const at::Tensor &Ns, const at::Tensor &Q,
                                           double max_width, double min_width, double cos_angle,
                                           int64_t num_threads);

// (occupancy_counts.cpp)
std::vector<at::Tensor> occupancy_counts(const at::Tensor &depth, const at::Tensor &R, const at::Tensor &t,
                                         const at::Tensor &intr, const at::Tensor &ax, const at::Tensor &ay,
                                         const at::Tensor &az, double near, double front, double back,
                                         int64_t num_threads);

// (closing_extent.cpp)
std::vector<at::Tensor> closing_extent(const at::Tensor &C, const at::Tensor &X, const at::Tensor &U,
                                       const at::Tensor &V, const at::Tensor &Pc, const at::Tensor &w2,
                                       const at::Tensor &f32, double gap, int64_t nb, int64_t num_threads);

// (grasp_part.cpp)
std::vector<at::Tensor> grasp_part(const at::Tensor &C, const at::Tensor &X, const at::Tensor &U, const at::Tensor &V,
                                   const at::Tensor &fit, const at::Tensor &Pc, const at::Tensor &flags,
                                   const at::Tensor &h, const at::Tensor &sp, const at::Tensor &sn,
                                   const at::Tensor &room, const at::Tensor &hold, const at::Tensor &ct,
                                   const at::Tensor &st, const at::Tensor &f32, const std::vector<double> &f64,
                                   const std::vector<int64_t> &nbs, int64_t num_threads);

// -> hits [K, T] int32, clear [K, T] float32: the gripper boxes against a cloud, per pair and approach (gripper_boxes.cpp)
std::vector<at::Tensor> gripper_cloud_hits(const at::Tensor &centres, const at::Tensor &xa, const at::Tensor &ua,
                                           const at::Tensor &va, const at::Tensor &cloud, double radius,
                                           const at::Tensor &band_lo, const at::Tensor &band_hi,
                                           const at::Tensor &cos_t, const at::Tensor &sin_t, const at::Tensor &alive,
                                           const at::Tensor &off, const at::Tensor &hh, const at::Tensor &dep,
                                           const at::Tensor &boxes, int64_t min_points, int64_t num_threads);

}  // namespace p2a
