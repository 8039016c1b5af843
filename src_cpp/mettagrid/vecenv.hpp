// Many games stepped in one call, split over a fixed pool of threads.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "mettagrid/game.hpp"

namespace mettagrid {

class VecEnv {
 public:
  VecEnv(std::shared_ptr<const CompiledSpec> spec, int num_envs, int num_threads);
  ~VecEnv();
  VecEnv(const VecEnv&) = delete;
  VecEnv& operator=(const VecEnv&) = delete;

  // Buffers hold num_envs * num_agents rows; the caller keeps them alive.
  // `final_observations` (optional, same shape as observations) receives the last observations of episodes
  // that end, in the rows of their games.
  void set_buffers(uint8_t* observations, float* rewards, bool* terminals, bool* truncations,
                   uint8_t* final_observations = nullptr);
  // Game i is seeded with derive_seed(seed, i).
  void reset(uint64_t seed);
  // Throws std::invalid_argument naming the first bad action; no state changes then.
  void validate_actions(const int32_t* actions) const;
  // Steps every game; `actions` holds num_envs * num_agents validated entries.
  void step(const int32_t* actions);

  int num_envs() const { return static_cast<int>(games_.size()); }
  int num_threads() const { return num_threads_; }
  Game& game(int i) { return *games_.at(static_cast<size_t>(i)); }
  const CompiledSpec& spec() const { return *spec_; }
  size_t obs_size() const;  // bytes per agent

 private:
  void run_parallel(void (*fn)(VecEnv*, int, int));
  void worker(int index);
  static void step_range(VecEnv* self, int begin, int end);
  static void reset_range(VecEnv* self, int begin, int end);

  std::shared_ptr<const CompiledSpec> spec_;
  std::vector<std::unique_ptr<Game>> games_;
  int num_threads_;
  const int32_t* actions_ = nullptr;
  uint64_t seed_ = 0;

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  void (*job_)(VecEnv*, int, int) = nullptr;
  std::vector<std::exception_ptr> errors_;
};

}  // namespace mettagrid
