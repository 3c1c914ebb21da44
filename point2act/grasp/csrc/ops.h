// Declarations of the grasp head's kernels (one .cpp per op), bound to Python in ext.cpp and called by
// point2act.grasp (planner, part, collide, occupancy, tsdf, surface, window). Arguments and results are numpy
// arrays, C-contiguous, of the dtypes given (an input of another dtype or layout is a ValueError); an op returns a
// new array or a tuple of new arrays. num_threads <= 0: OpenMP's default. Shapes: K contact pairs (or seeds S), T
// approach angles, M (or N) cloud points, I RANSAC draws.
#pragma once

#include "np.h"

namespace p2a {

// Contact-pair candidates (contact_pairs.cpp): each seed's points within [min_width, max_width] inside its
// friction cone, a loose prefilter of point2act.grasp.planner.sample_contact_pairs.
// -> i [E] int64 (seed), j [E] int64 (point), seed by seed, points ascending
py::tuple contact_candidates(const py::array &Ps,  // [S, 3] float64 seeds
                             const py::array &Ns,  // [S, 3] float64 seed normals
                             const py::array &Q,   // [M, 3] float64 points
                             double max_width, double min_width, double cos_angle,
                             int64_t num_threads);

// Hits and misses of an occupancy grid's cells against depth maps (occupancy_counts.cpp).
// -> hits [nx, ny, nz] int16, misses [nx, ny, nz] int16
py::tuple occupancy_counts(const py::array &depth,  // [C, H, W] float32
                           const py::array &R,      // [C, 3, 3] float32 world -> camera
                           const py::array &t,      // [C, 3] float32
                           const py::array &intr,   // [C, 4] float32 fx, fy, cx, cy
                           const py::array &ax,     // [nx] float32 cell centres along x
                           const py::array &ay,     // [ny] float32
                           const py::array &az,     // [nz] float32
                           double near, double front, double back, int64_t num_threads);

// The part's extent across each contact pair's closing axis (closing_extent.cpp).
// -> ext_p [K] float64, ext_n [K] float64
py::tuple closing_extent(const py::array &C,    // [K, 3] float32 pair centres
                         const py::array &X,    // [K, 3] float32 closing axes
                         const py::array &U,    // [K, 3] float32
                         const py::array &V,    // [K, 3] float32
                         const py::array &Pc,   // [M, 3] float32 cloud
                         const py::array &w2,   // [K] float64 half widths
                         const py::array &f32,  // [3] float32 radius^2, half_y^2, half_open
                         double gap, int64_t nb, int64_t num_threads);

// What each grasp candidate holds: depth, opening, the points between the pads and their weights (grasp_part.cpp).
// -> depth [K, T] float64, off [K, T] float64, hkt [K, T] float64, n_close [K, T] int64, n_rel [K, T] float64,
//    w_max [K, T] float64 (the largest weight w between the pads widened by extra, at least 0; 0 without w)
py::tuple grasp_part(const py::array &C,               // [K, 3] float32 pair centres
                     const py::array &X,               // [K, 3] float32 closing axes
                     const py::array &U,               // [K, 3] float32
                     const py::array &V,               // [K, 3] float32
                     const py::array &fit,             // [K] uint8 pairs to scan
                     const py::array &Pc,              // [M, 3] float32 cloud
                     const py::array &flags,           // [M] uint8 bit 0 occupied, bit 1 target
                     const py::array &h,               // [K] float64
                     const py::array &sp,              // [K] float64 contact on +x
                     const py::array &sn,              // [K] float64 contact on -x
                     const py::array &room,            // [K, T] float64
                     const py::array &hold,            // [K, T] float64
                     const py::array &ct,              // [T] float32 cos of the approach angles
                     const py::array &st,              // [T] float32 sin of the approach angles
                     const py::array &f32,             // [7] float32 (grasp_part.cpp: Params)
                     const std::vector<double> &f64,   // [11] (grasp_part.cpp: Params)
                     const std::vector<int64_t> &nbs,  // [3] bin counts
                     const py::object &w,              // [M] float64 per-point weights, or None
                     double extra,                     // w_max's widening of hkt
                     int64_t num_threads);

// The cloud points in the pads' window of every approach of pairs K at their depth (pads_window.cpp), in the
// order of point2act.grasp.part_scans._pads_window_reference: by approach, then pair, then point.
// -> gid [N] int64 (k * T + t), k0 [N] int64 (pair[k]), t [N] int64, x [N] float64 (of the float32 sx),
//    j [N] int64 (point[row of Pc])
py::tuple pads_window(const py::array &C,      // [K, 3] float32 pair centres
                      const py::array &X,      // [K, 3] float32 closing axes
                      const py::array &U,      // [K, 3] float32
                      const py::array &V,      // [K, 3] float32
                      const py::array &Pc,     // [M, 3] float32 cloud
                      const py::array &depth,  // [K, T] float64
                      const py::array &ct,     // [T] float32 cos of the approach angles
                      const py::array &st,     // [T] float32 sin of the approach angles
                      const py::array &f32,    // [5] float32 radius^2, reach, half_y limit, z_lo, z_hi
                      const py::array &want,   // [K, T] uint8 the approaches asked for
                      const py::array &pair,   // [K] int64 the pairs' indices to return
                      const py::array &point,  // [M] int64 the points' indices to return
                      double L, int64_t num_threads);

// Gripper boxes against a cloud, per pair and approach (gripper_boxes.cpp).
// -> hits [K, T] int32, clear [K, T] float32
py::tuple gripper_cloud_hits(const py::array &centres,  // [K, 3] float64
                             const py::array &xa,       // [K, 3] float64 closing axes
                             const py::array &ua,       // [K, 3] float64
                             const py::array &va,       // [K, 3] float64
                             const py::array &cloud,    // [M, 3] float64
                             double radius,
                             const py::array &band_lo,  // [K] float64
                             const py::array &band_hi,  // [K] float64
                             const py::array &cos_t,    // [T] float64
                             const py::array &sin_t,    // [T] float64
                             const py::array &alive,    // [K, T] bool
                             const py::array &off,      // [K, T] float64
                             const py::array &hh,       // [K, T] float64
                             const py::array &dep,      // [K, T] float64
                             const py::array &boxes,    // [B, 10] float64
                             int64_t min_points, int64_t num_threads);

// Depth maps fused into a truncated signed distance cube, and its zero crossings (tsdf_fuse.cpp).
// -> points [M, 3] float64, in the order of their first voxel (x, y, z) and axis
py::array_t<double> tsdf_fuse(const py::array &depth,   // [C, H, W] float32 z-depth, 0: no measurement
                              const py::array &E,       // [C, 4, 4] float32 world -> camera
                              const py::array &intr,    // [C, 4] float32 fx, fy, cx, cy (pixel centres at integers)
                              const py::array &origin,  // [3] float64 the cube's corner
                              double voxel, int64_t res, double trunc, int64_t num_threads);

// The support of each drawn RANSAC plane over a cloud (ransac_plane.cpp): the points within threshold of it
// and the sum of their distances, added in point order; 0 and 0 where ok is false.
// -> count [I] int64, err [I] float64
py::tuple ransac_plane_scores(const py::array &P,    // [N, 3] float64 points
                              const py::array &nrm,  // [I, 3] float64 unit normals
                              const py::array &off,  // [I] float64 offsets (n . p + off = 0 on the plane)
                              const py::array &ok,   // [I] bool the draws that give a plane
                              double threshold, int64_t num_threads);

// Unit normals of a cloud from each point's neighbours (surface_normals.cpp): the smallest eigenvector of
// their covariance about the point, the largest component positive; (0, 0, 1) with fewer than 3 neighbours.
// -> normals [M, 3] float64
py::array_t<double> surface_normals(const py::array &points,  // [M, 3] float64
                                    const py::array &idx,     // [M, k] int64 neighbours, nearest first; M: none
                                    double radius,            // neighbours at squared distance < radius^2
                                    int64_t num_threads);

// The smallest (is_max false) or largest value over each pixel's size x size window of an image, its edges
// repeated: scipy.ndimage.minimum_filter / maximum_filter with mode="nearest" (window_min_max.cpp).
// num_threads <= 0: OpenMP's default, at most one thread per 2^18 pixels.
// -> [H, W] of a's dtype
py::array window_min_max(const py::array &a,  // [H, W] float32 or float64
                         int64_t size,        // odd, >= 1
                         bool is_max, int64_t num_threads);

}  // namespace p2a
