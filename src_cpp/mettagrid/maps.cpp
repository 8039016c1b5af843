#include "mettagrid/maps.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "mettagrid/rng.hpp"

namespace mettagrid {
namespace {

// Places the node's objects and agents on distinct random empty cells.
void place_counts(const MapNodeSpec& m, MapGrid& g, Rng& rng, int node) {
  std::vector<int32_t> free_cells;
  for (int32_t i = 0; i < static_cast<int32_t>(g.cells.size()); ++i) {
    if (g.cells[i] == kEmptyCell) free_cells.push_back(i);
  }
  size_t needed = 0;
  for (int c : m.object_counts) needed += static_cast<size_t>(c);
  for (int c : m.agent_counts) needed += static_cast<size_t>(c);
  if (needed > free_cells.size()) {
    throw std::invalid_argument("map[" + std::to_string(node) + "]: " + std::to_string(needed) +
                                " objects and agents do not fit in " + std::to_string(free_cells.size()) +
                                " free cells");
  }
  // Partial Fisher-Yates: the first `needed` entries become a uniform random choice.
  const uint32_t n = static_cast<uint32_t>(free_cells.size());
  for (uint32_t i = 0; i < needed; ++i) {
    const uint32_t j = i + rng.below(n - i);
    std::swap(free_cells[i], free_cells[j]);
  }
  size_t k = 0;
  for (size_t t = 0; t < m.object_counts.size(); ++t) {
    for (int c = 0; c < m.object_counts[t]; ++c) g.cells[free_cells[k++]] = static_cast<int32_t>(t);
  }
  for (size_t gr = 0; gr < m.agent_counts.size(); ++gr) {
    for (int c = 0; c < m.agent_counts[gr]; ++c) g.cells[free_cells[k++]] = kAgentCellBase + static_cast<int32_t>(gr);
  }
}

int find_root(std::vector<int>& parent, int x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

// Carves a perfect maze: cells at odd coordinates, passages between them.
void carve_maze(const MapNodeSpec& m, MapGrid& g, Rng& rng) {
  const int cw = (g.width - 1) / 2, ch = (g.height - 1) / 2;
  if (cw <= 0 || ch <= 0) return;
  auto cell_index = [&](int cr, int cc) { return (2 * cr + 1) * g.width + (2 * cc + 1); };
  for (int cr = 0; cr < ch; ++cr)
    for (int cc = 0; cc < cw; ++cc) g.cells[cell_index(cr, cc)] = kEmptyCell;
  auto open_between = [&](int a, int b) {  // a, b: maze cell ids
    const int ar = a / cw, ac = a % cw, br = b / cw, bc = b % cw;
    g.cells[(ar + br + 1) * g.width + (ac + bc + 1)] = kEmptyCell;
  };
  const int num = cw * ch;
  if (m.algorithm == kMazeAlgorithmPrim) {  // Prim: grow from a random cell through random frontier edges
    std::vector<uint8_t> in_maze(num, 0);
    std::vector<std::pair<int, int>> frontier;  // (from, to)
    auto add_edges = [&](int c) {
      const int r = c / cw, col = c % cw;
      if (r > 0) frontier.emplace_back(c, c - cw);
      if (r + 1 < ch) frontier.emplace_back(c, c + cw);
      if (col > 0) frontier.emplace_back(c, c - 1);
      if (col + 1 < cw) frontier.emplace_back(c, c + 1);
    };
    const int start = static_cast<int>(rng.below(static_cast<uint32_t>(num)));
    in_maze[start] = 1;
    add_edges(start);
    while (!frontier.empty()) {
      const uint32_t i = rng.below(static_cast<uint32_t>(frontier.size()));
      const auto e = frontier[i];
      frontier[i] = frontier.back();
      frontier.pop_back();
      if (in_maze[e.second]) continue;
      in_maze[e.second] = 1;
      open_between(e.first, e.second);
      add_edges(e.second);
    }
  } else {  // Kruskal: random edge order, join different components
    std::vector<std::pair<int, int>> edges;
    for (int c = 0; c < num; ++c) {
      if (c % cw + 1 < cw) edges.emplace_back(c, c + 1);
      if (c / cw + 1 < ch) edges.emplace_back(c, c + cw);
    }
    rng.shuffle(edges.data(), static_cast<uint32_t>(edges.size()));
    std::vector<int> parent(num);
    std::iota(parent.begin(), parent.end(), 0);
    for (const auto& e : edges) {
      const int a = find_root(parent, e.first), b = find_root(parent, e.second);
      if (a == b) continue;
      parent[a] = b;
      open_between(e.first, e.second);
    }
  }
}

}  // namespace

void map_size(const CompiledSpec& spec, int node, int* height, int* width) {
  const auto& m = spec.s.map_nodes[node];
  if (m.kind != kMapRoomGrid) {
    *height = m.height;
    *width = m.width;
    return;
  }
  int rh = 0, rw = 0;
  for (int ch : m.children) {
    int h = 0, w = 0;
    map_size(spec, ch, &h, &w);
    rh = std::max(rh, h);
    rw = std::max(rw, w);
  }
  // In 64 bits and saturated just past the largest map, so nested grids cannot overflow an int.
  const int64_t h = static_cast<int64_t>(m.rows) * rh + (static_cast<int64_t>(m.rows) + 1) * m.spacing;
  const int64_t w = static_cast<int64_t>(m.cols) * rw + (static_cast<int64_t>(m.cols) + 1) * m.spacing;
  *height = static_cast<int>(std::min<int64_t>(h, int64_t{kMaxMapSide} + 1));
  *width = static_cast<int>(std::min<int64_t>(w, int64_t{kMaxMapSide} + 1));
}

MapGrid build_map(const CompiledSpec& spec, int node, uint64_t seed) {
  const auto& m = spec.s.map_nodes[node];
  MapGrid g;
  map_size(spec, node, &g.height, &g.width);
  if (g.height > kMaxMapSide || g.width > kMaxMapSide) {
    throw std::invalid_argument("map is " + std::to_string(g.height) + " x " + std::to_string(g.width) +
                                ", larger than " + std::to_string(kMaxMapSide) + " x " + std::to_string(kMaxMapSide));
  }
  Rng rng(seed);
  const int32_t wall = spec.s.wall_type;
  switch (m.kind) {
    case kMapAscii:
      g.cells = m.cells;
      break;
    case kMapRandom: {
      g.cells.assign(static_cast<size_t>(g.height) * g.width, kEmptyCell);
      for (int r = 0; r < g.height; ++r) {
        for (int c = 0; c < g.width; ++c) {
          const int d = std::min(std::min(r, c), std::min(g.height - 1 - r, g.width - 1 - c));
          if (d < m.border) g.cells[static_cast<size_t>(r) * g.width + c] = wall;
        }
      }
      place_counts(m, g, rng, node);
      break;
    }
    case kMapMaze:
      g.cells.assign(static_cast<size_t>(g.height) * g.width, wall);
      carve_maze(m, g, rng);
      place_counts(m, g, rng, node);
      break;
    case kMapRoomGrid: {
      g.cells.assign(static_cast<size_t>(g.height) * g.width, wall);
      int rh = 0, rw = 0;
      for (int ch : m.children) {
        int h = 0, w = 0;
        map_size(spec, ch, &h, &w);
        rh = std::max(rh, h);
        rw = std::max(rw, w);
      }
      for (int room = 0; room < m.rows * m.cols; ++room) {
        const int child = m.children.size() == 1 ? m.children[0] : m.children[room];
        const MapGrid sub = build_map(spec, child, derive_seed(seed, static_cast<uint64_t>(room)));
        const int top = m.spacing + (room / m.cols) * (rh + m.spacing) + (rh - sub.height) / 2;
        const int left = m.spacing + (room % m.cols) * (rw + m.spacing) + (rw - sub.width) / 2;
        // Rooms are cleared first so a smaller child sits in open floor, not in wall.
        const int cell_top = m.spacing + (room / m.cols) * (rh + m.spacing);
        const int cell_left = m.spacing + (room % m.cols) * (rw + m.spacing);
        for (int r = 0; r < rh; ++r)
          for (int c = 0; c < rw; ++c) g.cells[static_cast<size_t>(cell_top + r) * g.width + cell_left + c] = kEmptyCell;
        for (int r = 0; r < sub.height; ++r) {
          std::copy_n(sub.cells.begin() + static_cast<ptrdiff_t>(r) * sub.width, sub.width,
                      g.cells.begin() + static_cast<ptrdiff_t>(top + r) * g.width + left);
        }
      }
      break;
    }
    default:
      throw std::invalid_argument("unknown map kind");
  }
  return g;
}

}  // namespace mettagrid
