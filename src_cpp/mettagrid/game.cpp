#include "mettagrid/game.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

namespace mettagrid {
namespace {

// Orientation deltas: 0 up, 1 down, 2 left, 3 right.
constexpr int kDR[4] = {-1, 1, 0, 0};
constexpr int kDC[4] = {0, 0, -1, 1};
constexpr uint64_t kMapStream = 0x6d6170;  // "map"

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
  for (const ObsOffset& off : spec_->offsets) window_offsets_.push_back(off.dr * width_ + off.dc);
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
      const int v = g.initial_inventory[i];
      ag_inv_[a * num_items_ + i] = static_cast<uint8_t>(v);
      // The starting inventory is the baseline: only changes to it earn reward.
      ag_inv_contrib_[a * num_items_ + i] = std::min(g.inventory_reward[i] * static_cast<float>(v), g.inventory_reward_max[i]);
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
    // The item's contribution is a function of what is held, capped per item.
    const float contrib = std::min(per_unit * static_cast<float>(next), g.inventory_reward_max[item]);
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

// ---------------------------------------------------------------- actions

bool Game::front_cell(int agent, int dir, int dist, int* r, int* c) const {
  *r = ag_r_[agent] + kDR[dir] * dist;
  *c = ag_c_[agent] + kDC[dir] * dist;
  return static_cast<unsigned>(*r) < static_cast<unsigned>(height_) && static_cast<unsigned>(*c) < static_cast<unsigned>(width_);
}

bool Game::do_move(int agent, int dir) {
  int r, c;
  if (!front_cell(agent, dir, 1, &r, &c)) return false;
  Cell& to = at(r, c);
  if (to.agent >= 0 || to.obj >= 0) return false;
  Cell& from = at(ag_r_[agent], ag_c_[agent]);
  from.agent = -1;
  occupied_at(ag_r_[agent], ag_c_[agent]) = 0;
  to.agent = agent;
  occupied_at(r, c) = 1;
  ag_r_[agent] = r;
  ag_c_[agent] = c;
  return true;
}

bool Game::do_attack(int agent, int action) {
  const int k = spec_->s.actions[action].arg;
  const int o = ag_orient_[agent];
  const int fr = kDR[o], fc = kDC[o];
  const int lr = -fc, lc = fr;  // the attacker's left
  int found[9];
  int n = 0;
  for (int d = 1; d <= 3; ++d) {
    for (int side : {0, 1, -1}) {  // centre, left, right
      const int r = ag_r_[agent] + fr * d + lr * side, c = ag_c_[agent] + fc * d + lc * side;
      if (static_cast<unsigned>(r) >= static_cast<unsigned>(height_) || static_cast<unsigned>(c) >= static_cast<unsigned>(width_)) {
        continue;
      }
      const int32_t other = at(r, c).agent;
      if (other >= 0) found[n++] = other;
    }
  }
  if (n == 0) return false;
  const int target = found[std::min(k, n - 1)];
  for (const auto& ia : spec_->action_consumed[action]) add_agent_item(agent, ia.item, -ia.amount);

  double* ast = &ag_stats_[static_cast<size_t>(agent) * num_stats_];
  double* tst = &ag_stats_[static_cast<size_t>(target) * num_stats_];
  const auto& tg = spec_->s.groups[ag_group_[target]];
  const auto& defense = spec_->group_defense[ag_group_[target]];
  bool defended = !defense.empty();
  for (const auto& ia : defense) defended = defended && ag_inv_[target * num_items_ + ia.item] >= ia.amount;
  if (defended) {
    for (const auto& ia : defense) add_agent_item(target, ia.item, -ia.amount);
    ast[spec_->st_attack_blocked] += 1;
    tst[spec_->st_defended] += 1;
    return true;
  }
  const bool was_frozen = ag_frozen_[target] > 0;
  ag_frozen_[target] = tg.freeze_duration;
  ast[spec_->st_attack_hit] += 1;
  if (ag_group_[target] == ag_group_[agent]) ast[spec_->st_attack_own_group] += 1;
  tst[spec_->st_frozen] += 1;
  if (!was_frozen) {
    for (int i = 0; i < num_items_; ++i) {
      const int held = ag_inv_[target * num_items_ + i];
      if (held == 0) continue;
      const int taken = add_agent_item(agent, i, held);
      if (taken == 0) continue;
      add_agent_item(target, i, -taken);
      ast[spec_->st_item + 3 * i + 2] += taken;
    }
  }
  return true;
}

bool Game::do_put(int agent) {
  int r, c;
  if (!front_cell(agent, ag_orient_[agent], 1, &r, &c)) return false;
  const int obj = at(r, c).obj;
  if (obj < 0) return false;
  const int t = obj_type_[obj];
  if (!spec_->s.object_types[t].is_converter) return false;
  int moved_total = 0;
  for (const auto& in : spec_->type_inputs[t]) {
    const int needed = in.amount - obj_inv_[static_cast<size_t>(obj) * num_items_ + in.item];
    if (needed <= 0) continue;
    const int moved = -add_agent_item(agent, in.item, -needed);
    add_obj_item(obj, in.item, moved);
    moved_total += moved;
  }
  if (moved_total == 0) return false;
  converter_try_start(obj);
  return true;
}

bool Game::do_get(int agent) {
  int r, c;
  if (!front_cell(agent, ag_orient_[agent], 1, &r, &c)) return false;
  const int obj = at(r, c).obj;
  if (obj < 0) return false;
  const int t = obj_type_[obj];
  if (!spec_->s.object_types[t].is_converter) return false;
  int taken_total = 0;
  for (const auto& out : spec_->type_outputs[t]) {
    const int held = obj_inv_[static_cast<size_t>(obj) * num_items_ + out.item];
    if (held == 0) continue;
    const int taken = add_agent_item(agent, out.item, held);
    add_obj_item(obj, out.item, -taken);
    taken_total += taken;
  }
  if (taken_total == 0) return false;
  converter_try_start(obj);
  return true;
}

bool Game::do_swap(int agent) {
  int r, c;
  if (!front_cell(agent, ag_orient_[agent], 1, &r, &c)) return false;
  Cell& to = at(r, c);
  Cell& from = at(ag_r_[agent], ag_c_[agent]);
  if (to.agent >= 0) {
    const int other = to.agent;
    if (ag_frozen_[other] <= 0) return false;
    std::swap(to.agent, from.agent);
    ag_r_[other] = ag_r_[agent];
    ag_c_[other] = ag_c_[agent];
  } else if (to.obj >= 0 && spec_->s.object_types[obj_type_[to.obj]].swappable && from.obj < 0) {
    const int obj = to.obj;
    from.obj = obj;
    to.obj = -1;
    from.agent = -1;
    to.agent = agent;
    obj_r_[obj] = ag_r_[agent];
    obj_c_[obj] = ag_c_[agent];
  } else {
    return false;
  }
  ag_r_[agent] = r;
  ag_c_[agent] = c;
  return true;
}

bool Game::act(int agent, int action) {
  const int base = static_cast<int>(static_cast<size_t>(agent) * num_items_);
  for (const auto& ia : spec_->action_required[action]) {
    if (ag_inv_[base + ia.item] < ia.amount) return false;
  }
  const ActionSpec& a = spec_->s.actions[action];
  bool ok = true;
  switch (a.kind) {
    case kNoop:
      break;
    case kMove:
      ok = do_move(agent, a.arg == 0 ? ag_orient_[agent] : (ag_orient_[agent] ^ 1));
      break;
    case kRotate:
      ag_orient_[agent] = static_cast<uint8_t>(a.arg);
      break;
    case kMoveCardinal:
      ag_orient_[agent] = static_cast<uint8_t>(a.arg);
      ok = do_move(agent, a.arg);
      break;
    case kPutItems:
      ok = do_put(agent);
      break;
    case kGetItems:
      ok = do_get(agent);
      break;
    case kAttack:
      return do_attack(agent, action);  // spends its own resources once a target is found
    case kSwap:
      ok = do_swap(agent);
      break;
    case kChangeColor:
      ag_color_[agent] = static_cast<uint8_t>((ag_color_[agent] + a.arg) & 0xFF);
      break;
    case kChangeGlyph:
      ag_glyph_[agent] = static_cast<uint8_t>(a.arg);
      break;
    default:
      ok = false;
  }
  if (ok) {
    for (const auto& ia : spec_->action_consumed[action]) add_agent_item(agent, ia.item, -ia.amount);
  }
  return ok;
}

// ---------------------------------------------------------------- the step

void Game::step(const int32_t* actions) {
  const auto& s = spec_->s;
  ended_ = false;
  std::fill(ag_reward_.begin(), ag_reward_.end(), 0.f);
  ++step_;
  run_events();
  rng_.shuffle(order_.data(), static_cast<uint32_t>(num_agents_));

  // Attacks resolve before every other action, both in the shuffled order.
  for (int phase = 0; phase < 2; ++phase) {
    for (int idx = 0; idx < num_agents_; ++idx) {
      const int agent = order_[idx];
      const int action = actions[agent];
      const bool is_attack = s.actions[action].kind == kAttack;
      if (is_attack != (phase == 0)) continue;
      double* st = &ag_stats_[static_cast<size_t>(agent) * num_stats_];
      if (ag_frozen_[agent] > 0) {  // fails without penalty
        st[spec_->st_frozen_steps] += 1;
        ag_last_action_[agent] = action;
        ag_last_success_[agent] = 0;
        continue;
      }
      ag_last_action_[agent] = action;
      const bool ok = act(agent, action);
      ag_last_success_[agent] = ok ? 1 : 0;
      if (ok) {
        st[spec_->st_action_success + 2 * action] += 1;
      } else {
        st[spec_->st_action_success + 2 * action + 1] += 1;
        const float penalty = s.groups[ag_group_[agent]].action_failure_penalty;
        if (penalty != 0.f) {
          ag_reward_[agent] -= penalty;
          st[spec_->st_failure_penalty] += penalty;
        }
      }
    }
  }
  for (int a = 0; a < num_agents_; ++a) {
    if (ag_frozen_[a] > 0) --ag_frozen_[a];
  }

  finish_rewards();

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
  write_observations(buf_.observations);
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
  const int oh = s.obs_height, npr = spec_->nibbles_per_row;
  const uint8_t* occ = occupied_.data() +
                       static_cast<size_t>(ag_r_[agent] + kPad - oh / 2) * stride_ + (ag_c_[agent] + kPad - s.obs_width / 2);
  const uint64_t* __restrict table = spec_->window_nibbles.data();
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
  constexpr uint8_t kGlobal = 0xFE;
  if (s.global_episode_completion) {
    const long pct = episode_max_steps_ > 0 ? (255L * step_ + episode_max_steps_ / 2) / episode_max_steps_ : 0;
    emit(kGlobal, kFeatEpisodeCompletion, clamp_u8(pct));
  }
  if (s.global_last_action) emit(kGlobal, kFeatLastAction, clamp_u8(ag_last_action_[agent]));
  if (s.global_last_reward) emit(kGlobal, kFeatLastReward, clamp_u8(std::lround(ag_last_reward_[agent] * 100.f)));

  // Pass 1: which window cells are occupied, in observation order.
  uint64_t mask[4] = {0, 0, 0, 0};
  if (spec_->mask_words == 2) occupancy_mask<2>(agent, mask); else occupancy_mask<4>(agent, mask);

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
  const uint8_t* __restrict group_id = spec_->group_ids.data();
  const TypeView* __restrict types = spec_->type_views.data();
  const ObsOffset* __restrict offsets = spec_->offsets.data();

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
  if (p != end) std::memset(p, 0xFF, static_cast<size_t>(end - p));
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
  for (const ObsOffset& off : spec_->offsets) {
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
