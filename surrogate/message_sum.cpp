#include "surrogate/message_sum.hpp"

namespace ghnas {

namespace {

// Plain CSR kernels: ATen's sparse-dense product calls BLAS axpy per entry and its index_add_
// dispatches per row, both slow for millions of 32-float rows. Serial: this path runs for
// training, where the inference kernel does not apply and batches are small.
struct Weights {
  float of[256];
  Weights() {
    of[0] = 0.0f;
    for (int d = 1; d < 256; ++d) of[d] = SweepPlan::weight_of(static_cast<std::uint8_t>(d));
  }
};
const Weights kWeights;

void csr_forward(const float* table, std::int64_t hid, const std::int64_t* begin, std::int64_t rows,
                 const std::int32_t* src, const std::uint8_t* dist, float* out) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = out + r * hid;
    for (std::int64_t j = 0; j < hid; ++j) o[j] = 0.0f;
    for (std::int64_t e = begin[r]; e < begin[r + 1]; ++e) {
      const float* t = table + static_cast<std::int64_t>(src[e]) * hid;
      const float w = kWeights.of[dist[e]];
      for (std::int64_t j = 0; j < hid; ++j) o[j] += w * t[j];
    }
  }
}

void csr_backward(const float* grad_out, std::int64_t hid, const std::int64_t* begin, std::int64_t rows,
                  const std::int32_t* src, const std::uint8_t* dist, float* grad_table) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* g = grad_out + r * hid;
    for (std::int64_t e = begin[r]; e < begin[r + 1]; ++e) {
      float* t = grad_table + static_cast<std::int64_t>(src[e]) * hid;
      const float w = kWeights.of[dist[e]];
      for (std::int64_t j = 0; j < hid; ++j) t[j] += w * g[j];
    }
  }
}

class CsrMessageSum : public torch::autograd::Function<CsrMessageSum> {
 public:
  // begin: int64 [rows + 1] absolute offsets into src/dist.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& table,
                               const torch::Tensor& begin, const torch::Tensor& src, const torch::Tensor& dist) {
    const auto rows = begin.size(0) - 1, hid = table.size(1);
    const auto t = table.contiguous();
    auto out = torch::empty({rows, hid}, table.options());
    csr_forward(t.data_ptr<float>(), hid, begin.data_ptr<std::int64_t>(), rows, src.data_ptr<std::int32_t>(),
                dist.data_ptr<std::uint8_t>(), out.data_ptr<float>());
    // Only the sizes of the table are needed later: the GNN overwrites its rows in place.
    ctx->saved_data["table_rows"] = table.size(0);
    ctx->save_for_backward({begin, src, dist});
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& begin = saved[0];
    const auto grad = grad_outputs[0].contiguous();
    const auto rows = begin.size(0) - 1, hid = grad.size(1);
    auto grad_table = torch::zeros({ctx->saved_data["table_rows"].toInt(), hid}, grad.options());
    csr_backward(grad.data_ptr<float>(), hid, begin.data_ptr<std::int64_t>(), rows,
                 saved[1].data_ptr<std::int32_t>(), saved[2].data_ptr<std::uint8_t>(), grad_table.data_ptr<float>());
    return {grad_table, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor message_sum(const torch::Tensor& table, const SweepPlan& sweep, std::int64_t step) {
  const std::int64_t k0 = sweep.step_begin[step], rows = sweep.step_begin[step + 1] - k0;
  const auto begin = sweep.msg_begin.narrow(0, k0, rows + 1);
  if (!sweep.msg_slot.defined()) return CsrMessageSum::apply(table, begin, sweep.msg_src, sweep.msg_dist);

  // The device path (CUDA, or a CPU batch given gather tables): gather the messages, weight them,
  // add them into their receivers; four kernels a step.
  const std::int64_t e0 = sweep.msg_step_begin[step], e1 = sweep.msg_step_begin[step + 1];
  auto out = torch::zeros({rows, table.size(1)}, table.options());
  if (e1 == e0) return out;
  const auto weighted = table.index_select(0, sweep.msg_src_index.narrow(0, e0, e1 - e0)) *
                        sweep.msg_weight.narrow(0, e0, e1 - e0).to(table.scalar_type());
  return out.index_add_(0, sweep.msg_slot.narrow(0, e0, e1 - e0), weighted);
}

}  // namespace ghnas
