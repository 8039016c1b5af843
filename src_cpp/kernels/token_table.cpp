// CPU kernel of the token table's gradient (see token_table.hpp).
#include "kernels/token_table.hpp"

#include <stdexcept>
#include <string>

namespace trainer::kernels {

void token_table_grad_cpu(const std::int64_t* index, const float* weight, const float* grad_out, float* grad_table,
                          std::int64_t rows, std::int64_t tokens, std::int64_t hidden, std::int64_t table_rows) {
  const std::int64_t count = rows * tokens;
  for (std::int64_t i = 0; i < count; ++i) {
    if (weight[i] != 0.0f && (index[i] < 0 || index[i] >= table_rows)) {
      throw std::out_of_range("index[" + std::to_string(i / tokens) + ", " + std::to_string(i % tokens) + "] = " +
                              std::to_string(index[i]) + " is outside the table's " + std::to_string(table_rows) +
                              " rows");
    }
  }
  for (std::int64_t n = 0; n < rows; ++n) {
    const float* g = grad_out + n * hidden;
    for (std::int64_t k = 0; k < tokens; ++k) {
      const float w = weight[n * tokens + k];
      if (w == 0.0f) {
        continue;
      }
      float* out = grad_table + index[n * tokens + k] * hidden;
      for (std::int64_t h = 0; h < hidden; ++h) {
        out[h] += w * g[h];
      }
    }
  }
}

}  // namespace trainer::kernels
