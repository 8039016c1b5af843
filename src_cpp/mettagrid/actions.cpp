// The Game's actions: resolving one step's actions, and each action's effect.
#include "mettagrid/game.hpp"

#include <algorithm>
#include <utility>

namespace mettagrid {
namespace {

// Row and column deltas per Orientation (up, down, left, right). `o ^ 1` is the opposite of o.
constexpr int kDR[4] = {-1, 1, 0, 0};
constexpr int kDC[4] = {0, 0, -1, 1};
static_assert(kUp == 0 && kDown == 1 && kLeft == 2 && kRight == 3, "kDR/kDC and `o ^ 1` assume this order");

}  // namespace

// Attacks resolve before every other action, both in the shuffled order. A frozen agent's action fails without
// penalty; any other failure costs its group's action_failure_penalty.
void Game::resolve_actions(const int32_t* actions) {
  const auto& s = spec_->s;
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

bool Game::front_cell(int agent, int dir, int dist, int* r, int* c) const {
  *r = ag_r_[agent] + kDR[dir] * dist;
  *c = ag_c_[agent] + kDC[dir] * dist;
  return static_cast<unsigned>(*r) < static_cast<unsigned>(height_) && static_cast<unsigned>(*c) < static_cast<unsigned>(width_);
}

int Game::converter_in_front(int agent) const {
  int r, c;
  if (!front_cell(agent, ag_orient_[agent], 1, &r, &c)) return -1;
  const int obj = at(r, c).obj;
  if (obj < 0 || !spec_->s.object_types[obj_type_[obj]].is_converter) return -1;
  return obj;
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

bool Game::do_put(int agent) {
  const int obj = converter_in_front(agent);
  if (obj < 0) return false;
  const int t = obj_type_[obj];
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
  const int obj = converter_in_front(agent);
  if (obj < 0) return false;
  const int t = obj_type_[obj];
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

}  // namespace mettagrid
