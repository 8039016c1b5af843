// The tables observations are written from, compiled once per spec (built in observations.cpp; the Game's
// observation writers are there too).
#pragma once
#include <cstdint>
#include <vector>

namespace mettagrid {

struct GameSpec;

// One cell of the observation window: its offset from the agent and its token location (row << 4) | col.
struct ObsOffset {
  int16_t dr;
  int16_t dc;
  uint8_t location;
};

// What observations need of an object type, packed for the token loop.
struct TypeView {
  uint8_t type_id;
  uint8_t color;
  bool is_converter;
  bool swappable;
};

struct ObservationTables {
  std::vector<ObsOffset> offsets;    // window cells in observation order
  std::vector<TypeView> type_views;  // per object type
  std::vector<uint8_t> group_ids;    // per group: the id observed as agent:group
  // Occupancy of 4 window columns -> bits in observation order: [row][nibble][16 patterns][mask_words].
  int mask_words = 2;       // 64-bit words of a window bitmask in observation order (2 up to 128 cells, else 4)
  int nibbles_per_row = 0;  // ceil(obs_width / 4)
  std::vector<uint64_t> window_nibbles;
};

// Builds the tables of a validated spec (window size, object types and groups in range).
ObservationTables build_observation_tables(const GameSpec& s);

}  // namespace mettagrid
