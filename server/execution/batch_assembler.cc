// Owns the gather/scatter copies of dynamic batching.
#include "server/execution/batch_assembler.h"

#include <cstring>

#include "core/status_macros.h"

namespace q8::server {
namespace {

int64_t RowBytes(const core::Dims& dims, core::DataType dtype) {
  int64_t n = core::SizeOf(dtype);
  for (size_t d = 1; d < dims.size(); ++d) n *= dims[d];
  return n;
}

core::Dims WithRows(const core::Dims& dims, int64_t rows) {
  core::Dims out = dims;
  if (!out.empty()) out[0] = rows;
  return out;
}

}  // namespace

BatchAssembler::BatchAssembler(const engine::CompiledModel& model) : model_(model) {
  for (const engine::TensorInfo& in : model_.inputs()) {
    for (size_t d = 1; d < in.dims.size(); ++d) fixed_samples_ &= in.dims[d] != core::kDynamicDim;
  }
}

bool BatchAssembler::CanMerge(const ExecutionRequest& a, const ExecutionRequest& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const core::Dims& x = a.inputs[i].dims;
    const core::Dims& y = b.inputs[i].dims;
    if (x.size() != y.size() || x.empty() || !std::equal(x.begin() + 1, x.end(), y.begin() + 1)) return false;
  }
  return true;
}

void BatchAssembler::Allocate(const ExecutionRequest& first) {
  const int64_t max_batch = model_.max_batch_size();
  input_staging_.clear();
  input_row_bytes_.clear();
  input_views_.clear();
  for (size_t i = 0; i < model_.inputs().size(); ++i) {
    const core::Dims dims = WithRows(first.inputs[i].dims, max_batch);
    input_staging_.emplace_back(model_.inputs()[i].dtype, dims);
    input_row_bytes_.push_back(RowBytes(dims, model_.inputs()[i].dtype));
    input_views_.push_back(input_staging_.back().view());
  }
  if (!fixed_samples_ && !output_staging_.empty()) return;  // outputs are sized per group
  output_staging_.clear();
  output_row_bytes_.clear();
  output_views_.clear();
  if (!fixed_samples_) {
    for (const engine::TensorInfo& out : model_.outputs()) {
      output_staging_.emplace_back(out.dtype, core::Dims{0});
      output_row_bytes_.push_back(0);
      output_views_.push_back(output_staging_.back().mutable_view());
    }
    return;
  }
  const std::vector<core::Dims> out_dims = model_.OutputDims(max_batch);
  for (size_t i = 0; i < out_dims.size(); ++i) {
    output_staging_.emplace_back(model_.outputs()[i].dtype, out_dims[i]);
    output_row_bytes_.push_back(RowBytes(out_dims[i], model_.outputs()[i].dtype));
    output_views_.push_back(output_staging_.back().mutable_view());
  }
}

absl::Status BatchAssembler::Gather(absl::Span<const ExecutionRequest* const> requests) {
  const ExecutionRequest& first = *requests[0];
  // Staging follows the sample shape of the group (fixed for most models).
  bool reshape = input_staging_.empty();
  for (size_t i = 0; !reshape && i < input_views_.size(); ++i) {
    const core::Dims& want = first.inputs[i].dims;
    const core::Dims& have = input_views_[i].dims;
    reshape = want.size() != have.size() || !std::equal(want.begin() + 1, want.end(), have.begin() + 1);
  }
  if (reshape) Allocate(first);
  int64_t total = 0;
  for (const ExecutionRequest* r : requests) {
    for (size_t i = 0; i < input_views_.size(); ++i) {
      std::memcpy(static_cast<char*>(input_staging_[i].data()) + total * input_row_bytes_[i], r->inputs[i].data,
                  static_cast<size_t>(r->batch * input_row_bytes_[i]));
    }
    total += r->batch;
  }
  // Views keep their dims vectors; only the batch dimension changes.
  for (core::TensorView& v : input_views_) v.dims[0] = total;
  if (fixed_samples_) {
    for (core::MutableTensorView& v : output_views_) v.dims[0] = total;
    return absl::OkStatus();
  }
  // Dynamic sample shapes: the plan for this group says the output dims.
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> out_dims, model_.OutputDimsFor(input_views_));
  for (size_t i = 0; i < out_dims.size() && i < output_staging_.size(); ++i) {
    const core::DataType dtype = model_.outputs()[i].dtype;
    if (core::NumElements(out_dims[i]) > output_staging_[i].num_elements()) {
      output_staging_[i] = core::Tensor(dtype, out_dims[i]);
    }
    output_row_bytes_[i] = RowBytes(out_dims[i], dtype);
    output_views_[i] = core::MutableTensorView{dtype, std::move(out_dims[i]), output_staging_[i].data()};
  }
  return absl::OkStatus();
}

void BatchAssembler::Scatter(absl::Span<const ExecutionRequest* const> requests) const {
  int64_t row = 0;
  for (const ExecutionRequest* r : requests) {
    for (size_t i = 0; i < output_views_.size(); ++i) {
      std::memcpy(r->outputs[i].data, static_cast<const char*>(output_staging_[i].data()) + row * output_row_bytes_[i],
                  static_cast<size_t>(r->batch * output_row_bytes_[i]));
    }
    row += r->batch;
  }
}

}  // namespace q8::server
