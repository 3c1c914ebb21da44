// Tile/Gaussian intersections (gsplat's isect_tiles + isect_offset_encode).
//
// Every Gaussian with radius > 0 is listed in all tiles of its rectangle
// [floor(mean/ts - r/ts), ceil(mean/ts + r/ts)) (clamped to the image); each
// tile's list is sorted by depth, ties broken by the flattened index (what
// gsplat's stable radix sort of isect_ids gives). Instead of sorting every
// tile, the visible Gaussians of each camera are sorted once by depth (stable
// LSD radix sort on the order-preserving bits of the depth) and then scattered
// into the tiles in that order (a counting sort by tile, which is stable).

#include "common.h"
#include "ops.h"

namespace p2a {
namespace {

inline int bit_length(int64_t v) {
    int n = 0;
    while (v > 0) {
        ++n;
        v >>= 1;
    }
    return n;
}

// Unsigned key with the order of the floating-point value.
inline uint32_t order_key(float v) {
    uint32_t u;
    std::memcpy(&u, &v, sizeof(u));
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
inline uint64_t order_key(double v) {
    uint64_t u;
    std::memcpy(&u, &v, sizeof(u));
    return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

// Stable LSD radix sort of ids by keys (8-bit digits, constant digits skipped).
template <typename K> void radix_sort(std::vector<K> &keys, std::vector<int32_t> &ids) {
    const size_t n = keys.size();
    if (n < 2) return;
    std::vector<K> k2(n);
    std::vector<int32_t> i2(n);
    for (unsigned shift = 0; shift < 8 * sizeof(K); shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; ++i) cnt[((keys[i] >> shift) & 0xff) + 1]++;
        bool trivial = false;
        for (int b = 1; b <= 256; ++b)
            if (cnt[b] == n) trivial = true;
        if (trivial) continue;
        for (int b = 0; b < 256; ++b) cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; ++i) {
            const size_t d = cnt[(keys[i] >> shift) & 0xff]++;
            k2[d] = keys[i];
            i2[d] = ids[i];
        }
        keys.swap(k2);
        ids.swap(i2);
    }
}

// Threads of one pass over the Gaussians or the intersections: 1 below ISECT_PARALLEL items.
constexpr int64_t ISECT_PARALLEL = 1 << 12;

// The threads share the work so that the output is the one-thread output: the rectangles by Gaussian, the
// tile counts as per-thread partial counts summed in thread order (integers), and the scatter of each camera's
// depth-sorted Gaussians by tile rows (each thread writes the tiles of its rows, in the sorted order).
template <typename S>
void isect_tiles_impl(int64_t C, int64_t N, const S *means2d, const int32_t *radii, const S *depths, int tile_size,
                      int tile_width, int tile_height, int nthreads, int32_t *tiles_per_gauss,
                      std::vector<int32_t> &offsets, std::vector<int32_t> &flatten_ids) {
    using K = typename std::conditional<sizeof(S) == 4, uint32_t, uint64_t>::type;
    const int64_t n_tiles = int64_t(tile_width) * tile_height;
    const int64_t CN = C * N;
    const int64_t CT = C * n_tiles;
    const int nt = CN < ISECT_PARALLEL ? 1 : nthreads;
    std::vector<int32_t> rects(CN * 4);
    std::vector<int32_t> partial(size_t(std::max(nt, 1)) * CT, 0);  // tile counts of each thread's Gaussians
    int used_threads = 1;
#pragma omp parallel num_threads(nt)
    {
        const int tid = thread_id();
#pragma omp single
        used_threads = team_size();
#pragma omp for schedule(static)
        for (int64_t idx = 0; idx < CN; ++idx) {
            int32_t *r = rects.data() + idx * 4;
            if (radii[idx] <= 0) {
                r[0] = r[1] = r[2] = r[3] = 0;
                tiles_per_gauss[idx] = 0;
                continue;
            }
            int x0, x1, y0, y1;
            tile_rect<S>(means2d[2 * idx], means2d[2 * idx + 1], radii[idx], tile_size, tile_width, tile_height, x0,
                         x1, y0, y1);
            r[0] = x0;
            r[1] = x1;
            r[2] = y0;
            r[3] = y1;
            tiles_per_gauss[idx] = (x1 - x0) * (y1 - y0);
        }
        int32_t *mine = partial.data() + size_t(tid) * CT;
#pragma omp for schedule(static)
        for (int64_t idx = 0; idx < CN; ++idx) {
            const int32_t *r = rects.data() + idx * 4;
            if (r[0] >= r[1] || r[2] >= r[3]) continue;
            int32_t *cnt = mine + (idx / N) * n_tiles;
            for (int y = r[2]; y < r[3]; ++y)
                for (int x = r[0]; x < r[1]; ++x) cnt[int64_t(y) * tile_width + x]++;
        }
    }
    offsets.assign(CT + 1, 0);
    for (int th = 0; th < used_threads; ++th)
        for (int64_t t = 0; t < CT; ++t) offsets[t + 1] += partial[size_t(th) * CT + t];
    for (int64_t t = 0; t < CT; ++t) offsets[t + 1] += offsets[t];
    TORCH_CHECK(offsets.back() < std::numeric_limits<int32_t>::max(), "too many tile intersections");
    flatten_ids.resize(offsets.back());
    std::vector<int32_t> pos(offsets.begin(), offsets.end() - 1);
    std::vector<K> keys;
    std::vector<int32_t> ids;
    for (int64_t cam = 0; cam < C; ++cam) {
        keys.clear();
        ids.clear();
        for (int64_t idx = cam * N; idx < (cam + 1) * N; ++idx) {
            const int32_t *r = rects.data() + idx * 4;
            if (r[0] >= r[1] || r[2] >= r[3]) continue;
            keys.push_back(order_key(depths[idx]));
            ids.push_back(static_cast<int32_t>(idx));
        }
        radix_sort(keys, ids);
        int32_t *p = pos.data() + cam * n_tiles;
        const int ntc = int64_t(ids.size()) < ISECT_PARALLEL ? 1 : nthreads;
#pragma omp parallel num_threads(ntc)
        {
            const int tid = thread_id(), nth = team_size();
            const int ylo = int(int64_t(tile_height) * tid / nth), yhi = int(int64_t(tile_height) * (tid + 1) / nth);
            for (const int32_t idx : ids) {
                const int32_t *r = rects.data() + int64_t(idx) * 4;
                const int y0 = std::max(r[2], ylo), y1 = std::min(r[3], yhi);
                for (int y = y0; y < y1; ++y)
                    for (int x = r[0]; x < r[1]; ++x) flatten_ids[p[int64_t(y) * tile_width + x]++] = idx;
            }
        }
    }
}

}  // namespace

std::vector<at::Tensor> isect_tiles(const at::Tensor &means2d, const at::Tensor &radii, const at::Tensor &depths,
                                    int64_t tile_size, int64_t tile_width, int64_t tile_height,
                                    int64_t num_threads) {
    check_cpu_contig(means2d, "means2d");
    check_cpu_contig(radii, "radii");
    check_cpu_contig(depths, "depths");
    TORCH_CHECK(radii.scalar_type() == at::kInt, "radii must be int32");
    TORCH_CHECK(means2d.dim() == 3 && means2d.size(2) == 2, "means2d must be [C, N, 2]");
    TORCH_CHECK(depths.scalar_type() == means2d.scalar_type(), "dtype mismatch");
    const int64_t C = means2d.size(0), N = means2d.size(1);
    TORCH_CHECK(C * N < std::numeric_limits<int32_t>::max(), "too many Gaussians");
    const int nthreads = resolve_threads(num_threads);
    auto tiles_per_gauss = at::empty({C, N}, means2d.options().dtype(at::kInt));
    std::vector<int32_t> offsets, ids;
    AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "isect_tiles", [&] {
        isect_tiles_impl<scalar_t>(C, N, means2d.data_ptr<scalar_t>(), radii.data_ptr<int32_t>(),
                                   depths.data_ptr<scalar_t>(), int(tile_size), int(tile_width), int(tile_height),
                                   nthreads, tiles_per_gauss.data_ptr<int32_t>(), offsets, ids);
    });
    const int64_t n_isects = static_cast<int64_t>(ids.size());
    const int64_t n_tiles = tile_width * tile_height;
    auto flatten_ids = at::empty({n_isects}, radii.options());
    std::memcpy(flatten_ids.data_ptr<int32_t>(), ids.data(), n_isects * sizeof(int32_t));
    auto isect_offsets = at::empty({C, tile_height, tile_width}, radii.options());
    std::memcpy(isect_offsets.data_ptr<int32_t>(), offsets.data(), C * n_tiles * sizeof(int32_t));
    // gsplat's isect_ids: camera id | tile id | float32 depth bits
    auto isect_ids = at::empty({n_isects}, radii.options().dtype(at::kLong));
    int64_t *iid = isect_ids.data_ptr<int64_t>();
    const int tile_n_bits = bit_length(n_tiles);
    const int nt_ids = n_isects < ISECT_PARALLEL ? 1 : nthreads;
    AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "isect_ids", [&] {
        const scalar_t *dp = depths.data_ptr<scalar_t>();
        _Pragma("omp parallel for num_threads(nt_ids) schedule(static)")
        for (int64_t t = 0; t < C * n_tiles; ++t) {
            const int64_t cam = t / n_tiles, tile = t % n_tiles;
            const int64_t head = (cam << (32 + tile_n_bits)) | (tile << 32);
            for (int32_t k = offsets[t]; k < offsets[t + 1]; ++k) {
                const float d = static_cast<float>(dp[ids[k]]);
                int32_t bits;
                std::memcpy(&bits, &d, sizeof(bits));
                iid[k] = head | static_cast<int64_t>(static_cast<uint32_t>(bits));
            }
        }
    });
    return {tiles_per_gauss, isect_ids, flatten_ids, isect_offsets};
}

}  // namespace p2a
