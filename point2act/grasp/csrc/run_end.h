// A part's connected run of values from where the fingers touch it (point2act.grasp.part_scans.run_end, whose
// float64 expressions this computes in the same order): values binned by gap / 2 from start - gap; the run
// must have a value within gap of the start and ends at the first two empty bins in a row (from the fourth
// bin on); its end is the largest value in it, start where there is none.
// Used by grasp_part.cpp and closing_extent.cpp.

#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace p2a {

struct Run {
    std::vector<uint8_t> occ;
    std::vector<double> mx;
    void reset(int64_t nb) {
        occ.assign(nb, 0);
        mx.assign(nb, -std::numeric_limits<double>::infinity());
    }
    // a value v of a run that starts at `start` (bins of b = gap / 2)
    inline void add(double v, double start, double gap, double b) {
        const int64_t nb = int64_t(occ.size());
        int64_t i = int64_t(((v - start) + gap) / b);
        i = std::min(std::max(i, int64_t(0)), nb - 1);
        occ[i] = 1;
        mx[i] = std::max(mx[i], v);
    }
    double end(double start) const {
        const int64_t nb = int64_t(occ.size());
        bool has_start = false;
        for (int64_t i = 0; i < std::min<int64_t>(4, nb); ++i) has_start |= occ[i] != 0;
        int64_t first_brk = nb - 1;
        for (int64_t i = 3; i < nb - 1; ++i)
            if (!occ[i] && !occ[i + 1]) {
                first_brk = i;
                break;
            }
        int64_t last = -1;
        for (int64_t i = first_brk; i >= 0; --i)
            if (occ[i]) {
                last = i;
                break;
            }
        if (!has_start || last < 0) return start;
        double best = start;
        for (int64_t i = 0; i <= last; ++i)
            if (occ[i]) best = std::max(best, mx[i]);
        return best;
    }
};

}  // namespace p2a
