// The per-row GAE / V-trace recursion shared by the CPU and CUDA advantage kernels.
// Plain C++ (no Python, no CUDA headers); compiled by nvcc as __host__ __device__ code.
//
// Convention (PufferLib's `compute_puff_advantage`): a row holds `horizon` consecutive steps of
// one segment. values[t] is V(obs_t); rewards[t] and dones[t] are what the environment returned
// together with obs_t, i.e. they belong to the transition (t-1 -> t). So the transition taken
// from step t has reward rewards[t+1] and ended its episode when dones[t+1] == 1 (dones are 0/1;
// the recursion multiplies by 1 - dones[t+1]), in which case values[t+1] (the first value of the
// next episode) is not bootstrapped from and the trace is cut. rewards[0] and dones[0] are never read. advantages[horizon-1] has no successor inside the row
// and is set to 0.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define TRAINER_KERNELS_HD __host__ __device__ __forceinline__
#else
#define TRAINER_KERNELS_HD inline
#endif

namespace trainer::kernels {

struct AdvantageParams {
  float gamma;         // discount factor
  float gamma_lambda;  // gamma * gae_lambda (rounded once, from double)
  float rho_clip;      // V-trace clip of the importance ratio in the TD error
  float c_clip;        // V-trace clip of the importance ratio in the trace
};

inline AdvantageParams make_advantage_params(double gamma, double gae_lambda, double rho_clip, double c_clip) {
  return AdvantageParams{static_cast<float>(gamma), static_cast<float>(gamma * gae_lambda),
                         static_cast<float>(rho_clip), static_cast<float>(c_clip)};
}

// min that propagates a NaN in `x` (like torch.clamp), unlike fminf.
TRAINER_KERNELS_HD float clip_above(float x, float hi) { return hi < x ? hi : x; }

// The two terms of step t: A_t = delta_t + trace_t * A_{t+1}.
struct AdvantageTerms {
  float delta;  // rho_t * (r_{t+1} + gamma * V_{t+1} * (1 - d_{t+1}) - V_t)
  float trace;  // gamma * lambda * c_t * (1 - d_{t+1})
};

TRAINER_KERNELS_HD AdvantageTerms advantage_terms(float value, float value_next, float reward_next, float done_next,
                                                  float importance, const AdvantageParams& p) {
  const float nextnonterminal = 1.0f - done_next;
  const float rho = clip_above(importance, p.rho_clip);
  const float c = clip_above(importance, p.c_clip);
  return AdvantageTerms{rho * (reward_next + p.gamma * value_next * nextnonterminal - value),
                        p.gamma_lambda * c * nextnonterminal};
}

// Advantages of one contiguous row of `horizon` steps.
TRAINER_KERNELS_HD void advantage_row(const float* values, const float* rewards, const float* dones,
                                      const float* importance, float* advantages, std::int64_t horizon,
                                      const AdvantageParams& p) {
  if (horizon <= 0) {
    return;
  }
  float lastgae = 0.0f;
  advantages[horizon - 1] = 0.0f;
  for (std::int64_t t = horizon - 2; t >= 0; --t) {
    const AdvantageTerms terms =
        advantage_terms(values[t], values[t + 1], rewards[t + 1], dones[t + 1], importance[t], p);
    lastgae = terms.delta + terms.trace * lastgae;
    advantages[t] = lastgae;
  }
}

}  // namespace trainer::kernels
