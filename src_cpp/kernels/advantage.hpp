// Advantage estimation kernels (GAE with V-trace clipping) for the trainer. Plain C++ API:
// raw float32 pointers to contiguous (num_segments, horizon) row-major arrays.
// See advantage_row.hpp for the exact convention.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/advantage_row.hpp"

namespace trainer::kernels {

// CPU kernel. `advantages` must not overlap any input.
void compute_advantage_cpu(const float* values, const float* rewards, const float* dones, const float* importance,
                           float* advantages, std::int64_t num_segments, std::int64_t horizon,
                           const AdvantageParams& params);

// True when this build contains the CUDA kernel (the functions below then do real work).
bool cuda_kernel_compiled();

// Number of CUDA devices the (statically linked) CUDA runtime sees; 0 when the kernel was not
// compiled, there is no driver or device, or the driver is too old for this runtime.
int cuda_device_count();

// Why the CUDA kernel cannot run: the runtime has no usable device, or (for device >= 0) that
// device does not exist or the kernel has no code that runs on it. Empty when it can run.
std::string cuda_status(int device = -1);

// CUDA kernel: pointers are device pointers on `device`; the launch goes on `stream`
// (a cudaStream_t as an integer, 0 = legacy default stream) and is asynchronous.
// Throws std::runtime_error on a CUDA error, or when the kernel was not compiled.
void compute_advantage_cuda(const float* values, const float* rewards, const float* dones, const float* importance,
                            float* advantages, std::int64_t num_segments, std::int64_t horizon,
                            const AdvantageParams& params, int device, std::uintptr_t stream);

}  // namespace trainer::kernels
