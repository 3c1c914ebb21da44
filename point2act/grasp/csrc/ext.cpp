// Python bindings of the grasp head's kernels: a CPython extension of pybind11 and numpy arrays, without
// torch (point2act/_cpp.py, PybindExtension, defines P2A_EXTENSION_NAME, the module's name).

#include "ops.h"

#ifndef P2A_EXTENSION_NAME
#error "P2A_EXTENSION_NAME: the module's name (point2act/_cpp.py defines it)"
#endif

PYBIND11_MODULE(P2A_EXTENSION_NAME, m) {
    namespace py = pybind11;
    m.def("contact_candidates", &p2a::contact_candidates,
          "Contact-pair candidates per seed: distance and the seed's friction cone, a loose prefilter (CPU)",
          py::arg("Ps"), py::arg("Ns"), py::arg("Q"), py::arg("max_width"), py::arg("min_width"),
          py::arg("cos_angle"), py::arg("num_threads") = -1);
    m.def("occupancy_counts", &p2a::occupancy_counts,
          "Hits and misses of an occupancy grid's cells against depth maps (CPU)", py::arg("depth"), py::arg("R"),
          py::arg("t"), py::arg("intr"), py::arg("ax"), py::arg("ay"), py::arg("az"), py::arg("near"),
          py::arg("front"), py::arg("back"), py::arg("num_threads") = -1);
    m.def("closing_extent", &p2a::closing_extent,
          "The part's extent across each contact pair's closing axis, within the fingers' cylinder (CPU)",
          py::arg("C"), py::arg("X"), py::arg("U"), py::arg("V"), py::arg("Pc"), py::arg("w2"), py::arg("f32"),
          py::arg("gap"), py::arg("nb"), py::arg("num_threads") = -1);
    m.def("grasp_part", &p2a::grasp_part,
          "What each grasp candidate holds: depth, opening, the points between the pads and their weights (CPU)",
          py::arg("C"), py::arg("X"), py::arg("U"), py::arg("V"), py::arg("fit"), py::arg("Pc"), py::arg("flags"),
          py::arg("h"), py::arg("sp"), py::arg("sn"), py::arg("room"), py::arg("hold"), py::arg("ct"),
          py::arg("st"), py::arg("f32"), py::arg("f64"), py::arg("nbs"), py::arg("w").none(true),
          py::arg("extra"), py::arg("num_threads") = -1);
    m.def("pads_window", &p2a::pads_window,
          "The cloud points in the pads' window of every approach of a set of contact pairs (CPU)", py::arg("C"),
          py::arg("X"), py::arg("U"), py::arg("V"), py::arg("Pc"), py::arg("depth"), py::arg("ct"), py::arg("st"),
          py::arg("f32"), py::arg("want"), py::arg("pair"), py::arg("point"), py::arg("L"),
          py::arg("num_threads") = -1);
    m.def("gripper_cloud_hits", &p2a::gripper_cloud_hits,
          "Gripper boxes against a cloud, per pair and approach, the pairs' points found on the fly (CPU)",
          py::arg("centres"), py::arg("xa"), py::arg("ua"), py::arg("va"), py::arg("cloud"), py::arg("radius"),
          py::arg("band_lo"), py::arg("band_hi"), py::arg("cos_t"), py::arg("sin_t"), py::arg("alive"),
          py::arg("off"), py::arg("hh"), py::arg("dep"), py::arg("boxes"), py::arg("min_points"),
          py::arg("num_threads") = -1);
    m.def("tsdf_fuse", &p2a::tsdf_fuse,
          "Depth maps fused into a truncated signed distance cube; its zero crossings (CPU)", py::arg("depth"),
          py::arg("E"), py::arg("intr"), py::arg("origin"), py::arg("voxel"), py::arg("res"), py::arg("trunc"),
          py::arg("num_threads") = -1);
    m.def("ransac_plane_scores", &p2a::ransac_plane_scores,
          "Inlier count and summed inlier distance of each drawn RANSAC plane over a cloud (CPU)", py::arg("P"),
          py::arg("nrm"), py::arg("off"), py::arg("ok"), py::arg("threshold"), py::arg("num_threads") = -1);
    m.def("surface_normals", &p2a::surface_normals,
          "Unit normals of a cloud from its points' neighbours: smallest eigenvector of their covariance (CPU)",
          py::arg("points"), py::arg("idx"), py::arg("radius"), py::arg("num_threads") = -1);
    m.def("window_min_max", &p2a::window_min_max,
          "The smallest or largest value over each pixel's square window of an image, edges repeated (CPU)",
          py::arg("a"), py::arg("size"), py::arg("is_max"), py::arg("num_threads") = -1);
}
