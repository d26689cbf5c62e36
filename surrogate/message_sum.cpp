#include "surrogate/message_sum.hpp"

#include "core/error.hpp"

namespace ghnas {

torch::Tensor message_sum(const torch::Tensor& table, const SweepPlan& sweep, std::int64_t step) {
  GHNAS_CHECK(sweep.msg_slot.defined(), "message_sum needs a sweep plan with gather tables (GhnBatch::to)");
  // Gather the messages, weight them, add them into their receivers: four kernels a step.
  const std::int64_t rows = sweep.step_begin[step + 1] - sweep.step_begin[step];
  const std::int64_t e0 = sweep.msg_step_begin[step], e1 = sweep.msg_step_begin[step + 1];
  auto out = torch::zeros({rows, table.size(1)}, table.options());
  if (e1 == e0) return out;
  const auto weighted = table.index_select(0, sweep.msg_src_index.narrow(0, e0, e1 - e0)) *
                        sweep.msg_weight.narrow(0, e0, e1 - e0).to(table.scalar_type());
  return out.index_add_(0, sweep.msg_slot.narrow(0, e0, e1 - e0), weighted);
}

}  // namespace ghnas
