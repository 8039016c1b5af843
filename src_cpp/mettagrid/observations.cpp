// Observations (tokens and grid), the tables they are written from, and the snapshot of a game.
#include "mettagrid/game.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace mettagrid {
namespace {

uint8_t clamp_u8(long v) { return static_cast<uint8_t>(std::min<long>(255, std::max<long>(0, v))); }

// Emits an inventory token per nonzero item, reading 8 items per load. Inventories are mostly empty,
// so whole words are usually skipped. `tail` masks the items of the last word (see inventory_tail_mask);
// reads up to 7 bytes past the inventory (buffers keep slack).
template <typename Emit>
inline void emit_inventory(const uint8_t* inv, int num_items, uint64_t tail, uint8_t loc, Emit& emit) {
  auto scan = [loc, &emit](uint64_t word, int base) {
    while (word != 0) {
      const int byte = __builtin_ctzll(word) >> 3;
      emit(loc, static_cast<uint8_t>(kFirstInventoryFeature + base + byte), static_cast<uint8_t>(word >> (8 * byte)));
      word &= ~(uint64_t{0xFF} << (8 * byte));
    }
  };
  int base = 0;
  uint64_t word;
  for (; base + 8 < num_items; base += 8) {
    std::memcpy(&word, inv + base, 8);
    scan(word, base);
  }
  std::memcpy(&word, inv + base, 8);
  scan(word & tail, base);
}

// The mask of the items held in an inventory's last 8-byte word.
uint64_t inventory_tail_mask(int num_items) {
  const int last = num_items == 0 ? 0 : num_items - (num_items - 1) / 8 * 8;
  return last == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * last)) - 1;
}

}  // namespace

// ---------------------------------------------------------------- tables

ObservationTables build_observation_tables(const GameSpec& s) {
  ObservationTables t;
  for (const auto& ot : s.object_types) {
    t.type_views.push_back({static_cast<uint8_t>(ot.type_id), static_cast<uint8_t>(ot.color), ot.is_converter, ot.swappable});
  }
  for (const auto& g : s.groups) t.group_ids.push_back(static_cast<uint8_t>(g.id));

  // Observation window cells by Manhattan distance, then top row first, then left first.
  auto& offsets = t.offsets;
  const int hr = s.obs_height / 2, hc = s.obs_width / 2;
  for (int r = 0; r < s.obs_height; ++r) {
    for (int c = 0; c < s.obs_width; ++c) {
      offsets.push_back({static_cast<int16_t>(r - hr), static_cast<int16_t>(c - hc), static_cast<uint8_t>((r << 4) | c)});
    }
  }
  std::stable_sort(offsets.begin(), offsets.end(), [](const ObsOffset& a, const ObsOffset& b) {
    const int da = std::abs(a.dr) + std::abs(a.dc), db = std::abs(b.dr) + std::abs(b.dc);
    if (da != db) return da < db;
    if (a.dr != b.dr) return a.dr < b.dr;
    return a.dc < b.dc;
  });

  // Each window cell's index in observation order (row-major), folded into the nibble table below.
  std::vector<uint8_t> window_rank(offsets.size(), 0);
  for (size_t k = 0; k < offsets.size(); ++k) {
    window_rank[(offsets[k].location >> 4) * s.obs_width + (offsets[k].location & 0xF)] = static_cast<uint8_t>(k);
  }
  t.mask_words = offsets.size() > 128 ? 4 : 2;
  t.nibbles_per_row = (s.obs_width + 3) / 4;
  t.window_nibbles.assign(static_cast<size_t>(s.obs_height) * t.nibbles_per_row * 16 * t.mask_words, 0);
  for (int wr = 0; wr < s.obs_height; ++wr) {
    for (int n = 0; n < t.nibbles_per_row; ++n) {
      for (int v = 0; v < 16; ++v) {
        uint64_t* m = &t.window_nibbles[((static_cast<size_t>(wr) * t.nibbles_per_row + n) * 16 + v) * t.mask_words];
        for (int b = 0; b < 4; ++b) {
          const int col = 4 * n + b;
          if (((v >> b) & 1) == 0 || col >= s.obs_width) continue;
          const int k = window_rank[wr * s.obs_width + col];
          m[k >> 6] |= uint64_t{1} << (k & 63);
        }
      }
    }
  }
  return t;
}

// ---------------------------------------------------------------- observations

void Game::write_observations(uint8_t* dest) {
  const size_t stride = spec_->s.grid_obs
                            ? static_cast<size_t>(spec_->num_features) * spec_->s.obs_height * spec_->s.obs_width
                            : static_cast<size_t>(spec_->s.num_tokens) * 3;
  for (int a = 0; a < num_agents_; ++a) {
    uint8_t* out = dest + stride * a;
    if (spec_->s.grid_obs) write_grid(a, out); else write_tokens(a, out);
  }
}

template <int W>
void Game::occupancy_mask(int agent, uint64_t* mask) const {
  // Bit k of the mask: window cell offsets[k] is occupied. Each window row's occupancy bytes are packed
  // into bits by a multiply (two 8-byte loads), then mapped to observation order 4 columns at a time.
  const auto& s = spec_->s;
  const int oh = s.obs_height, npr = spec_->obs.nibbles_per_row;
  const uint8_t* occ = occupied_.data() +
                       static_cast<size_t>(ag_r_[agent] + kPad - oh / 2) * stride_ + (ag_c_[agent] + kPad - s.obs_width / 2);
  const uint64_t* __restrict table = spec_->obs.window_nibbles.data();
  uint64_t m[W] = {};
  for (int wr = 0; wr < oh; ++wr, occ += stride_) {
    uint64_t lo, hi;
    std::memcpy(&lo, occ, 8);
    std::memcpy(&hi, occ + 8, 8);
    constexpr uint64_t kPack = 0x0102040810204080ull;  // bytes of 0/1 -> bits, byte i to bit i
    uint32_t bits = static_cast<uint32_t>(((lo * kPack) >> 56) | (((hi * kPack) >> 56) << 8));
    const uint64_t* row = table + static_cast<size_t>(wr) * npr * 16 * W;
    for (int n = 0; n < npr; ++n, bits >>= 4, row += 16 * W) {
      const uint64_t* e = row + (bits & 15) * W;
      for (int i = 0; i < W; ++i) m[i] |= e[i];
    }
  }
  for (int i = 0; i < W; ++i) mask[i] = m[i];
}

void Game::write_tokens(int agent, uint8_t* out) {
  // Everything the loop reads is copied into locals first: stores through a uint8_t pointer may alias
  // anything, so members would otherwise be reloaded after every byte written.
  const auto& s = spec_->s;
  const int capacity = s.num_tokens;
  uint8_t* __restrict p = out;
  uint8_t* const end = out + static_cast<size_t>(capacity) * 3;
  long dropped = 0;
  auto emit = [&p, end, &dropped](uint8_t loc, uint8_t feature, uint8_t value) {
    if (p != end) {
      p[0] = loc;
      p[1] = feature;
      p[2] = value;
      p += 3;
    } else {
      ++dropped;
    }
  };
  if (s.global_episode_completion) {
    const long pct = episode_max_steps_ > 0 ? (255L * step_ + episode_max_steps_ / 2) / episode_max_steps_ : 0;
    emit(kGlobalLocation, kFeatEpisodeCompletion, clamp_u8(pct));
  }
  if (s.global_last_action) emit(kGlobalLocation, kFeatLastAction, clamp_u8(ag_last_action_[agent]));
  if (s.global_last_reward) emit(kGlobalLocation, kFeatLastReward, clamp_u8(std::lround(ag_last_reward_[agent] * 100.f)));

  // Pass 1: which window cells are occupied, in observation order.
  uint64_t mask[4] = {0, 0, 0, 0};
  if (spec_->obs.mask_words == 2) occupancy_mask<2>(agent, mask); else occupancy_mask<4>(agent, mask);

  const Cell* __restrict grid = grid_.data();
  const int32_t center = ag_r_[agent] * width_ + ag_c_[agent];  // only occupied (in-map) cells are read
  const int32_t* __restrict deltas = window_offsets_.data();
  const int num_items = num_items_;
  const uint64_t tail = inventory_tail_mask(num_items);
  const uint8_t* __restrict ag_inv = ag_inv_.data();
  const uint8_t* __restrict ag_group = ag_group_.data();
  const int32_t* __restrict ag_frozen = ag_frozen_.data();
  const uint8_t* __restrict ag_orient = ag_orient_.data();
  const uint8_t* __restrict ag_color = ag_color_.data();
  const uint8_t* __restrict ag_glyph = ag_glyph_.data();
  const uint8_t* __restrict obj_type = obj_type_.data();
  const uint8_t* __restrict obj_state = obj_state_.data();
  const uint8_t* __restrict obj_inv = obj_inv_.data();
  const uint8_t* __restrict group_id = spec_->obs.group_ids.data();
  const TypeView* __restrict types = spec_->obs.type_views.data();
  const ObsOffset* __restrict offsets = spec_->obs.offsets.data();

  // Pass 2: tokens of the occupied cells, in observation order.
  for (int w = 0; w < 4; ++w) {
    for (uint64_t bits = mask[w]; bits != 0; bits &= bits - 1) {
      const int k = w * 64 + __builtin_ctzll(bits);
      const Cell cell = grid[center + deltas[k]];
      const uint8_t loc = offsets[k].location;
      if (cell.agent >= 0) {
        const int b = cell.agent;
        emit(loc, kFeatTypeId, 0);
        emit(loc, kFeatGroup, group_id[ag_group[b]]);
        emit(loc, kFeatFrozen, ag_frozen[b] > 0 ? 1 : 0);
        emit(loc, kFeatOrientation, ag_orient[b]);
        emit(loc, kFeatColor, ag_color[b]);
        if (ag_glyph[b] != 0) emit(loc, kFeatGlyph, ag_glyph[b]);
        emit_inventory(ag_inv + static_cast<size_t>(b) * num_items, num_items, tail, loc, emit);
      }
      if (cell.obj >= 0) {
        const int o = cell.obj;
        const TypeView t = types[obj_type[o]];
        emit(loc, kFeatTypeId, t.type_id);
        if (t.is_converter) {
          emit(loc, kFeatColor, t.color);
          if (obj_state[o] != kIdle) emit(loc, kFeatConverting, 1);
          emit_inventory(obj_inv + static_cast<size_t>(o) * num_items, num_items, tail, loc, emit);
        }
        if (t.swappable) emit(loc, kFeatSwappable, 1);
      }
    }
  }
  const long written = (p - out) / 3;
  if (p != end) std::memset(p, kPaddingLocation, static_cast<size_t>(end - p));
  game_stats_[spec_->gs_tokens_written] += static_cast<double>(written);
  game_stats_[spec_->gs_tokens_dropped] += static_cast<double>(dropped);
}

void Game::write_grid(int agent, uint8_t* out) {
  const auto& s = spec_->s;
  const int oh = s.obs_height, ow = s.obs_width;
  const size_t plane = static_cast<size_t>(oh) * ow;
  std::memset(out, 0, plane * spec_->num_features);
  auto set = [&](int feature, int wr, int wc, uint8_t v) { out[feature * plane + static_cast<size_t>(wr) * ow + wc] = v; };
  if (s.global_episode_completion) {
    const long pct = episode_max_steps_ > 0 ? (255L * step_ + episode_max_steps_ / 2) / episode_max_steps_ : 0;
    std::memset(out + kFeatEpisodeCompletion * plane, clamp_u8(pct), plane);
  }
  if (s.global_last_action) std::memset(out + kFeatLastAction * plane, clamp_u8(ag_last_action_[agent]), plane);
  if (s.global_last_reward) {
    std::memset(out + kFeatLastReward * plane, clamp_u8(std::lround(ag_last_reward_[agent] * 100.f)), plane);
  }
  const int r0 = ag_r_[agent], c0 = ag_c_[agent];
  for (const ObsOffset& off : spec_->obs.offsets) {
    const int r = r0 + off.dr, c = c0 + off.dc;
    if (static_cast<unsigned>(r) >= static_cast<unsigned>(height_) || static_cast<unsigned>(c) >= static_cast<unsigned>(width_)) {
      continue;
    }
    const Cell cell = at(r, c);
    const int wr = off.location >> 4, wc = off.location & 0xF;
    if (cell.obj >= 0) {
      const int o = cell.obj;
      const auto& ot = s.object_types[obj_type_[o]];
      set(kFeatTypeId, wr, wc, static_cast<uint8_t>(ot.type_id));
      if (ot.is_converter) {
        set(kFeatColor, wr, wc, static_cast<uint8_t>(ot.color));
        set(kFeatConverting, wr, wc, obj_state_[o] != kIdle);
        const uint8_t* inv = &obj_inv_[static_cast<size_t>(o) * num_items_];
        for (int i = 0; i < num_items_; ++i) set(kFirstInventoryFeature + i, wr, wc, inv[i]);
      }
      if (ot.swappable) set(kFeatSwappable, wr, wc, 1);
    }
    if (cell.agent >= 0) {
      const int b = cell.agent;
      set(kFeatTypeId, wr, wc, 0);
      set(kFeatGroup, wr, wc, static_cast<uint8_t>(s.groups[ag_group_[b]].id));
      set(kFeatFrozen, wr, wc, ag_frozen_[b] > 0);
      set(kFeatOrientation, wr, wc, ag_orient_[b]);
      set(kFeatColor, wr, wc, ag_color_[b]);
      set(kFeatGlyph, wr, wc, ag_glyph_[b]);
      const uint8_t* inv = &ag_inv_[static_cast<size_t>(b) * num_items_];
      for (int i = 0; i < num_items_; ++i) set(kFirstInventoryFeature + i, wr, wc, inv[i]);
    }
  }
}

// ---------------------------------------------------------------- snapshot

Snapshot Game::snapshot() const {
  Snapshot sn;
  sn.height = height_;
  sn.width = width_;
  sn.step = step_;
  sn.max_steps = episode_max_steps_;
  for (int a = 0; a < num_agents_; ++a) {
    sn.agent_r.push_back(ag_r_[a]);
    sn.agent_c.push_back(ag_c_[a]);
    sn.agent_orientation.push_back(ag_orient_[a]);
    sn.agent_group.push_back(ag_group_[a]);
    sn.agent_frozen.push_back(ag_frozen_[a]);
    sn.agent_color.push_back(ag_color_[a]);
    sn.agent_glyph.push_back(ag_glyph_[a]);
    sn.agent_last_action.push_back(ag_last_action_[a]);
    sn.agent_last_action_success.push_back(ag_last_success_[a]);
    sn.agent_reward.push_back(ag_last_reward_[a]);
    sn.agent_return.push_back(ag_return_[a]);
  }
  sn.agent_inventory.assign(ag_inv_.begin(), ag_inv_.begin() + static_cast<ptrdiff_t>(num_agents_) * num_items_);
  for (size_t o = 0; o < obj_type_.size(); ++o) {
    sn.obj_type.push_back(obj_type_[o]);
    sn.obj_r.push_back(obj_r_[o]);
    sn.obj_c.push_back(obj_c_[o]);
    sn.obj_converting.push_back(obj_state_[o] != kIdle);
  }
  sn.obj_inventory.assign(obj_inv_.begin(), obj_inv_.begin() + static_cast<ptrdiff_t>(obj_type_.size()) * num_items_);
  return sn;
}

}  // namespace mettagrid
