// CSR helpers of the relevancy refit (point2act.requery.fit_torch): transpose of
// the compositing-weights matrix and the fused loss + gradient pass.

#include "relevancy_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "threads.h"

namespace p2a {

// Transpose of a CSR matrix [R, N] (crow int64, col int32) to CSR [N, R]
// (rows = Gaussians, entries in ascending row order): counting sort by column.
void csr_transpose_impl(int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
                        int64_t *tcrow, int64_t *tcol, float *tval) {
    const int64_t nnz = crow[R];
    std::fill(tcrow, tcrow + N + 1, int64_t(0));
    for (int64_t q = 0; q < nnz; ++q) tcrow[col[q] + 1]++;
    for (int64_t n = 0; n < N; ++n) tcrow[n + 1] += tcrow[n];
    std::vector<int64_t> cur(tcrow, tcrow + N);
    for (int64_t r = 0; r < R; ++r) {
        for (int64_t q = crow[r]; q < crow[r + 1]; ++q) {
            const int64_t d = cur[col[q]]++;
            tcol[d] = r;
            tval[d] = val[q];
        }
    }
}

namespace {

// Row blocks of the loss + gradient pass: a fixed count, so that the order of every sum (the rows within
// a block, then the blocks in order) does not depend on the thread count or on which thread runs which
// block; the memory is GRAD_BLOCKS gradient buffers of N floats.
constexpr int64_t GRAD_BLOCKS = 16;

// One pass of the relevancy refit over a CSR matrix A [R, N] of compositing
// weights: p = clamp(A s, 0, 1) per row, the row-weighted training loss
// sum_r row_w[r] * l(p_r, t_r) and its gradient with respect to s [N]
// (form 0: BCE on p clamped to [1e-6, 1 - 1e-6], no gradient where the clamp
// is active; 1: squared error; 2: absolute error), as
// point2act.render._torch_impl._relevancy_loss_grad computes them with two
// sparse mat-vecs. The rows are cut into GRAD_BLOCKS contiguous blocks of
// about equal nonzeros; each block has its own gradient buffer and loss, and
// the blocks are summed in block order: the same bits for any thread count.
// Without want_loss the loss is not evaluated (NaN): the gradient needs no
// logarithm, and the logarithms are most of a BCE pass's time; the gradient's
// bits are the same either way.
}  // namespace

double relevancy_loss_grad_impl(int64_t R, int64_t N, const int64_t *crow, const int32_t *col, const float *val,
                                const float *s, const float *target, const float *row_w, int form, bool want_loss,
                                int nthreads, float *grad) {
    const int nt = std::max(1, nthreads);
    const int64_t nnz = crow[R];
    const int64_t B = std::max<int64_t>(1, std::min<int64_t>(GRAD_BLOCKS, R));
    // block b: rows [bound[b], bound[b + 1]), split by nonzeros
    std::vector<int64_t> bound(B + 1);
    bound[0] = 0;
    bound[B] = R;
    for (int64_t b = 1; b < B; ++b) {
        const int64_t target_nnz = nnz * b / B;
        bound[b] = std::max(bound[b - 1], std::min(R, int64_t(std::lower_bound(crow, crow + R + 1, target_nnz) - crow)));
    }
    std::vector<std::vector<float>> partial(B);
    std::vector<double> losses(B, 0.0);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t b = 0; b < B; ++b) {
        const int64_t r0 = bound[b], r1 = bound[b + 1];
        if (r0 == r1) continue;
        std::vector<float> &g = partial[b];
        g.assign(N, 0.0f);
        double loss = 0.0;
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t q0 = crow[r], q1 = crow[r + 1];
            // four partial sums (breaks the add latency chain)
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            int64_t q = q0;
            for (; q + 4 <= q1; q += 4) {
                a0 += val[q] * s[col[q]];
                a1 += val[q + 1] * s[col[q + 1]];
                a2 += val[q + 2] * s[col[q + 2]];
                a3 += val[q + 3] * s[col[q + 3]];
            }
            for (; q < q1; ++q) a0 += val[q] * s[col[q]];
            const float acc = (a0 + a1) + (a2 + a3);
            const float p = std::min(1.0f, std::max(0.0f, acc));
            const float t = target[r];
            float per = 0.0f, dp;
            if (form == 0) {
                const float pc = std::min(1.0f - 1e-6f, std::max(1e-6f, p));
                // the logs are the costly part of a row: skip the one a 0/1 target multiplies by 0
                if (!want_loss)
                    ;
                else if (t == 0.0f)
                    per = -std::log1p(-pc);
                else if (t == 1.0f)
                    per = -std::log(pc);
                else
                    per = -(t * std::log(pc) + (1.0f - t) * std::log1p(-pc));
                dp = (p > 1e-6f && p < 1.0f - 1e-6f) ? (pc - t) / (pc * (1.0f - pc)) : 0.0f;
            } else if (form == 1) {
                per = (p - t) * (p - t);
                dp = 2.0f * (p - t);
            } else {
                per = std::abs(p - t);
                dp = p > t ? 1.0f : (p < t ? -1.0f : 0.0f);
            }
            if (want_loss) loss += double(per) * double(row_w[r]);
            const float c = dp * row_w[r];
            if (c != 0.0f)
                for (int64_t q = q0; q < q1; ++q) g[col[q]] += val[q] * c;
        }
        losses[b] = loss;
    }
    // each Gaussian's gradient: its blocks' partial sums in block order
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        float acc = 0.0f;
        for (int64_t b = 0; b < B; ++b)
            if (!partial[b].empty()) acc += partial[b][n];
        grad[n] = acc;
    }
    if (!want_loss) return std::numeric_limits<double>::quiet_NaN();
    double loss = 0.0;
    for (int64_t b = 0; b < B; ++b) loss += losses[b];
    return loss;
}

// The relevancy a view renders of per-Gaussian values x: each row's weights times x, accumulated front to back
// with one float32 fused multiply-add per entry, as the rasterizer's forward pass accumulates a colour channel.
void csr_matvec_impl(int64_t R, const int64_t *crow, const int32_t *col, const float *val, const float *x,
                     int nthreads, float *out) {
#pragma omp parallel for num_threads(std::max(1, nthreads)) schedule(static)
    for (int64_t r = 0; r < R; ++r) {
        float acc = 0.0f;
        for (int64_t q = crow[r]; q < crow[r + 1]; ++q) acc = std::fma(val[q], x[col[q]], acc);
        out[r] = acc;
    }
}

}  // namespace p2a
