// Python bindings for the trainer's native kernels (trainer._kernels). The only file of the
// kernels that knows about Python. Arrays arrive through DLPack (nb::ndarray), so torch tensors
// pass directly and there is no build dependency on torch. Array arguments are `noconvert`: an
// implicit dtype/layout conversion would make a temporary copy, and results written to a copy of
// `advantages` would be lost.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/advantage.hpp"
#include "kernels/bfs.hpp"
#include "kernels/token_table.hpp"

namespace nb = nanobind;
using namespace nb::literals;
namespace tk = trainer::kernels;

namespace {

template <typename Device>
using In = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, Device>;
template <typename Device>
using Out = nb::ndarray<float, nb::ndim<2>, nb::c_contig, Device>;

std::string shape_str(std::size_t rows, std::size_t cols) {
  return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}

template <typename Device>
void check_same(const char* name, const In<Device>& a, const Out<Device>& adv) {
  if (a.shape(0) != adv.shape(0) || a.shape(1) != adv.shape(1)) {
    throw std::invalid_argument(std::string(name) + " has shape " + shape_str(a.shape(0), a.shape(1)) +
                                ", expected " + shape_str(adv.shape(0), adv.shape(1)));
  }
  if (a.device_id() != adv.device_id()) {
    throw std::invalid_argument(std::string(name) + " is on device " + std::to_string(a.device_id()) +
                                ", advantages on device " + std::to_string(adv.device_id()));
  }
}

template <typename Device>
void check_all(const In<Device>& values, const In<Device>& rewards, const In<Device>& dones,
               const In<Device>& importance, const Out<Device>& advantages) {
  check_same("values", values, advantages);
  check_same("rewards", rewards, advantages);
  check_same("dones", dones, advantages);
  check_same("importance", importance, advantages);
}

void advantage_cpu(In<nb::device::cpu> values, In<nb::device::cpu> rewards, In<nb::device::cpu> dones,
                   In<nb::device::cpu> importance, Out<nb::device::cpu> advantages, double gamma, double gae_lambda,
                   double rho_clip, double c_clip) {
  check_all(values, rewards, dones, importance, advantages);
  const auto params = tk::make_advantage_params(gamma, gae_lambda, rho_clip, c_clip);
  const auto rows = static_cast<std::int64_t>(advantages.shape(0));
  const auto cols = static_cast<std::int64_t>(advantages.shape(1));
  nb::gil_scoped_release release;
  tk::compute_advantage_cpu(values.data(), rewards.data(), dones.data(), importance.data(), advantages.data(), rows,
                            cols, params);
}

void advantage_cuda(In<nb::device::cuda> values, In<nb::device::cuda> rewards, In<nb::device::cuda> dones,
                    In<nb::device::cuda> importance, Out<nb::device::cuda> advantages, double gamma,
                    double gae_lambda, double rho_clip, double c_clip, std::uintptr_t stream) {
  check_all(values, rewards, dones, importance, advantages);
  const auto params = tk::make_advantage_params(gamma, gae_lambda, rho_clip, c_clip);
  const auto rows = static_cast<std::int64_t>(advantages.shape(0));
  const auto cols = static_cast<std::int64_t>(advantages.shape(1));
  const int device = advantages.device_id();
  nb::gil_scoped_release release;
  tk::compute_advantage_cuda(values.data(), rewards.data(), dones.data(), importance.data(), advantages.data(), rows,
                             cols, params, device, stream);
}

void token_table_grad(nb::ndarray<const std::int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> index,
                      nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu> weight,
                      nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu> grad_out,
                      Out<nb::device::cpu> grad_table) {
  if (weight.shape(0) != index.shape(0) || weight.shape(1) != index.shape(1)) {
    throw std::invalid_argument("weight has shape " + shape_str(weight.shape(0), weight.shape(1)) + ", expected " +
                                shape_str(index.shape(0), index.shape(1)) + " (the shape of index)");
  }
  if (grad_out.shape(0) != index.shape(0) || grad_out.shape(1) != grad_table.shape(1)) {
    throw std::invalid_argument("grad_out has shape " + shape_str(grad_out.shape(0), grad_out.shape(1)) +
                                ", expected " + shape_str(index.shape(0), grad_table.shape(1)) +
                                " (index's rows, grad_table's columns)");
  }
  const auto rows = static_cast<std::int64_t>(index.shape(0));
  const auto tokens = static_cast<std::int64_t>(index.shape(1));
  const auto hidden = static_cast<std::int64_t>(grad_table.shape(1));
  const auto table_rows = static_cast<std::int64_t>(grad_table.shape(0));
  nb::gil_scoped_release release;
  tk::token_table_grad_cpu(index.data(), weight.data(), grad_out.data(), grad_table.data(), rows, tokens, hidden,
                           table_rows);
}

void bfs_levels(nb::ndarray<const std::uint32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> goal,
                nb::ndarray<const std::uint32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> free_cells,
                nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> probe_rows,
                nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> probe_cols,
                std::int32_t far,
                nb::ndarray<std::int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> levels) {
  if (free_cells.shape(0) != goal.shape(0) || free_cells.shape(1) != goal.shape(1)) {
    throw std::invalid_argument("free has shape " + shape_str(free_cells.shape(0), free_cells.shape(1)) +
                                ", expected " + shape_str(goal.shape(0), goal.shape(1)) + " (the shape of goal)");
  }
  if (probe_cols.shape(0) != probe_rows.shape(0)) {
    throw std::invalid_argument("probe_cols has " + std::to_string(probe_cols.shape(0)) + " entries, probe_rows " +
                                std::to_string(probe_rows.shape(0)));
  }
  if (levels.shape(0) != goal.shape(0) || levels.shape(1) != probe_rows.shape(0)) {
    throw std::invalid_argument("levels has shape " + shape_str(levels.shape(0), levels.shape(1)) + ", expected " +
                                shape_str(goal.shape(0), probe_rows.shape(0)) + " (grids, probes)");
  }
  const auto grids = static_cast<std::int64_t>(goal.shape(0));
  const auto rows = static_cast<std::int64_t>(goal.shape(1));
  const auto probes = static_cast<std::int64_t>(probe_rows.shape(0));
  nb::gil_scoped_release release;
  tk::bfs_levels(goal.data(), free_cells.data(), grids, rows, probe_rows.data(), probe_cols.data(), probes, far,
                 levels.data());
}

}  // namespace

NB_MODULE(_kernels, m) {
  m.doc() =
      "Native kernels of the reference PPO trainer (advantage estimation, the token table's gradient, the "
      "teachers' search).";

  m.def("advantage_cpu", &advantage_cpu, "values"_a.noconvert(), "rewards"_a.noconvert(), "dones"_a.noconvert(),
        "importance"_a.noconvert(), "advantages"_a.noconvert(),
        "gamma"_a, "gae_lambda"_a, "rho_clip"_a, "c_clip"_a,
        "GAE with V-trace clipping on contiguous float32 (num_segments, horizon) CPU arrays; writes advantages.");
  m.def("advantage_cuda", &advantage_cuda, "values"_a.noconvert(), "rewards"_a.noconvert(), "dones"_a.noconvert(),
        "importance"_a.noconvert(), "advantages"_a.noconvert(),
        "gamma"_a, "gae_lambda"_a, "rho_clip"_a, "c_clip"_a, "stream"_a = 0,
        "Same as advantage_cpu for CUDA arrays, launched asynchronously on `stream` (a cudaStream_t as int).");
  m.def("token_table_grad", &token_table_grad, "index"_a.noconvert(), "weight"_a.noconvert(),
        "grad_out"_a.noconvert(), "grad_table"_a.noconvert(),
        "grad_table[index[n, k]] += weight[n, k] * grad_out[n] over contiguous CPU arrays (int64 index, float32 "
        "others); IndexError before writing anything when an index with a nonzero weight is out of range.");
  m.def("bfs_levels", &bfs_levels, "goal"_a.noconvert(), "free"_a.noconvert(), "probe_rows"_a.noconvert(),
        "probe_cols"_a.noconvert(), "far"_a, "levels"_a.noconvert(),
        "Breadth-first distances from goal cells through free cells on (grids, rows) uint32 row bitmasks to the "
        "probe cells, written to levels (grids, probes) int32 (`far` where not reached); the scripted teachers' "
        "search.");
  m.def("cuda_kernel_compiled", &tk::cuda_kernel_compiled, "Whether this build contains the CUDA kernel.");
  m.def("cuda_device_count", &tk::cuda_device_count,
        "CUDA devices visible to the kernel's CUDA runtime (0 if not compiled, no driver or no device).");
  m.def("cuda_status", &tk::cuda_status, "device"_a = -1,
        "Why the CUDA kernel cannot run (on `device`, when >= 0); '' when it can.");
}
