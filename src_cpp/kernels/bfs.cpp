// Breadth-first path lengths on row bitmasks (see bfs.hpp).
#include "kernels/bfs.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace trainer::kernels {

void bfs_levels(const std::uint32_t* goal, const std::uint32_t* free_cells, std::int64_t grids, std::int64_t rows,
                const std::int64_t* probe_rows, const std::int64_t* probe_cols, std::int64_t probes, std::int32_t far,
                std::int32_t* levels) {
  for (std::int64_t p = 0; p < probes; ++p) {
    if (probe_rows[p] < 0 || probe_rows[p] >= rows || probe_cols[p] < 0 || probe_cols[p] >= 32) {
      throw std::out_of_range("probe " + std::to_string(p) + " at (" + std::to_string(probe_rows[p]) + ", " +
                              std::to_string(probe_cols[p]) + ") is outside the " + std::to_string(rows) +
                              " x 32 grid");
    }
  }
  const std::size_t cells = static_cast<std::size_t>(grids * rows);
  std::vector<std::uint32_t> reached(cells), frontier(cells), next(static_cast<std::size_t>(rows));
  auto probe = [&](const std::uint32_t* bits, std::int64_t p) {
    return ((bits[probe_rows[p]] >> probe_cols[p]) & 1u) != 0;
  };
  std::int64_t unreached = 0;  // grids whose probe 0 is not reached yet
  for (std::int64_t k = 0; k < grids; ++k) {
    std::uint32_t* r = reached.data() + k * rows;
    for (std::int64_t i = 0; i < rows; ++i) {
      r[i] = goal[k * rows + i] & free_cells[k * rows + i];
      frontier[static_cast<std::size_t>(k * rows + i)] = r[i];
    }
    for (std::int64_t p = 0; p < probes; ++p) {
      levels[k * probes + p] = probe(r, p) ? 0 : far;
    }
    unreached += levels[k * probes] == far ? 1 : 0;
  }
  for (std::int64_t level = 1; level < 32 * rows && unreached > 0; ++level) {
    bool any_new = false;
    for (std::int64_t k = 0; k < grids; ++k) {
      std::uint32_t* f = frontier.data() + k * rows;
      std::uint32_t* r = reached.data() + k * rows;
      const std::uint32_t* fr = free_cells + k * rows;
      for (std::int64_t i = 0; i < rows; ++i) {
        std::uint32_t grown = (f[i] << 1) | (f[i] >> 1);
        if (i > 0) grown |= f[i - 1];
        if (i + 1 < rows) grown |= f[i + 1];
        next[static_cast<std::size_t>(i)] = grown & fr[i] & ~r[i];
      }
      bool grid_new = false;
      for (std::int64_t i = 0; i < rows; ++i) {
        f[i] = next[static_cast<std::size_t>(i)];
        r[i] |= f[i];
        grid_new = grid_new || f[i] != 0;
      }
      if (!grid_new) continue;
      any_new = true;
      for (std::int64_t p = 0; p < probes; ++p) {
        if (probe(f, p)) {
          if (p == 0 && levels[k * probes] == far) --unreached;
          levels[k * probes + p] = static_cast<std::int32_t>(level);
        }
      }
    }
    if (!any_new) break;
  }
}

}  // namespace trainer::kernels
