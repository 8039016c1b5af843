// Map builders: ascii layouts, random placement, mazes and room grids, all seeded.
#pragma once
#include <cstdint>
#include <vector>

#include "mettagrid/spec.hpp"

namespace mettagrid {

struct MapGrid {
  int height = 0;
  int width = 0;
  std::vector<int32_t> cells;  // kEmptyCell, an object type index, or kAgentCellBase + group
};

// Builds the map described by spec.map_nodes[node] for the given seed.
MapGrid build_map(const CompiledSpec& spec, int node, uint64_t seed);

// Size of the map a node builds (the same for every seed).
void map_size(const CompiledSpec& spec, int node, int* height, int* width);

}  // namespace mettagrid
