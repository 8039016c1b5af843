// Breadth-first path lengths on row bitmasks, for the scripted teachers' shortest paths inside each agent's view.
// Plain C++ API: raw pointers to contiguous row-major arrays.
#pragma once

#include <cstdint>

namespace trainer::kernels {

// For K grids of H rows (bit j of row r: column j, at most 32 columns): breadth-first distances from the goal
// cells through the free cells to P probe cells (probe_rows[p], probe_cols[p]), written to levels (K, P), `far`
// where not reached. Level 0 is goal & free; level L adds the free cells 4-adjacent to level L-1 not reached
// before. All grids advance one level at a time and the search stops once every grid's probe 0 is reached, when
// no grid reaches a new cell, or after 32 * H - 1 levels (the same stopping rule as the teachers' numpy search,
// so the results are identical). Throws std::out_of_range for a probe outside the grid.
void bfs_levels(const std::uint32_t* goal, const std::uint32_t* free_cells, std::int64_t grids, std::int64_t rows,
                const std::int64_t* probe_rows, const std::int64_t* probe_cols, std::int64_t probes, std::int32_t far,
                std::int32_t* levels);

}  // namespace trainer::kernels
