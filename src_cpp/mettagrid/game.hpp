// One game: grid, objects, agents and the step that advances them. The Game's members are defined by phase:
// game.cpp (lifecycle, the step, inventories, converters, rewards), actions.cpp, observations.cpp (and the snapshot).
#pragma once
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "mettagrid/maps.hpp"
#include "mettagrid/rng.hpp"
#include "mettagrid/spec.hpp"

namespace mettagrid {

// Where one game writes its results: rows of the caller's buffers.
struct GameBuffers {
  uint8_t* observations = nullptr;  // num_agents * obs_size bytes
  float* rewards = nullptr;
  bool* terminals = nullptr;
  bool* truncations = nullptr;
  uint8_t* final_observations = nullptr;  // optional: an ended episode's last observations go here
};

// What a finished episode leaves behind for the caller.
struct EpisodeRecord {
  int length = 0;
  uint64_t seed = 0;
  std::vector<float> returns;         // per agent, before group sharing
  std::vector<double> agent_stats;    // num_agents * num_agent_stats
  std::vector<double> game_stats;
  std::vector<uint8_t> groups;        // per agent: its group index in that episode
  std::shared_ptr<const CompiledSpec> spec;  // the spec that produced it (names of its game stats)
};

// A read-only picture of the grid, for rendering and replays.
struct Snapshot {
  int height = 0, width = 0, step = 0, max_steps = 0;
  // agents (in agent id order)
  std::vector<int32_t> agent_r, agent_c, agent_orientation, agent_group, agent_frozen, agent_color, agent_glyph,
      agent_last_action, agent_last_action_success;
  std::vector<uint8_t> agent_inventory;  // num_agents * num_items
  std::vector<float> agent_reward, agent_return;
  // objects (walls, converters, blocks)
  std::vector<int32_t> obj_type, obj_r, obj_c, obj_converting;
  std::vector<uint8_t> obj_inventory;  // num_objects * num_items
};

class Game {
 public:
  explicit Game(std::shared_ptr<const CompiledSpec> spec);

  void set_buffers(const GameBuffers& buf) { buf_ = buf; }
  // Starts a new seed stream and its first episode; writes observations.
  void reset(uint64_t seed);
  // Advances one step. `actions` holds num_agents validated action indices.
  // A finished episode is recorded and the next one started in the same call.
  void step(const int32_t* actions);
  // Gives the game a spec for its next episode (whether started by reset() or by the auto-reset at the end of
  // an episode); it stays in use after that. Throws std::invalid_argument when it is not compatible with the
  // current spec (see check_compatible). A later call before that episode starts replaces it.
  void set_next_spec(std::shared_ptr<const CompiledSpec> spec);
  bool has_next_spec() const { return next_spec_ != nullptr; }

  bool episode_ended() const { return ended_; }
  const EpisodeRecord& last_episode() const { return record_; }
  Snapshot snapshot() const;
  const CompiledSpec& spec() const { return *spec_; }
  int current_step() const { return step_; }
  int episode_max_steps() const { return episode_max_steps_; }
  uint64_t episode_seed() const { return episode_seed_; }
  const std::vector<double>& agent_stats() const { return ag_stats_; }
  const std::vector<double>& game_stats() const { return game_stats_; }

 private:
  struct Cell {
    int32_t agent;
    int32_t obj;
  };
  enum ConverterState : uint8_t { kIdle = 0, kConverting = 1, kCooling = 2 };

  // ---- lifecycle, the step's phases, inventories, converters, rewards (game.cpp)
  void apply_spec(std::shared_ptr<const CompiledSpec> spec);
  void start_episode(uint64_t episode_seed, bool first);
  void load_map(const MapGrid& map);
  void run_events();            // converter conversions and cooldowns due at this step
  void count_down_frozen();
  void finish_rewards();        // stat rewards, returns, group sharing
  void end_episode_if_over();   // done flags; an ended episode is recorded and the next one started
  void record_episode();
  int add_agent_item(int agent, int item, int delta);  // returns the applied delta; pays inventory rewards
  int add_obj_item(int obj, int item, int delta);      // returns the applied delta
  void converter_try_start(int obj);
  void schedule(int obj, int at_step);

  // ---- actions (actions.cpp)
  void resolve_actions(const int32_t* actions);  // attacks, then every other action, in the shuffled order
  bool act(int agent, int action);  // returns success
  bool do_move(int agent, int dir);
  bool do_put(int agent);
  bool do_get(int agent);
  bool do_attack(int agent, int action);
  bool do_swap(int agent);
  // The cell `dist` steps from the agent along `dir`; false when it is off the map.
  bool front_cell(int agent, int dir, int dist, int* r, int* c) const;
  // The converter in the cell the agent faces, or -1 when there is none.
  int converter_in_front(int agent) const;

  // ---- observations (observations.cpp)
  void write_observations(uint8_t* dest);
  void write_tokens(int agent, uint8_t* out);
  template <int W>
  void occupancy_mask(int agent, uint64_t* mask) const;
  void write_grid(int agent, uint8_t* out);

  Cell& at(int r, int c) { return grid_[static_cast<size_t>(r) * width_ + c]; }
  const Cell& at(int r, int c) const { return grid_[static_cast<size_t>(r) * width_ + c]; }
  uint8_t& occupied_at(int r, int c) { return occupied_[static_cast<size_t>(r + kPad) * stride_ + (c + kPad)]; }

  std::shared_ptr<const CompiledSpec> spec_;
  std::shared_ptr<const CompiledSpec> next_spec_;  // applied when the next episode starts
  GameBuffers buf_;
  int num_agents_;
  int num_items_;
  int num_stats_;

  // Episode
  Rng seed_stream_;
  Rng rng_;
  uint64_t episode_seed_ = 0;
  int step_ = 0;
  int episode_max_steps_ = 0;
  bool ended_ = false;
  EpisodeRecord record_;

  // Grid: both layers of every cell, row-major. Observations find occupied cells through `occupied_`, a
  // byte per cell padded by kPad empty cells on every side (row stride `stride_`), so windows never leave it.
  static constexpr int kPad = 7;
  int height_ = 0, width_ = 0, stride_ = 0;
  std::vector<Cell> grid_;
  std::vector<int32_t> window_offsets_;  // per observation offset: its index delta in grid_
  std::vector<uint8_t> occupied_;        // 1 where a cell holds an agent or an object

  // Objects
  std::vector<uint8_t> obj_type_;
  std::vector<int32_t> obj_r_, obj_c_;
  std::vector<uint8_t> obj_inv_;
  std::vector<uint8_t> obj_state_;
  std::vector<std::pair<int32_t, int32_t>> events_;  // min-heap of (step, object)

  // Agents (structure of arrays, indexed by agent id)
  std::vector<int32_t> ag_r_, ag_c_, ag_frozen_, ag_last_action_;
  std::vector<uint8_t> ag_orient_, ag_group_, ag_color_, ag_glyph_;
  std::vector<uint8_t> ag_last_success_;  // 1 when the agent's last action succeeded
  std::vector<uint8_t> ag_inv_;
  std::vector<float> ag_inv_contrib_;   // current inventory-reward contribution per item
  std::vector<float> ag_stat_contrib_;  // current stat-reward contribution per stat reward
  std::vector<float> ag_reward_;        // this step's reward before sharing
  std::vector<float> ag_last_reward_;   // last reward received (after sharing)
  std::vector<float> ag_return_;
  std::vector<double> ag_stats_;
  std::vector<int32_t> order_;
  std::vector<int32_t> group_size_;
  std::vector<float> group_pool_;

  std::vector<double> game_stats_;
};

}  // namespace mettagrid
