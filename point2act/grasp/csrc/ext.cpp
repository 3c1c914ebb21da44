// Python bindings of the grasp head's kernels (the only translation unit that includes the heavy
// torch/extension.h).

#include <torch/extension.h>

#include "ops.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("contact_candidates", &p2a::contact_candidates,
          "Contact-pair candidates per seed: distance and the seed's friction cone, a loose prefilter (CPU)");
    m.def("occupancy_counts", &p2a::occupancy_counts,
          "Hits and misses of an occupancy grid's cells against depth maps (CPU)");
    m.def("closing_extent", &p2a::closing_extent,
          "The part's extent across each contact pair's closing axis, within the fingers' cylinder (CPU)");
    m.def("grasp_part", &p2a::grasp_part,
          "What each grasp candidate holds: depth, opening, the points between the pads and their weights (CPU)");
    m.def("pads_window", &p2a::pads_window,
          "The cloud points in the pads' window of every approach of a set of contact pairs (CPU)");
    m.def("gripper_cloud_hits", &p2a::gripper_cloud_hits,
          "Gripper boxes against a cloud, per pair and approach, the pairs' points found on the fly (CPU)");
}
