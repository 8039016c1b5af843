// Numbers shared with Python and with anyone reading observations: action kinds, map builder kinds, map cell
// codes, observation feature ids and token locations. This header is their one definition; the bindings export
// them, and docs/GAME.md documents the observable ones (feature ids, token locations).
#pragma once
#include <cstdint>

namespace mettagrid {

// ---- limits

constexpr int kMaxItems = 240;  // inventory feature ids kFirstInventoryFeature + i must fit in a byte
constexpr int kMaxMapSide = 1024;

// ---- orientations (rotate_* and move_<direction> arguments; agent:orientation values)

enum Orientation : uint8_t { kUp = 0, kDown = 1, kLeft = 2, kRight = 3 };

// ---- action kinds (ActionSpec::kind) and the meaning of their argument (ActionSpec::arg)

enum ActionKind : int {
  kNoop = 0,
  kMove = 1,          // arg 0 forward, 1 back
  kRotate = 2,        // arg: the orientation to face
  kMoveCardinal = 3,  // arg: the orientation to face, then move along
  kPutItems = 4,
  kGetItems = 5,
  kAttack = 6,        // arg k: the k-th agent found in the 3 x 3 block ahead
  kSwap = 7,
  kChangeColor = 8,   // arg: the colour delta (mod 256)
  kChangeGlyph = 9,   // arg: the glyph
  kNumActionKinds = 10,
};

// ---- map builders (MapNodeSpec::kind, MapNodeSpec::algorithm) and map cell codes (MapNodeSpec::cells)

enum MapKind : int { kMapAscii = 0, kMapRandom = 1, kMapMaze = 2, kMapRoomGrid = 3 };
enum MazeAlgorithm : int { kMazeAlgorithmPrim = 0, kMazeAlgorithmKruskal = 1 };

// A map cell holds kEmptyCell, an object type index (0 .. number of object types - 1), or an agent of group
// index g as kAgentCellBase + g.
constexpr int32_t kEmptyCell = -1;
constexpr int32_t kAgentCellBase = 1 << 16;

// ---- observations

// Feature ids (the middle byte of a token; the plane index in grid observations). Inventory item i is
// kFirstInventoryFeature + i.
enum Feature : uint8_t {
  kFeatTypeId = 0,
  kFeatGroup = 1,
  kFeatFrozen = 2,
  kFeatOrientation = 3,
  kFeatColor = 4,
  kFeatGlyph = 5,
  kFeatConverting = 6,
  kFeatSwappable = 7,
  kFeatEpisodeCompletion = 8,
  kFeatLastAction = 9,
  kFeatLastReward = 10,
};
constexpr int kFirstInventoryFeature = 16;

// Token locations: a window cell is (row << 4) | col; global tokens are at kGlobalLocation; padding tokens (the
// unused rest of an observation) are kPaddingLocation in all three bytes.
constexpr uint8_t kGlobalLocation = 0xFE;
constexpr uint8_t kPaddingLocation = 0xFF;

}  // namespace mettagrid
