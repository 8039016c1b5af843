#include "mettagrid/spec.hpp"

#include <algorithm>
#include <stdexcept>

namespace mettagrid {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

void check_range(const std::string& field, long value, long lo, long hi) {
  if (value < lo || value > hi) {
    fail(field + " = " + std::to_string(value) + " is out of range [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "]");
  }
}

template <typename T>
void check_size(const std::string& field, const std::vector<T>& v, size_t n) {
  if (v.size() != n) {
    fail(field + " has " + std::to_string(v.size()) + " entries, expected " + std::to_string(n));
  }
}

std::vector<ItemAmount> sparse(const std::string& field, const std::vector<int>& dense, int num_items) {
  check_size(field, dense, static_cast<size_t>(num_items));
  std::vector<ItemAmount> out;
  for (int i = 0; i < num_items; ++i) {
    check_range(field + "[" + std::to_string(i) + "]", dense[i], 0, 255);
    if (dense[i] > 0) out.push_back({i, dense[i]});
  }
  return out;
}

}  // namespace

std::vector<std::string> agent_stat_names(const std::vector<std::string>& items,
                                          const std::vector<std::string>& action_names) {
  std::vector<std::string> names;
  for (const auto& a : action_names) {
    names.push_back("action." + a + ".success");
    names.push_back("action." + a + ".failed");
  }
  for (const auto& it : items) {
    names.push_back(it + ".gained");
    names.push_back(it + ".lost");
    names.push_back(it + ".stolen");
  }
  for (const char* n : {"attack.hit", "attack.blocked", "attack.own_group", "frozen", "defended", "frozen_steps",
                        "action.failure_penalty", "reward"}) {
    names.emplace_back(n);
  }
  return names;
}

CompiledSpec::CompiledSpec(GameSpec spec) : s(std::move(spec)) {
  num_items = static_cast<int>(s.items.size());
  num_actions = static_cast<int>(s.actions.size());
  check_range("num_agents", s.num_agents, 1, 1 << 20);
  check_range("max_steps", s.max_steps, 0, 1 << 30);
  check_range("num_items", num_items, 0, kMaxItems);
  check_range("obs_width", s.obs_width, 3, 15);
  check_range("obs_height", s.obs_height, 3, 15);
  if (s.obs_width % 2 == 0 || s.obs_height % 2 == 0) fail("obs_width and obs_height must be odd");
  check_range("num_observation_tokens", s.num_tokens, 1, 1 << 16);
  check_range("num_actions", num_actions, 1, 255);
  if (s.actions[0].kind != kNoop) fail("action 0 must be noop");
  if (s.groups.empty()) fail("at least one group is required");
  const int num_types = static_cast<int>(s.object_types.size());
  check_range("wall_type", s.wall_type, -1, num_types - 1);
  num_features = kFirstInventoryFeature + num_items;

  std::vector<std::string> action_names;
  for (int a = 0; a < num_actions; ++a) {
    const auto& act = s.actions[a];
    const std::string f = "actions[" + act.name + "]";
    check_range(f + ".kind", act.kind, 0, kNumActionKinds - 1);
    auto req = sparse(f + ".required_resources", act.required, num_items);
    auto con = sparse(f + ".consumed_resources", act.consumed, num_items);
    // To act, an agent must hold what the action requires and what it would consume.
    std::vector<int> need(act.required);
    for (const auto& c : con) need[c.item] = std::max(need[c.item], c.amount);
    action_required.push_back(sparse(f, need, num_items));
    action_consumed.push_back(std::move(con));
    action_names.push_back(act.name);
    if (act.kind == kRotate || act.kind == kMoveCardinal) check_range(f + ".arg", act.arg, 0, 3);
    if (act.kind == kMove) check_range(f + ".arg", act.arg, 0, 1);
    if (act.kind == kAttack) check_range(f + ".arg", act.arg, 0, 8);
    if (act.kind == kChangeGlyph) check_range(f + ".arg", act.arg, 0, 255);
  }

  for (int t = 0; t < num_types; ++t) {
    const auto& ot = s.object_types[t];
    const std::string f = "objects[" + ot.name + "]";
    check_range(f + ".type_id", ot.type_id, 0, 255);
    check_range(f + ".color", ot.color, 0, 255);
    check_range(f + ".conversion_ticks", ot.conversion_ticks, 1, 1 << 20);
    check_range(f + ".cooldown", ot.cooldown, 0, 1 << 20);
    check_range(f + ".max_output", ot.max_output, -1, 255);
    check_range(f + ".initial_resource_count", ot.initial_resource_count, 0, 255);
    if (ot.is_converter) {
      type_inputs.push_back(sparse(f + ".input_resources", ot.input, num_items));
      type_outputs.push_back(sparse(f + ".output_resources", ot.output, num_items));
    } else {
      type_inputs.emplace_back();
      type_outputs.emplace_back();
    }
  }

  for (size_t g = 0; g < s.groups.size(); ++g) {
    const auto& gs = s.groups[g];
    const std::string f = "groups[" + gs.name + "]";
    check_range(f + ".id", gs.id, 0, 255);
    if (!(gs.reward_pct >= 0.f && gs.reward_pct <= 1.f)) fail(f + ".group_reward_pct must be in [0, 1]");
    check_size(f + ".resource_limits", gs.resource_limits, num_items);
    check_size(f + ".initial_inventory", gs.initial_inventory, num_items);
    check_size(f + ".inventory_reward", gs.inventory_reward, num_items);
    check_size(f + ".inventory_reward_max", gs.inventory_reward_max, num_items);
    for (int i = 0; i < num_items; ++i) {
      check_range(f + ".resource_limits[" + s.items[i] + "]", gs.resource_limits[i], 0, 255);
      check_range(f + ".initial_inventory[" + s.items[i] + "]", gs.initial_inventory[i], 0, gs.resource_limits[i]);
    }
    check_range(f + ".freeze_duration", gs.freeze_duration, 0, 1 << 20);
    group_defense.push_back(sparse(f + ".defense_resources", gs.defense_resources, num_items));
    if (gs.stat_reward_ids.size() != gs.stat_reward_weights.size() ||
        gs.stat_reward_ids.size() != gs.stat_reward_max.size()) {
      fail(f + ".stat rewards: ids, weights and caps differ in length");
    }
  }

  obs = build_observation_tables(s);

  agent_stats = agent_stat_names(s.items, action_names);
  st_action_success = 0;
  st_item = 2 * num_actions;
  st_attack_hit = st_item + 3 * num_items;
  st_attack_blocked = st_attack_hit + 1;
  st_attack_own_group = st_attack_hit + 2;
  st_frozen = st_attack_hit + 3;
  st_defended = st_attack_hit + 4;
  st_frozen_steps = st_attack_hit + 5;
  st_failure_penalty = st_attack_hit + 6;
  st_reward = st_attack_hit + 7;
  for (const auto& gs : s.groups) {
    for (int id : gs.stat_reward_ids) check_range("stat reward id", id, 0, static_cast<int>(agent_stats.size()) - 1);
  }

  game_stats = {"tokens_written", "tokens_dropped", "steps"};
  gs_tokens_written = 0;
  gs_tokens_dropped = 1;
  gs_steps = 2;
  gs_produced.assign(num_types, std::vector<int>(num_items, -1));
  gs_consumed.assign(num_types, std::vector<int>(num_items, -1));
  gs_type_base.assign(num_types, -1);
  for (int t = 0; t < num_types; ++t) {
    if (!s.object_types[t].is_converter) continue;
    const std::string& n = s.object_types[t].name;
    gs_type_base[t] = static_cast<int>(game_stats.size());
    game_stats.push_back(n + ".conversions_started");
    game_stats.push_back(n + ".conversions_completed");
    for (const auto& ia : type_outputs[t]) {
      gs_produced[t][ia.item] = static_cast<int>(game_stats.size());
      game_stats.push_back(n + ".produced." + s.items[ia.item]);
    }
    for (const auto& ia : type_inputs[t]) {
      gs_consumed[t][ia.item] = static_cast<int>(game_stats.size());
      game_stats.push_back(n + ".consumed." + s.items[ia.item]);
    }
  }

  // Map nodes.
  check_range("map_root", s.map_root, 0, static_cast<int>(s.map_nodes.size()) - 1);
  for (size_t n = 0; n < s.map_nodes.size(); ++n) {
    const auto& m = s.map_nodes[n];
    const std::string f = "map[" + std::to_string(n) + "]";
    check_range(f + ".width", m.width, 1, kMaxMapSide);
    check_range(f + ".height", m.height, 1, kMaxMapSide);
    if (m.kind == kMapAscii) {
      check_size(f + ".cells", m.cells, static_cast<size_t>(m.width) * m.height);
      for (int code : m.cells) {
        const bool ok = code == kEmptyCell || (code >= 0 && code < num_types) ||
                        (code >= kAgentCellBase && code < kAgentCellBase + static_cast<int>(s.groups.size()));
        if (!ok) fail(f + ".cells holds an unknown code " + std::to_string(code));
      }
    } else if (m.kind == kMapRandom || m.kind == kMapMaze) {
      if (m.kind == kMapMaze) check_range(f + ".algorithm", m.algorithm, kMazeAlgorithmPrim, kMazeAlgorithmKruskal);
      check_size(f + ".object_counts", m.object_counts, static_cast<size_t>(num_types));
      check_size(f + ".agent_counts", m.agent_counts, s.groups.size());
      for (int c : m.object_counts) check_range(f + ".object_counts", c, 0, 1 << 20);
      for (int c : m.agent_counts) check_range(f + ".agent_counts", c, 0, 1 << 20);
      check_range(f + ".border", m.border, 0, 64);
      if (s.wall_type < 0) fail(f + ": generated maps need a 'wall' object type");
    } else if (m.kind == kMapRoomGrid) {
      check_range(f + ".rows", m.rows, 1, 64);
      check_range(f + ".cols", m.cols, 1, 64);
      check_range(f + ".spacing", m.spacing, 0, 64);
      if (m.children.size() != 1 && m.children.size() != static_cast<size_t>(m.rows) * m.cols) {
        fail(f + ".children must hold 1 or rows*cols nodes");
      }
      for (int ch : m.children) check_range(f + ".children", ch, static_cast<int>(n) + 1, static_cast<int>(s.map_nodes.size()) - 1);
      if (s.wall_type < 0) fail(f + ": room grids need a 'wall' object type");
    } else {
      fail(f + ".kind is unknown");
    }
  }
}

void check_compatible(const CompiledSpec& current, const CompiledSpec& next) {
  const GameSpec& a = current.s;
  const GameSpec& b = next.s;
  auto mismatch = [](const std::string& field, const std::string& was, const std::string& got) {
    fail("incompatible game config: " + field + " = " + got + ", but this env has " + field + " = " + was +
         " (num_agents, actions, inventory items and the observation shape must stay the same)");
  };
  auto num = [](long v) { return std::to_string(v); };
  if (a.num_agents != b.num_agents) mismatch("num_agents", num(a.num_agents), num(b.num_agents));
  if (current.num_actions != next.num_actions) {
    mismatch("number of actions", num(current.num_actions), num(next.num_actions));
  }
  for (int i = 0; i < current.num_actions; ++i) {
    if (a.actions[i].name != b.actions[i].name) {
      mismatch("action " + num(i), "'" + a.actions[i].name + "'", "'" + b.actions[i].name + "'");
    }
  }
  if (a.items != b.items) {
    auto join = [](const std::vector<std::string>& v) {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
      return out + "]";
    };
    mismatch("inventory_item_names", join(a.items), join(b.items));
  }
  if (a.grid_obs != b.grid_obs) mismatch("obs_mode", a.grid_obs ? "grid" : "tokens", b.grid_obs ? "grid" : "tokens");
  if (a.obs_width != b.obs_width) mismatch("obs_width", num(a.obs_width), num(b.obs_width));
  if (a.obs_height != b.obs_height) mismatch("obs_height", num(a.obs_height), num(b.obs_height));
  if (!a.grid_obs && a.num_tokens != b.num_tokens) {
    mismatch("num_observation_tokens", num(a.num_tokens), num(b.num_tokens));
  }
}

}  // namespace mettagrid
