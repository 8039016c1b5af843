#include "mettagrid/vecenv.hpp"

#include <stdexcept>
#include <string>

namespace mettagrid {

VecEnv::VecEnv(std::shared_ptr<const CompiledSpec> spec, int num_envs, int num_threads)
    : spec_(std::move(spec)), num_threads_(num_threads) {
  if (num_envs < 1) throw std::invalid_argument("num_envs = " + std::to_string(num_envs) + ", expected >= 1");
  if (num_threads < 1) throw std::invalid_argument("num_threads = " + std::to_string(num_threads) + ", expected >= 1");
  if (num_threads_ > num_envs) num_threads_ = num_envs;
  for (int i = 0; i < num_envs; ++i) games_.push_back(std::make_unique<Game>(spec_));
  errors_.resize(static_cast<size_t>(num_threads_));
  for (int t = 1; t < num_threads_; ++t) threads_.emplace_back(&VecEnv::worker, this, t);
}

VecEnv::~VecEnv() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

size_t VecEnv::obs_size() const {
  const auto& s = spec_->s;
  return s.grid_obs ? static_cast<size_t>(spec_->num_features) * s.obs_height * s.obs_width
                    : static_cast<size_t>(s.num_tokens) * 3;
}

void VecEnv::set_buffers(uint8_t* observations, float* rewards, bool* terminals, bool* truncations,
                         uint8_t* final_observations) {
  const size_t n = static_cast<size_t>(spec_->s.num_agents);
  for (size_t i = 0; i < games_.size(); ++i) {
    GameBuffers b;
    b.observations = observations + i * n * obs_size();
    b.rewards = rewards + i * n;
    b.terminals = terminals + i * n;
    b.truncations = truncations + i * n;
    if (final_observations != nullptr) b.final_observations = final_observations + i * n * obs_size();
    games_[i]->set_buffers(b);
  }
}

void VecEnv::validate_actions(const int32_t* actions) const {
  const size_t total = games_.size() * static_cast<size_t>(spec_->s.num_agents);
  const int32_t limit = spec_->num_actions;
  for (size_t i = 0; i < total; ++i) {
    if (actions[i] < 0 || actions[i] >= limit) {
      throw std::invalid_argument("action " + std::to_string(actions[i]) + " for agent " + std::to_string(i) +
                                  " is out of range: expected 0 <= action < " + std::to_string(limit));
    }
  }
}

void VecEnv::reset(uint64_t seed) {
  seed_ = seed;
  run_parallel(&VecEnv::reset_range);
}

void VecEnv::step(const int32_t* actions) {
  actions_ = actions;
  run_parallel(&VecEnv::step_range);
}

void VecEnv::step_range(VecEnv* self, int begin, int end) {
  const size_t n = static_cast<size_t>(self->spec_->s.num_agents);
  for (int i = begin; i < end; ++i) self->games_[i]->step(self->actions_ + i * n);
}

void VecEnv::reset_range(VecEnv* self, int begin, int end) {
  for (int i = begin; i < end; ++i) self->games_[i]->reset(derive_seed(self->seed_, static_cast<uint64_t>(i)));
}

void VecEnv::run_parallel(void (*fn)(VecEnv*, int, int)) {
  const int n = num_envs();
  if (num_threads_ == 1) {
    fn(this, 0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = fn;
    pending_ = num_threads_ - 1;
    ++generation_;
  }
  start_cv_.notify_all();
  errors_[0] = nullptr;
  try {
    fn(this, 0, n / num_threads_);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
  }
  for (auto& e : errors_) {
    if (e) {
      auto err = e;
      for (auto& x : errors_) x = nullptr;
      std::rethrow_exception(err);
    }
  }
}

void VecEnv::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    void (*fn)(VecEnv*, int, int) = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = job_;
    }
    const int n = num_envs();
    const int begin = static_cast<int>(static_cast<long>(n) * index / num_threads_);
    const int end = static_cast<int>(static_cast<long>(n) * (index + 1) / num_threads_);
    errors_[index] = nullptr;
    try {
      fn(this, begin, end);
    } catch (...) {
      errors_[index] = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      --pending_;
    }
    done_cv_.notify_one();
  }
}

}  // namespace mettagrid
