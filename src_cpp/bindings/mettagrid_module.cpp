// Python bindings for the game core (mettagrid._core). The only file here that knows about Python.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "mettagrid/maps.hpp"
#include "mettagrid/spec.hpp"
#include "mettagrid/vecenv.hpp"

namespace nb = nanobind;
using namespace nb::literals;
using mettagrid::CompiledSpec;
using mettagrid::GameSpec;
using mettagrid::VecEnv;

namespace {

// A dict of names to numbers, in the order given.
nb::dict named(std::initializer_list<std::pair<const char*, int>> entries) {
  nb::dict d;
  for (const auto& [name, value] : entries) d[name] = value;
  return d;
}

template <typename T>
nb::object to_numpy(std::vector<T> values, std::initializer_list<size_t> shape) {
  auto* heap = new std::vector<T>(std::move(values));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, T>(heap->data(), shape, owner));
}

template <typename T>
using Buffer = nb::ndarray<T, nb::c_contig, nb::device::cpu>;

template <typename T>
void check_buffer(const char* name, const Buffer<T>& buf, size_t expected) {
  if (buf.size() != expected) {
    throw std::invalid_argument(std::string(name) + " buffer has " + std::to_string(buf.size()) +
                                " elements, expected " + std::to_string(expected));
  }
}

// Serializes the calls on one env from several Python threads. The mutex is never waited for while holding the
// GIL (a thread holding the mutex may be waiting to get the GIL back): try it first, and otherwise release the
// GIL while waiting. A holder of the mutex may then wait for the GIL, never the other way round.
class EnvLock {
 public:
  explicit EnvLock(std::mutex& mutex) : lock_(mutex, std::try_to_lock) {
    if (!lock_.owns_lock()) {
      nb::gil_scoped_release release;
      lock_.lock();
    }
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

// A VecEnv that also holds the caller's buffers, so they live as long as it writes into them. Every method takes
// the env's lock, so one env called from several threads is used by one call at a time.
class PyVecEnv {
 public:
  PyVecEnv(std::shared_ptr<CompiledSpec> spec, int num_envs, int num_threads)
      : env_(std::move(spec), num_envs, num_threads) {}

  void set_buffers(Buffer<uint8_t> obs, Buffer<float> rewards, Buffer<bool> terminals, Buffer<bool> truncations,
                   std::optional<Buffer<uint8_t>> final_obs) {
    EnvLock guard(mutex_);
    const size_t rows = static_cast<size_t>(env_.num_envs()) * env_.spec().s.num_agents;
    check_buffer("observations", obs, rows * env_.obs_size());
    check_buffer("rewards", rewards, rows);
    check_buffer("terminals", terminals, rows);
    check_buffer("truncations", truncations, rows);
    if (final_obs) check_buffer("final_observations", *final_obs, rows * env_.obs_size());
    obs_ = obs;
    final_obs_ = final_obs ? *final_obs : Buffer<uint8_t>();
    rewards_ = rewards;
    terminals_ = terminals;
    truncations_ = truncations;
    env_.set_buffers(obs.data(), rewards.data(), terminals.data(), truncations.data(),
                     final_obs ? final_obs->data() : nullptr);
    has_buffers_ = true;
  }

  void reset(uint64_t seed) {
    EnvLock guard(mutex_);
    require_buffers();
    nb::gil_scoped_release release;
    env_.reset(seed);
  }

  nb::list step(Buffer<const int32_t> actions) {
    EnvLock guard(mutex_);
    require_buffers();
    const size_t rows = static_cast<size_t>(env_.num_envs()) * env_.spec().s.num_agents;
    check_buffer("actions", actions, rows);
    env_.validate_actions(actions.data());
    {
      nb::gil_scoped_release release;
      env_.step(actions.data());
    }
    nb::list ended;
    for (int i = 0; i < env_.num_envs(); ++i) {
      if (env_.game(i).episode_ended()) ended.append(i);
    }
    return ended;
  }

  // Runs f(game i) under the env's lock.
  template <typename F>
  auto with_game(int i, F f) {
    EnvLock guard(mutex_);
    return f(game(i));
  }

  mettagrid::Game& game(int i) {
    if (i < 0 || i >= env_.num_envs()) {
      throw std::out_of_range("env index " + std::to_string(i) + " is out of range [0, " +
                              std::to_string(env_.num_envs()) + ")");
    }
    return env_.game(i);
  }

  nb::dict episode(int i) {
    EnvLock guard(mutex_);
    const auto& rec = game(i).last_episode();
    const size_t n = static_cast<size_t>(env_.spec().s.num_agents);
    if (rec.returns.size() != n || rec.agent_stats.size() != n * env_.spec().agent_stats.size()) {
      throw std::invalid_argument("game " + std::to_string(i) + " has not finished an episode yet");
    }
    nb::dict d;
    d["length"] = rec.length;
    d["seed"] = rec.seed;
    d["returns"] = to_numpy(rec.returns, {n});
    d["groups"] = to_numpy(rec.groups, {rec.groups.size()});
    d["agent_stats"] = to_numpy(rec.agent_stats, {n, env_.spec().agent_stats.size()});
    d["game_stats"] = to_numpy(rec.game_stats, {rec.game_stats.size()});
    d["game_stat_names"] = rec.spec ? rec.spec->game_stats : env_.spec().game_stats;
    return d;
  }

  void set_next_spec(int i, std::shared_ptr<CompiledSpec> spec) {
    EnvLock guard(mutex_);
    game(i).set_next_spec(std::move(spec));
  }

  nb::dict live_stats(int i) {
    EnvLock guard(mutex_);
    auto& g = game(i);
    const size_t n = static_cast<size_t>(env_.spec().s.num_agents);
    nb::dict d;
    d["agent_stats"] = to_numpy(g.agent_stats(), {n, env_.spec().agent_stats.size()});
    d["game_stats"] = to_numpy(g.game_stats(), {g.game_stats().size()});
    return d;
  }

  nb::dict snapshot(int i) {
    EnvLock guard(mutex_);
    const auto sn = game(i).snapshot();
    const size_t n = sn.agent_r.size(), m = sn.obj_type.size(), items = static_cast<size_t>(env_.spec().num_items);
    nb::dict d;
    d["height"] = sn.height;
    d["width"] = sn.width;
    d["step"] = sn.step;
    d["max_steps"] = sn.max_steps;
    d["agent_row"] = to_numpy(sn.agent_r, {n});
    d["agent_col"] = to_numpy(sn.agent_c, {n});
    d["agent_orientation"] = to_numpy(sn.agent_orientation, {n});
    d["agent_group"] = to_numpy(sn.agent_group, {n});
    d["agent_frozen"] = to_numpy(sn.agent_frozen, {n});
    d["agent_color"] = to_numpy(sn.agent_color, {n});
    d["agent_glyph"] = to_numpy(sn.agent_glyph, {n});
    d["agent_last_action"] = to_numpy(sn.agent_last_action, {n});
    d["agent_last_action_success"] = to_numpy(sn.agent_last_action_success, {n});
    d["agent_inventory"] = to_numpy(sn.agent_inventory, {n, items});
    d["agent_reward"] = to_numpy(sn.agent_reward, {n});
    d["agent_return"] = to_numpy(sn.agent_return, {n});
    d["object_type"] = to_numpy(sn.obj_type, {m});
    d["object_row"] = to_numpy(sn.obj_r, {m});
    d["object_col"] = to_numpy(sn.obj_c, {m});
    d["object_converting"] = to_numpy(sn.obj_converting, {m});
    d["object_inventory"] = to_numpy(sn.obj_inventory, {m, items});
    return d;
  }

  VecEnv& env() { return env_; }

 private:
  void require_buffers() const {
    if (!has_buffers_) throw std::runtime_error("set_buffers() must be called before reset() or step()");
  }

  std::mutex mutex_;
  VecEnv env_;
  bool has_buffers_ = false;
  Buffer<uint8_t> obs_, final_obs_;
  Buffer<float> rewards_;
  Buffer<bool> terminals_, truncations_;
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "The metta-gridworld game core.";

  nb::class_<mettagrid::ObjectTypeSpec>(m, "ObjectTypeSpec")
      .def(nb::init<>())
      .def_rw("name", &mettagrid::ObjectTypeSpec::name)
      .def_rw("type_id", &mettagrid::ObjectTypeSpec::type_id)
      .def_rw("is_converter", &mettagrid::ObjectTypeSpec::is_converter)
      .def_rw("swappable", &mettagrid::ObjectTypeSpec::swappable)
      .def_rw("input", &mettagrid::ObjectTypeSpec::input)
      .def_rw("output", &mettagrid::ObjectTypeSpec::output)
      .def_rw("conversion_ticks", &mettagrid::ObjectTypeSpec::conversion_ticks)
      .def_rw("cooldown", &mettagrid::ObjectTypeSpec::cooldown)
      .def_rw("max_output", &mettagrid::ObjectTypeSpec::max_output)
      .def_rw("initial_resource_count", &mettagrid::ObjectTypeSpec::initial_resource_count)
      .def_rw("color", &mettagrid::ObjectTypeSpec::color);

  nb::class_<mettagrid::GroupSpec>(m, "GroupSpec")
      .def(nb::init<>())
      .def_rw("name", &mettagrid::GroupSpec::name)
      .def_rw("id", &mettagrid::GroupSpec::id)
      .def_rw("reward_pct", &mettagrid::GroupSpec::reward_pct)
      .def_rw("resource_limits", &mettagrid::GroupSpec::resource_limits)
      .def_rw("initial_inventory", &mettagrid::GroupSpec::initial_inventory)
      .def_rw("inventory_reward", &mettagrid::GroupSpec::inventory_reward)
      .def_rw("inventory_reward_max", &mettagrid::GroupSpec::inventory_reward_max)
      .def_rw("stat_reward_ids", &mettagrid::GroupSpec::stat_reward_ids)
      .def_rw("stat_reward_weights", &mettagrid::GroupSpec::stat_reward_weights)
      .def_rw("stat_reward_max", &mettagrid::GroupSpec::stat_reward_max)
      .def_rw("freeze_duration", &mettagrid::GroupSpec::freeze_duration)
      .def_rw("defense_resources", &mettagrid::GroupSpec::defense_resources)
      .def_rw("action_failure_penalty", &mettagrid::GroupSpec::action_failure_penalty);

  nb::class_<mettagrid::ActionSpec>(m, "ActionSpec")
      .def(nb::init<>())
      .def_rw("name", &mettagrid::ActionSpec::name)
      .def_rw("kind", &mettagrid::ActionSpec::kind)
      .def_rw("arg", &mettagrid::ActionSpec::arg)
      .def_rw("required", &mettagrid::ActionSpec::required)
      .def_rw("consumed", &mettagrid::ActionSpec::consumed);

  nb::class_<mettagrid::MapNodeSpec>(m, "MapNodeSpec")
      .def(nb::init<>())
      .def_rw("kind", &mettagrid::MapNodeSpec::kind)
      .def_rw("width", &mettagrid::MapNodeSpec::width)
      .def_rw("height", &mettagrid::MapNodeSpec::height)
      .def_rw("cells", &mettagrid::MapNodeSpec::cells)
      .def_rw("border", &mettagrid::MapNodeSpec::border)
      .def_rw("object_counts", &mettagrid::MapNodeSpec::object_counts)
      .def_rw("agent_counts", &mettagrid::MapNodeSpec::agent_counts)
      .def_rw("algorithm", &mettagrid::MapNodeSpec::algorithm)
      .def_rw("rows", &mettagrid::MapNodeSpec::rows)
      .def_rw("cols", &mettagrid::MapNodeSpec::cols)
      .def_rw("spacing", &mettagrid::MapNodeSpec::spacing)
      .def_rw("children", &mettagrid::MapNodeSpec::children);

  nb::class_<GameSpec>(m, "GameSpec")
      .def(nb::init<>())
      .def_rw("num_agents", &GameSpec::num_agents)
      .def_rw("max_steps", &GameSpec::max_steps)
      .def_rw("episode_truncates", &GameSpec::episode_truncates)
      .def_rw("desync_episodes", &GameSpec::desync_episodes)
      .def_rw("obs_width", &GameSpec::obs_width)
      .def_rw("obs_height", &GameSpec::obs_height)
      .def_rw("num_tokens", &GameSpec::num_tokens)
      .def_rw("grid_obs", &GameSpec::grid_obs)
      .def_rw("global_episode_completion", &GameSpec::global_episode_completion)
      .def_rw("global_last_action", &GameSpec::global_last_action)
      .def_rw("global_last_reward", &GameSpec::global_last_reward)
      .def_rw("items", &GameSpec::items)
      .def_rw("object_types", &GameSpec::object_types)
      .def_rw("groups", &GameSpec::groups)
      .def_rw("actions", &GameSpec::actions)
      .def_rw("map_nodes", &GameSpec::map_nodes)
      .def_rw("map_root", &GameSpec::map_root)
      .def_rw("wall_type", &GameSpec::wall_type);

  m.def("agent_stat_names", &mettagrid::agent_stat_names, "items"_a, "action_names"_a,
        "Names of the per-agent stats, in index order.");

  m.def(
      "build_map",
      [](const GameSpec& spec, uint64_t seed) {
        CompiledSpec compiled(spec);
        const auto g = mettagrid::build_map(compiled, compiled.s.map_root, seed);
        return to_numpy(g.cells, {static_cast<size_t>(g.height), static_cast<size_t>(g.width)});
      },
      "spec"_a, "seed"_a, "Builds the map of a spec for a seed: an (height, width) int32 array of cell codes.");

  m.def(
      "map_size",
      [](const GameSpec& spec) {
        CompiledSpec compiled(spec);
        int h = 0, w = 0;
        mettagrid::map_size(compiled, compiled.s.map_root, &h, &w);
        return nb::make_tuple(h, w);
      },
      "spec"_a, "The (height, width) of the map a spec builds.");

  // The numbers Python shares with the core, named once here: map cell codes, limits, action kinds, map builder
  // kinds and maze algorithms (keyed by the config's names for them), observation feature ids (keyed by their
  // observed names) and the locations of global and padding tokens.
  m.attr("AGENT_CELL_BASE") = mettagrid::kAgentCellBase;
  m.attr("EMPTY_CELL") = mettagrid::kEmptyCell;
  m.attr("MAX_ITEMS") = mettagrid::kMaxItems;
  m.attr("MAX_MAP_SIDE") = mettagrid::kMaxMapSide;
  m.attr("FIRST_INVENTORY_FEATURE") = mettagrid::kFirstInventoryFeature;
  m.attr("GLOBAL_LOCATION") = mettagrid::kGlobalLocation;
  m.attr("PADDING_LOCATION") = mettagrid::kPaddingLocation;

  m.attr("ACTION_KINDS") = named({  // ActionsConfig's families, in its order
      {"noop", mettagrid::kNoop}, {"move", mettagrid::kMove}, {"rotate", mettagrid::kRotate},
      {"move_cardinal", mettagrid::kMoveCardinal}, {"put_items", mettagrid::kPutItems},
      {"get_items", mettagrid::kGetItems}, {"attack", mettagrid::kAttack}, {"swap", mettagrid::kSwap},
      {"change_color", mettagrid::kChangeColor}, {"change_glyph", mettagrid::kChangeGlyph}});
  m.attr("MAP_KINDS") = named({  // the map builders' `type`
      {"ascii", mettagrid::kMapAscii}, {"random", mettagrid::kMapRandom}, {"maze", mettagrid::kMapMaze},
      {"room_grid", mettagrid::kMapRoomGrid}});
  m.attr("MAZE_ALGORITHMS") = named({{"prim", mettagrid::kMazeAlgorithmPrim}, {"kruskal", mettagrid::kMazeAlgorithmKruskal}});
  m.attr("FEATURE_IDS") = named({  // the base features (inventory features follow from FIRST_INVENTORY_FEATURE)
      {"type_id", mettagrid::kFeatTypeId}, {"agent:group", mettagrid::kFeatGroup},
      {"agent:frozen", mettagrid::kFeatFrozen}, {"agent:orientation", mettagrid::kFeatOrientation},
      {"color", mettagrid::kFeatColor}, {"agent:glyph", mettagrid::kFeatGlyph},
      {"converting", mettagrid::kFeatConverting}, {"swappable", mettagrid::kFeatSwappable},
      {"episode_completion_pct", mettagrid::kFeatEpisodeCompletion}, {"last_action", mettagrid::kFeatLastAction},
      {"last_reward", mettagrid::kFeatLastReward}});

  nb::class_<CompiledSpec>(m, "CompiledSpec")
      .def(nb::init<GameSpec>(), "spec"_a, "Validates a GameSpec and builds the tables the step loop uses.")
      .def_prop_ro("agent_stat_names", [](const CompiledSpec& c) { return c.agent_stats; })
      .def_prop_ro("game_stat_names", [](const CompiledSpec& c) { return c.game_stats; })
      .def("check_compatible", [](const CompiledSpec& self, const CompiledSpec& other) {
            mettagrid::check_compatible(self, other);
          }, "other"_a, "Raises ValueError naming the first field in which `other` cannot replace this spec.");

  nb::class_<PyVecEnv>(m, "VecEnv")
      .def(nb::init<std::shared_ptr<CompiledSpec>, int, int>(), "spec"_a, "num_envs"_a, "num_threads"_a,
           "num_envs games of one compiled spec, stepped by num_threads threads.")
      .def("set_buffers", &PyVecEnv::set_buffers, "observations"_a, "rewards"_a, "terminals"_a, "truncations"_a,
           "final_observations"_a = nb::none())
      .def("reset", &PyVecEnv::reset, "seed"_a)
      .def("step", &PyVecEnv::step, "actions"_a,
           "Steps every game; returns the indices of games whose episode ended (already reset).")
      .def("episode", &PyVecEnv::episode, "env"_a, "The record of the last finished episode of a game.")
      .def("set_next_spec", &PyVecEnv::set_next_spec, "env"_a, "spec"_a,
           "Gives a game a compiled spec for its next episode (started by reset() or by an auto-reset); it stays "
           "in use after that. Raises ValueError naming the first incompatible field.")
      .def("game_stat_names_of", [](PyVecEnv& self, int i) { return self.with_game(i, [](mettagrid::Game& g) { return g.spec().game_stats; }); }, "env"_a,
           "The game stat names of a game's current spec.")
      .def("live_stats", &PyVecEnv::live_stats, "env"_a, "The running stats of a game's current episode.")
      .def("snapshot", &PyVecEnv::snapshot, "env"_a, "Positions, orientations and inventories of a game.")
      .def("current_step", [](PyVecEnv& self, int i) { return self.with_game(i, [](mettagrid::Game& g) { return g.current_step(); }); }, "env"_a)
      .def("episode_max_steps", [](PyVecEnv& self, int i) { return self.with_game(i, [](mettagrid::Game& g) { return g.episode_max_steps(); }); }, "env"_a)
      .def("episode_seed", [](PyVecEnv& self, int i) { return self.with_game(i, [](mettagrid::Game& g) { return g.episode_seed(); }); }, "env"_a)
      .def_prop_ro("num_envs", [](PyVecEnv& self) { return self.env().num_envs(); })
      .def_prop_ro("num_threads", [](PyVecEnv& self) { return self.env().num_threads(); })
      .def_prop_ro("obs_size", [](PyVecEnv& self) { return self.env().obs_size(); })
      .def_prop_ro("agent_stat_names", [](PyVecEnv& self) { return self.env().spec().agent_stats; })
      .def_prop_ro("game_stat_names", [](PyVecEnv& self) { return self.env().spec().game_stats; });
}
