// The game description handed over from Python (GameSpec) and its compiled, validated form.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mettagrid/constants.hpp"
#include "mettagrid/observations.hpp"

namespace mettagrid {

struct ObjectTypeSpec {
  std::string name;
  int type_id = 0;
  bool is_converter = false;
  bool swappable = false;
  std::vector<int> input;   // per item
  std::vector<int> output;  // per item
  int conversion_ticks = 1;
  int cooldown = 0;
  int max_output = -1;
  int initial_resource_count = 0;
  int color = 0;
};

struct GroupSpec {
  std::string name;
  int id = 0;
  float reward_pct = 0.f;
  std::vector<int> resource_limits;     // per item
  std::vector<int> initial_inventory;   // per item
  std::vector<float> inventory_reward;  // per item, per unit held
  std::vector<float> inventory_reward_max;  // per item, cap on the item's contribution
  std::vector<int> stat_reward_ids;     // agent stat index
  std::vector<float> stat_reward_weights;
  std::vector<float> stat_reward_max;
  int freeze_duration = 10;
  std::vector<int> defense_resources;   // per item
  float action_failure_penalty = 0.f;
};

struct ActionSpec {
  std::string name;
  int kind = kNoop;  // an ActionKind
  int arg = 0;
  std::vector<int> required;  // per item (held to act)
  std::vector<int> consumed;  // per item (spent on success)
};

struct MapNodeSpec {
  int kind = kMapAscii;  // a MapKind
  int width = 0;
  int height = 0;
  std::vector<int> cells;          // ascii: height*width cell codes (see kEmptyCell)
  int border = 1;                  // random: wall border width
  std::vector<int> object_counts;  // random/maze: per object type
  std::vector<int> agent_counts;   // random/maze: per group
  int algorithm = kMazeAlgorithmPrim;  // maze: a MazeAlgorithm
  int rows = 1;                    // room grid
  int cols = 1;
  int spacing = 1;                 // room grid: wall thickness between and around rooms
  std::vector<int> children;       // room grid: node indices, one for all rooms or one per room
};

struct GameSpec {
  int num_agents = 1;
  int max_steps = 1000;
  bool episode_truncates = true;
  bool desync_episodes = false;
  int obs_width = 11;
  int obs_height = 11;
  int num_tokens = 200;
  bool grid_obs = false;
  bool global_episode_completion = true;
  bool global_last_action = true;
  bool global_last_reward = true;
  std::vector<std::string> items;
  std::vector<ObjectTypeSpec> object_types;
  std::vector<GroupSpec> groups;
  std::vector<ActionSpec> actions;
  std::vector<MapNodeSpec> map_nodes;
  int map_root = 0;
  int wall_type = -1;  // object type index used for borders and maze walls
};

struct ItemAmount {
  int32_t item;
  int32_t amount;
};

// Names of the per-agent stats, in index order (depends only on items and action names).
std::vector<std::string> agent_stat_names(const std::vector<std::string>& items,
                                          const std::vector<std::string>& action_names);

// A validated GameSpec plus the tables the step loop uses.
struct CompiledSpec {
  explicit CompiledSpec(GameSpec spec);

  GameSpec s;
  int num_items = 0;
  int num_actions = 0;
  int num_features = 0;  // grid mode planes
  ObservationTables obs;
  std::vector<std::vector<ItemAmount>> action_required;  // max(required, consumed)
  std::vector<std::vector<ItemAmount>> action_consumed;
  std::vector<std::vector<ItemAmount>> type_inputs;
  std::vector<std::vector<ItemAmount>> type_outputs;
  std::vector<std::vector<ItemAmount>> group_defense;

  std::vector<std::string> agent_stats;
  std::vector<std::string> game_stats;
  // agent stat indices
  int st_action_success = 0;  // + 2 * action
  int st_item = 0;            // + 3 * item: gained, lost, stolen
  int st_attack_hit = 0, st_attack_blocked = 0, st_attack_own_group = 0, st_frozen = 0, st_defended = 0,
      st_frozen_steps = 0, st_failure_penalty = 0, st_reward = 0;
  // game stat indices
  int gs_tokens_written = 0, gs_tokens_dropped = 0, gs_steps = 0;
  std::vector<int> gs_type_base;  // per object type: started, completed, then produced/consumed per recipe item (-1 if none)
  std::vector<std::vector<int>> gs_produced;  // [type][item] -> index or -1
  std::vector<std::vector<int>> gs_consumed;
};

// Throws std::invalid_argument naming the first field in which `next` cannot replace `current` inside one
// vectorized env: num_agents, the actions (number and names), the items, or the observation shape.
void check_compatible(const CompiledSpec& current, const CompiledSpec& next);

}  // namespace mettagrid
