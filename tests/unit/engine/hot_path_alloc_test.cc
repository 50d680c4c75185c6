// The request hot path allocates nothing of its own: after warm-up,
// CompiledModel::Run (fp32 and static int8 Fashion CNN, a model of data-op steps) and a ModelExecutor
// execution (alone and merged) make zero heap allocations outside oneDNN and
// OpenMP.
//
// Counting: tests/testing/alloc_counter.h (every allocation in the process,
// those inside libdnnl and libgomp reported, not failed). Everything else
// (this binary, libstdc++ on its behalf) must be zero.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/quantize.h"
#include "server/execution/model_executor.h"
#include "tests/testing/alloc_counter.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using testing::DataPath;
using testing::ReadFile;

using q8::testing::AllocationsOf;

class HotPathAllocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The counter must see allocations at all, or a zero below proves nothing.
    const int64_t probe = AllocationsOf(q8::testing::AllocateOnce, 1);
    ASSERT_EQ(probe, 1);
    images_ = testing::LoadNpy(DataPath("fashion_test_images.npy"));
  }
  core::Tensor images_;
};

void ExpectRunAllocatesNothing(const CompiledModel& model, const core::Tensor& images, int64_t batch) {
  const core::TensorView in = testing::Rows(images, 0, batch);
  core::Tensor out(core::DataType::kFloat32, model.OutputDims(batch)[0]);
  const core::MutableTensorView out_view = out.mutable_view();
  absl::Status status;
  const int64_t n =
      AllocationsOf([&] { status = model.Run(absl::MakeConstSpan(&in, 1), absl::MakeConstSpan(&out_view, 1)); });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(n, 0) << "heap allocations in 20 runs at batch " << batch;
}

TEST_F(HotPathAllocTest, Fp32RunAllocatesNothing) {
  auto model = Compile(ReadFile(DataPath("fashion_cnn.onnx")), {.warmup_batch_sizes = {1}});
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectRunAllocatesNothing(**model, images_, 1);
  ExpectRunAllocatesNothing(**model, images_, 16);
}

TEST_F(HotPathAllocTest, DataOpsRunAllocatesNothing) {
  // Pad(reflect) -> Slice(step 2) -> Tile -> Transpose -> Gather -> Split -> Mul: the plain C++ data-op steps.
  q8::testing::OnnxBuilder b;
  b.Input("x", {-1, 1, 28, 28}).Output("y");
  b.Int64Initializer("pads", {8}, {0, 0, 2, 2, 0, 0, 2, 2});
  b.Int64Initializer("starts", {2}, {0, 0}).Int64Initializer("ends", {2}, {32, 32});
  b.Int64Initializer("axes", {2}, {2, 3}).Int64Initializer("steps", {2}, {2, 2});
  b.Int64Initializer("reps", {4}, {1, 3, 1, 1}).Int64Initializer("idx", {2}, {2, 0});
  q8::testing::OnnxBuilder::AttrString(b.Node("Pad", {"x", "pads"}, {"p"}), "mode", "reflect");
  b.Node("Slice", {"p", "starts", "ends", "axes", "steps"}, {"s"});
  b.Node("Tile", {"s", "reps"}, {"t"});
  q8::testing::OnnxBuilder::AttrInts(b.Node("Transpose", {"t"}, {"tt"}), "perm", {0, 2, 3, 1});
  q8::testing::OnnxBuilder::AttrInt(b.Node("Gather", {"tt", "idx"}, {"g"}), "axis", 3);
  q8::testing::OnnxBuilder::AttrInt(b.Node("Split", {"g"}, {"a", "c"}), "axis", 3);
  b.Node("Mul", {"a", "c"}, {"y"});
  auto model = Compile(b.Serialize(), {.warmup_batch_sizes = {1}});
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectRunAllocatesNothing(**model, images_, 1);
  ExpectRunAllocatesNothing(**model, images_, 16);
}

TEST_F(HotPathAllocTest, ResizeAndLstmRunAllocatesNothing) {
  // Resize (cubic: C++ kernel; nearest x2: oneDNN resampling) -> LSTM over the image rows.
  q8::testing::OnnxBuilder b(14);
  b.Input("x", {-1, 1, 28, 28}).Output("y");
  b.FloatInitializer("roi", {0}, {}).FloatInitializer("cubic", {4}, {1, 1, 1.5f, 1.5f});
  b.FloatInitializer("twice", {4}, {1, 1, 2, 2}).Int64Initializer("rows", {3}, {0, 84, 84});
  b.RandomInitializer("w", {1, 32, 84}).RandomInitializer("r", {1, 32, 8});
  q8::testing::OnnxBuilder::AttrString(b.Node("Resize", {"x", "roi", "cubic"}, {"c"}), "mode", "cubic");
  auto& nearest = b.Node("Resize", {"c", "roi", "twice"}, {"n"});
  q8::testing::OnnxBuilder::AttrString(nearest, "coordinate_transformation_mode", "asymmetric");
  q8::testing::OnnxBuilder::AttrString(nearest, "nearest_mode", "floor");
  b.Node("Reshape", {"n", "rows"}, {"seq"});
  auto& lstm = b.Node("LSTM", {"seq", "w", "r"}, {"y"});
  q8::testing::OnnxBuilder::AttrInt(lstm, "hidden_size", 8);
  q8::testing::OnnxBuilder::AttrInt(lstm, "layout", 1);
  auto model = Compile(b.Serialize(), {.warmup_batch_sizes = {1}});
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectRunAllocatesNothing(**model, images_, 1);
  ExpectRunAllocatesNothing(**model, images_, 16);
}

TEST_F(HotPathAllocTest, StaticInt8RunAllocatesNothing) {
  core::Tensor labels = testing::LoadNpy(DataPath("fashion_test_labels.npy"));
  core::Tensor x(core::DataType::kFloat32, {100, 1, 28, 28});
  core::Tensor y(core::DataType::kInt64, {100});
  std::memcpy(x.data(), images_.data(), x.byte_size());
  std::memcpy(y.data(), labels.data(), y.byte_size());
  CalibrationData data{std::move(x), std::move(y)};
  auto q = Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, QuantizationOptions{}, &data);
  ASSERT_TRUE(q.ok()) << q.status();
  ExpectRunAllocatesNothing(*q->model, images_, 1);
  ExpectRunAllocatesNothing(*q->model, images_, 16);
}

// Dynamic int8 (dynamic Conv and Gemms): per-run ranges, quantized inputs,
// scales, zero points and biases all live in the workspace.
TEST_F(HotPathAllocTest, DynamicInt8RunAllocatesNothing) {
  QuantizationOptions options;
  options.mode = QuantMode::kDynamic;
  auto q = Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, options, nullptr);
  ASSERT_TRUE(q.ok()) << q.status();
  int dynamic_layers = 0;
  for (const auto& l : q->report.layers) dynamic_layers += l.precision == "int8-dynamic";
  ASSERT_EQ(dynamic_layers, 4);
  ExpectRunAllocatesNothing(*q->model, images_, 1);
  ExpectRunAllocatesNothing(*q->model, images_, 16);
}

// Through the executor: the request thread hands over to a stream thread
// and back; with dynamic batching the stream gathers and scatters. Counting
// is process-wide here, so it includes the stream threads.
TEST_F(HotPathAllocTest, ExecutorAllocatesNothing) {
  auto model = Compile(ReadFile(DataPath("fashion_cnn.onnx")), {.warmup_batch_sizes = {1}});
  ASSERT_TRUE(model.ok()) << model.status();
  for (bool batching : {false, true}) {
    server::ExecutorOptions o;
    o.layout = {1, 1};
    o.batching.enabled = batching;
    o.batching.max_queue_delay_us = 0;
    o.warmup_batch_sizes = {2};
    auto executor = server::ModelExecutor::Create(*model, o);
    ASSERT_TRUE(executor.ok()) << executor.status();
    const core::TensorView in = testing::Rows(images_, 0, 2);
    core::Tensor out(core::DataType::kFloat32, (*model)->OutputDims(2)[0]);
    const core::MutableTensorView out_view = out.mutable_view();
    server::ExecutionRequest request;
    request.inputs = absl::MakeConstSpan(&in, 1);
    request.outputs = absl::MakeConstSpan(&out_view, 1);
    request.batch = 2;
    absl::Status status;
    const int64_t n = AllocationsOf([&] { status = (*executor)->Execute(request, nullptr); });
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(n, 0) << "heap allocations in 20 executions, batching " << batching;
  }
}

}  // namespace
}  // namespace q8::engine
