// CPU advantage kernel, and the CUDA entry points of a build without the CUDA kernel.
#include "kernels/advantage.hpp"

#include <cstddef>
#include <stdexcept>
#include <vector>

namespace trainer::kernels {

namespace {

constexpr std::int64_t kInterleave = 8;

// kInterleave consecutive rows at once, in two passes: first the delta and trace terms of every
// step (independent across steps, so they vectorize), then the backward recursion with the rows
// interleaved, since one row's recursion is a serial dependency chain. Same arithmetic, in the
// same order, as advantage_row.
void advantage_block(const float* values, const float* rewards, const float* dones, const float* importance,
                     float* advantages, std::int64_t horizon, const AdvantageParams& p, float* delta, float* trace) {
  for (std::int64_t k = 0; k < kInterleave; ++k) {
    const std::int64_t row = k * horizon;
    for (std::int64_t t = 0; t + 1 < horizon; ++t) {
      const std::int64_t i = row + t;
      const AdvantageTerms terms =
          advantage_terms(values[i], values[i + 1], rewards[i + 1], dones[i + 1], importance[i], p);
      delta[i] = terms.delta;
      trace[i] = terms.trace;
    }
    advantages[row + horizon - 1] = 0.0f;
  }
  float lastgae[kInterleave] = {};
  for (std::int64_t t = horizon - 2; t >= 0; --t) {
    for (std::int64_t k = 0; k < kInterleave; ++k) {
      const std::int64_t i = k * horizon + t;
      lastgae[k] = delta[i] + trace[i] * lastgae[k];
      advantages[i] = lastgae[k];
    }
  }
}

}  // namespace

void compute_advantage_cpu(const float* values, const float* rewards, const float* dones, const float* importance,
                           float* advantages, std::int64_t num_segments, std::int64_t horizon,
                           const AdvantageParams& params) {
  if (num_segments <= 0 || horizon <= 0) {
    return;
  }
  std::int64_t row = 0;
  if (num_segments >= kInterleave) {
    std::vector<float> scratch(static_cast<std::size_t>(2 * kInterleave * horizon));
    float* delta = scratch.data();
    float* trace = delta + kInterleave * horizon;
    for (; row + kInterleave <= num_segments; row += kInterleave) {
      const std::int64_t offset = row * horizon;
      advantage_block(values + offset, rewards + offset, dones + offset, importance + offset, advantages + offset,
                      horizon, params, delta, trace);
    }
  }
  for (; row < num_segments; ++row) {
    const std::int64_t offset = row * horizon;
    advantage_row(values + offset, rewards + offset, dones + offset, importance + offset, advantages + offset,
                  horizon, params);
  }
}

#if !defined(TRAINER_KERNELS_WITH_CUDA)

bool cuda_kernel_compiled() { return false; }

int cuda_device_count() { return 0; }

std::string cuda_status(int) { return "the CUDA advantage kernel was not compiled into this build"; }

void compute_advantage_cuda(const float*, const float*, const float*, const float*, float*, std::int64_t,
                            std::int64_t, const AdvantageParams&, int, std::uintptr_t) {
  throw std::runtime_error(cuda_status(-1));
}

#endif

}  // namespace trainer::kernels
