// Gradient of the token encoder's first layer (an embedding bag with per-token weights) with respect to
// its table, without the sort that a generic embedding-bag backward does. Plain C++ API: raw pointers to
// contiguous row-major arrays.
#pragma once

#include <cstdint>

namespace trainer::kernels {

// grad_table[index[n, k], :] += weight[n, k] * grad_out[n, :] for every row n < rows and token k < tokens
// whose weight is not 0, in row-major order (deterministic). Arrays: index (rows, tokens), weight (rows,
// tokens), grad_out (rows, hidden), grad_table (table_rows, hidden); grad_table must not overlap the others.
// Throws std::out_of_range naming the first index outside [0, table_rows) (before writing anything).
void token_table_grad_cpu(const std::int64_t* index, const float* weight, const float* grad_out, float* grad_table,
                          std::int64_t rows, std::int64_t tokens, std::int64_t hidden, std::int64_t table_rows);

}  // namespace trainer::kernels
