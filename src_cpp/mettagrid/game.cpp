// The Game's lifecycle (construction, specs, reset, episode start), the step and its phases, inventories,
// converters and rewards. Actions are in actions.cpp; observations and the snapshot in observations.cpp.
#include "mettagrid/game.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

namespace mettagrid {
namespace {

constexpr uint64_t kMapStream = 0x6d6170;  // "map"

}  // namespace

Game::Game(std::shared_ptr<const CompiledSpec> spec)
    : spec_(std::move(spec)),
      num_agents_(spec_->s.num_agents),
      num_items_(spec_->num_items),
      num_stats_(static_cast<int>(spec_->agent_stats.size())) {
  const size_t n = static_cast<size_t>(num_agents_);
  ag_r_.resize(n);
  ag_c_.resize(n);
  ag_frozen_.resize(n);
  ag_last_action_.resize(n);
  ag_last_success_.resize(n);
  ag_orient_.resize(n);
  ag_group_.resize(n);
  ag_color_.resize(n);
  ag_glyph_.resize(n);
  ag_inv_.resize(n * num_items_ + 8);  // slack for 8-byte inventory reads
  ag_inv_contrib_.resize(n * num_items_);
  ag_reward_.resize(n);
  ag_last_reward_.resize(n);
  ag_return_.resize(n);
  ag_stats_.resize(n * num_stats_);
  order_.resize(n);
  for (int a = 0; a < num_agents_; ++a) order_[a] = a;
  apply_spec(spec_);
}

void Game::set_next_spec(std::shared_ptr<const CompiledSpec> spec) {
  if (!spec) throw std::invalid_argument("set_next_spec: spec is null");
  check_compatible(*spec_, *spec);
  next_spec_ = std::move(spec);
}

// Sizes the per-episode arrays that depend on the spec (groups, stat rewards, game stats). Runs at episode
// start only when the spec changes; vectors keep their capacity, so switching back and forth stops allocating.
void Game::apply_spec(std::shared_ptr<const CompiledSpec> spec) {
  spec_ = std::move(spec);
  const size_t n = static_cast<size_t>(num_agents_);
  size_t max_stat_rewards = 0;
  for (const auto& g : spec_->s.groups) max_stat_rewards = std::max(max_stat_rewards, g.stat_reward_ids.size());
  ag_stat_contrib_.resize(n * max_stat_rewards);
  group_size_.resize(spec_->s.groups.size());
  group_pool_.resize(spec_->s.groups.size());
  game_stats_.resize(spec_->game_stats.size());
}

void Game::reset(uint64_t seed) {
  seed_stream_.reseed(seed);
  start_episode(seed_stream_.next(), true);
  for (int a = 0; a < num_agents_; ++a) {
    buf_.rewards[a] = 0.f;
    buf_.terminals[a] = false;
    buf_.truncations[a] = false;
  }
  ended_ = false;
  write_observations(buf_.observations);
}

void Game::load_map(const MapGrid& map) {
  height_ = map.height;
  width_ = map.width;
  stride_ = width_ + 2 * kPad;
  grid_.assign(static_cast<size_t>(height_) * width_, Cell{-1, -1});
  window_offsets_.clear();
  for (const ObsOffset& off : spec_->obs.offsets) window_offsets_.push_back(off.dr * width_ + off.dc);
  // Slack at the end: window rows are read 16 bytes at a time.
  occupied_.assign(static_cast<size_t>(height_ + 2 * kPad) * stride_ + 16, 0);
  obj_type_.clear();
  obj_r_.clear();
  obj_c_.clear();
  std::fill(group_size_.begin(), group_size_.end(), 0);
  int agent = 0;
  for (int r = 0; r < height_; ++r) {
    for (int c = 0; c < width_; ++c) {
      const int32_t code = map.cells[static_cast<size_t>(r) * width_ + c];
      Cell& cell = at(r, c);
      if (code == kEmptyCell) continue;
      if (code >= kAgentCellBase) {
        if (agent >= num_agents_) break;
        const int g = code - kAgentCellBase;
        ag_r_[agent] = r;
        ag_c_[agent] = c;
        ag_group_[agent] = static_cast<uint8_t>(g);
        group_size_[g]++;
        cell.agent = agent++;
        occupied_at(r, c) = 1;
      } else {
        cell.obj = static_cast<int32_t>(obj_type_.size());
        obj_type_.push_back(static_cast<uint8_t>(code));
        occupied_at(r, c) = 1;
        obj_r_.push_back(r);
        obj_c_.push_back(c);
      }
    }
  }
  int total = 0;
  for (int32_t code : map.cells) total += code >= kAgentCellBase;
  if (total != num_agents_) {
    throw std::invalid_argument("the map holds " + std::to_string(total) + " agents but num_agents is " +
                                std::to_string(num_agents_));
  }
}

void Game::start_episode(uint64_t episode_seed, bool first) {
  if (next_spec_) apply_spec(std::move(next_spec_));
  next_spec_ = nullptr;
  const auto& s = spec_->s;
  const bool desync = first && s.desync_episodes;
  episode_seed_ = episode_seed;
  rng_.reseed(episode_seed);
  load_map(build_map(*spec_, s.map_root, derive_seed(episode_seed, kMapStream)));
  step_ = 0;
  episode_max_steps_ = s.max_steps;
  if (desync && s.max_steps > 0) episode_max_steps_ = 1 + static_cast<int>(rng_.below(static_cast<uint32_t>(s.max_steps)));

  for (int a = 0; a < num_agents_; ++a) {
    const auto& g = s.groups[ag_group_[a]];
    ag_orient_[a] = 0;
    ag_frozen_[a] = 0;
    ag_color_[a] = 0;
    ag_glyph_[a] = 0;
    ag_last_action_[a] = 0;
    ag_last_success_[a] = 0;
    ag_last_reward_[a] = 0.f;
    ag_return_[a] = 0.f;
    ag_reward_[a] = 0.f;
    for (int i = 0; i < num_items_; ++i) {
      ag_inv_[a * num_items_ + i] = static_cast<uint8_t>(g.initial_inventory[i]);
      // The contribution of the starting inventory (nothing earned yet; see add_agent_item).
      ag_inv_contrib_[a * num_items_ + i] = std::min(0.f, g.inventory_reward_max[i]);
    }
    order_[a] = a;
  }
  std::fill(ag_stat_contrib_.begin(), ag_stat_contrib_.end(), 0.f);
  std::fill(ag_stats_.begin(), ag_stats_.end(), 0.0);
  std::fill(game_stats_.begin(), game_stats_.end(), 0.0);

  const size_t num_objects = obj_type_.size();
  obj_inv_.assign(num_objects * num_items_ + 8, 0);  // slack for 8-byte inventory reads
  obj_state_.assign(num_objects, kIdle);
  events_.clear();
  for (size_t o = 0; o < num_objects; ++o) {
    const auto& ot = s.object_types[obj_type_[o]];
    if (!ot.is_converter) continue;
    for (const auto& out : spec_->type_outputs[obj_type_[o]]) {
      obj_inv_[o * num_items_ + out.item] = static_cast<uint8_t>(ot.initial_resource_count);
    }
    converter_try_start(static_cast<int>(o));
  }
}

// ---------------------------------------------------------------- the step

// GAME.md "One step, in order"; the actions phase is in actions.cpp.
void Game::step(const int32_t* actions) {
  ended_ = false;
  std::fill(ag_reward_.begin(), ag_reward_.end(), 0.f);
  ++step_;
  run_events();                                                     // converters: conversions and cooldowns due
  rng_.shuffle(order_.data(), static_cast<uint32_t>(num_agents_));  // this step's agent order
  resolve_actions(actions);                                         // attacks, then every other action
  count_down_frozen();
  finish_rewards();                                                 // stat rewards, returns, group sharing
  end_episode_if_over();                                            // done flags; record and start the next
  write_observations(buf_.observations);
}

void Game::count_down_frozen() {
  for (int a = 0; a < num_agents_; ++a) {
    if (ag_frozen_[a] > 0) --ag_frozen_[a];
  }
}

void Game::finish_rewards() {
  const auto& groups = spec_->s.groups;
  const size_t max_sr = num_agents_ > 0 ? ag_stat_contrib_.size() / num_agents_ : 0;
  bool sharing = false;
  for (int a = 0; a < num_agents_; ++a) {
    const auto& g = groups[ag_group_[a]];
    sharing = sharing || g.reward_pct > 0.f;
    for (size_t k = 0; k < g.stat_reward_ids.size(); ++k) {
      const double value = ag_stats_[static_cast<size_t>(a) * num_stats_ + g.stat_reward_ids[k]];
      const float contrib = std::min(g.stat_reward_weights[k] * static_cast<float>(value), g.stat_reward_max[k]);
      float& prev = ag_stat_contrib_[a * max_sr + k];
      ag_reward_[a] += contrib - prev;
      prev = contrib;
    }
    ag_return_[a] += ag_reward_[a];
  }
  if (!sharing) {
    for (int a = 0; a < num_agents_; ++a) buf_.rewards[a] = ag_reward_[a];
  } else {
    std::fill(group_pool_.begin(), group_pool_.end(), 0.f);
    for (int a = 0; a < num_agents_; ++a) {
      const int g = ag_group_[a];
      const float r = ag_reward_[a];
      const float share = r * groups[g].reward_pct;
      group_pool_[g] += share;
      buf_.rewards[a] = r - share;
    }
    for (int a = 0; a < num_agents_; ++a) {
      const int g = ag_group_[a];
      buf_.rewards[a] += group_pool_[g] / static_cast<float>(group_size_[g]);
    }
  }
  for (int a = 0; a < num_agents_; ++a) ag_last_reward_[a] = buf_.rewards[a];
}

void Game::end_episode_if_over() {
  const auto& s = spec_->s;
  const bool done = episode_max_steps_ > 0 && step_ >= episode_max_steps_;
  const bool trunc = done && s.episode_truncates;
  const bool term = done && !s.episode_truncates;
  for (int a = 0; a < num_agents_; ++a) {
    buf_.terminals[a] = term;
    buf_.truncations[a] = trunc;
  }
  if (done) {
    record_episode();
    // The ended episode's last observations, written after its stats were recorded so they do not count.
    if (buf_.final_observations != nullptr) write_observations(buf_.final_observations);
    start_episode(seed_stream_.next(), false);
    ended_ = true;
  }
}

void Game::record_episode() {
  for (int a = 0; a < num_agents_; ++a) ag_stats_[static_cast<size_t>(a) * num_stats_ + spec_->st_reward] = ag_return_[a];
  game_stats_[spec_->gs_steps] = step_;
  record_.length = step_;
  record_.seed = episode_seed_;
  record_.returns = ag_return_;
  record_.agent_stats = ag_stats_;
  record_.game_stats = game_stats_;
  record_.groups = ag_group_;
  record_.spec = spec_;
}

// ---------------------------------------------------------------- inventories and converters

int Game::add_agent_item(int agent, int item, int delta) {
  const auto& g = spec_->s.groups[ag_group_[agent]];
  uint8_t& slot = ag_inv_[agent * num_items_ + item];
  const int cur = slot;
  const int next = std::min(g.resource_limits[item], std::max(0, cur + delta));
  const int applied = next - cur;
  if (applied == 0) return 0;
  slot = static_cast<uint8_t>(next);
  double* st = &ag_stats_[static_cast<size_t>(agent) * num_stats_ + spec_->st_item + 3 * item];
  if (applied > 0) st[0] += applied; else st[1] -= applied;
  const float per_unit = g.inventory_reward[item];
  if (per_unit != 0.f) {
    // The item's contribution is what the episode earned with it, capped per item: per_unit times the change from
    // the starting inventory, at most <item>_max. The step reward is the change of the contribution.
    const int earned = next - g.initial_inventory[item];
    const float contrib = std::min(per_unit * static_cast<float>(earned), g.inventory_reward_max[item]);
    float& prev = ag_inv_contrib_[agent * num_items_ + item];
    ag_reward_[agent] += contrib - prev;
    prev = contrib;
  }
  return applied;
}

int Game::add_obj_item(int obj, int item, int delta) {
  uint8_t& slot = obj_inv_[static_cast<size_t>(obj) * num_items_ + item];
  const int cur = slot;
  const int next = std::min(255, std::max(0, cur + delta));
  slot = static_cast<uint8_t>(next);
  return next - cur;
}

void Game::schedule(int obj, int at_step) {
  events_.emplace_back(at_step, obj);
  std::push_heap(events_.begin(), events_.end(), std::greater<>());
}

void Game::converter_try_start(int obj) {
  const int t = obj_type_[obj];
  const auto& ot = spec_->s.object_types[t];
  if (!ot.is_converter || obj_state_[obj] != kIdle) return;
  const uint8_t* inv = &obj_inv_[static_cast<size_t>(obj) * num_items_];
  if (ot.max_output >= 0) {
    int held = 0;
    for (const auto& out : spec_->type_outputs[t]) held += inv[out.item];
    if (held >= ot.max_output) return;
  }
  for (const auto& in : spec_->type_inputs[t]) {
    if (inv[in.item] < in.amount) return;
  }
  for (const auto& in : spec_->type_inputs[t]) {
    add_obj_item(obj, in.item, -in.amount);
    game_stats_[spec_->gs_consumed[t][in.item]] += in.amount;
  }
  game_stats_[spec_->gs_type_base[t]] += 1;
  obj_state_[obj] = kConverting;
  schedule(obj, step_ + ot.conversion_ticks);
}

void Game::run_events() {
  while (!events_.empty() && events_.front().first <= step_) {
    std::pop_heap(events_.begin(), events_.end(), std::greater<>());
    const int obj = events_.back().second;
    events_.pop_back();
    const int t = obj_type_[obj];
    const auto& ot = spec_->s.object_types[t];
    if (obj_state_[obj] == kConverting) {
      for (const auto& out : spec_->type_outputs[t]) {
        const int added = add_obj_item(obj, out.item, out.amount);
        game_stats_[spec_->gs_produced[t][out.item]] += added;
      }
      game_stats_[spec_->gs_type_base[t] + 1] += 1;
      if (ot.cooldown > 0) {
        obj_state_[obj] = kCooling;
        schedule(obj, step_ + ot.cooldown);
        continue;
      }
    }
    obj_state_[obj] = kIdle;
    converter_try_start(obj);
  }
}

}  // namespace mettagrid
