// CUDA advantage kernel: one thread per row (segment), each running the same recursion as the
// CPU kernel (advantage_row.hpp). Compiled only when the build finds a CUDA compiler.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/advantage.hpp"

namespace trainer::kernels {

namespace {

constexpr int kThreadsPerBlock = 64;

__global__ void advantage_kernel(const float* __restrict__ values, const float* __restrict__ rewards,
                                 const float* __restrict__ dones, const float* __restrict__ importance,
                                 float* __restrict__ advantages, std::int64_t num_segments, std::int64_t horizon,
                                 AdvantageParams params) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= num_segments) {
    return;
  }
  const std::int64_t offset = row * horizon;
  advantage_row(values + offset, rewards + offset, dones + offset, importance + offset, advantages + offset, horizon,
                params);
}

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // reset the runtime's last-error state
    throw std::runtime_error(std::string("CUDA advantage kernel: ") + what + " failed: " + cudaGetErrorString(err));
  }
}

// Makes `device` current for the scope and restores the previous device (which the driver
// shares with other CUDA runtimes in the process, e.g. PyTorch's).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) {
      check(cudaSetDevice(device), "cudaSetDevice");
    }
    device_ = device;
  }
  ~DeviceGuard() {
    if (previous_ != device_) {
      cudaSetDevice(previous_);
    }
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  int device_ = 0;
};

}  // namespace

bool cuda_kernel_compiled() { return true; }

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string cuda_status(int device) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("CUDA runtime unavailable: ") + cudaGetErrorString(err);
  }
  if (count == 0) {
    return "no CUDA device found";
  }
  if (device < 0) {
    return "";
  }
  if (device >= count) {
    return "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " visible)";
  }
  try {
    DeviceGuard guard(device);
    cudaFuncAttributes attributes;
    err = cudaFuncGetAttributes(&attributes, advantage_kernel);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return "the CUDA advantage kernel cannot run on device " + std::to_string(device) + ": " +
           cudaGetErrorString(err) + " (rebuild with METTAGRID_CUDA_ARCHITECTURES including this GPU)";
  }
  return "";
}

void compute_advantage_cuda(const float* values, const float* rewards, const float* dones, const float* importance,
                            float* advantages, std::int64_t num_segments, std::int64_t horizon,
                            const AdvantageParams& params, int device, std::uintptr_t stream) {
  if (num_segments <= 0 || horizon <= 0) {
    return;
  }
  DeviceGuard guard(device);
  const std::int64_t blocks = (num_segments + kThreadsPerBlock - 1) / kThreadsPerBlock;
  if (blocks > 0x7fffffff) {
    throw std::invalid_argument("CUDA advantage kernel: too many segments for one launch");
  }
  advantage_kernel<<<static_cast<unsigned int>(blocks), kThreadsPerBlock, 0,
                     reinterpret_cast<cudaStream_t>(stream)>>>(values, rewards, dones, importance, advantages,
                                                               num_segments, horizon, params);
  check(cudaGetLastError(), "kernel launch");
}

}  // namespace trainer::kernels
