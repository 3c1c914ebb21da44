// The thread count of every point2act CPU kernel and a thread's place in its team, torch's extensions (cpu.h)
// and the grasp head's pybind11 module (grasp/csrc/np.h) alike. On each extension's include path
// (point2act/_cpp.py).

#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace p2a {

// num_threads > 0: that many; otherwise OpenMP's default.
inline int resolve_threads(int64_t num_threads) {
    if (num_threads > 0) return static_cast<int>(num_threads);
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// This thread's number in its team and the team's size (0 and 1 outside a parallel region or without OpenMP).
inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

inline int team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

}  // namespace p2a
