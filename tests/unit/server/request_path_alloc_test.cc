// The server's request path allocates nothing of its own once warm: a raw
// ModelInfer for the static int8 Fashion CNN, from the pooled slot (request
// copied in as gRPC parses it) through the registry lookup, input decoding,
// output layout, the executor (inline and through a stream thread), the
// statistics and the response, back to the pool. Allocations inside libdnnl
// and libgomp are reported, not failed (tests/testing/alloc_counter.h); the
// gRPC transport itself is not part of this path (InferBlocking stops where
// gRPC would serialize the response).
//
// Also pins down the pool's reuse and memory bounds: a slot that held a
// message over InferPool::kMaxPooledMessageBytes is freed, not kept.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/quantize.h"
#include "server/execution/model_executor.h"
#include "server/infer_slot.h"
#include "server/inference_service.h"
#include "server/model_registry.h"
#include "server/serving_state.h"
#include "tests/testing/alloc_counter.h"
#include "tests/unit/engine/test_util.h"

namespace q8::server {
namespace {

using engine::testing::DataPath;
using engine::testing::LoadNpy;
using engine::testing::ReadFile;
using q8::testing::AllocationsOf;

// Longer than std::string's inline buffer: a copied name would allocate.
constexpr char kModel[] = "fashion_cnn_int8_static_served";

class RequestPathAllocTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    const int64_t probe = AllocationsOf(q8::testing::AllocateOnce, 1);
    ASSERT_EQ(probe, 1);  // the counter sees allocations, or a zero proves nothing
    images_ = LoadNpy(DataPath("fashion_test_images.npy"));
    core::Tensor labels = LoadNpy(DataPath("fashion_test_labels.npy"));
    core::Tensor x(core::DataType::kFloat32, {100, 1, 28, 28});
    core::Tensor y(core::DataType::kInt64, {100});
    std::memcpy(x.data(), images_.data(), x.byte_size());
    std::memcpy(y.data(), labels.data(), y.byte_size());
    engine::CalibrationData data{std::move(x), std::move(y)};
    auto q = engine::Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, engine::QuantizationOptions{}, &data);
    ASSERT_TRUE(q.ok()) << q.status();
    ExecutorOptions options;
    options.layout = {1, 1};
    // Inline: runs on the calling thread when the stream is free; else every
    // request goes through the stream thread and back.
    options.inline_max_seconds = GetParam() ? 1.0 : 0;
    auto executor = ModelExecutor::Create(q->model, options);
    ASSERT_TRUE(executor.ok()) << executor.status();
    ASSERT_EQ((*executor)->runs_inline(), GetParam());
    ServedModel served(q->fp32_model);
    served.model = q->model;
    served.executor = *executor;
    model_ = q->model;
    registry_.Publish(kModel, {{1, served}});
    ASSERT_TRUE(state_.FinishStartup());
    service_ =
        std::make_unique<InferenceService>(&registry_, nullptr, &state_, int64_t{1} << 30, int64_t{1} << 30, nullptr);
  }

  // A raw request for images [0, batch) as q8bench and Triton clients send it.
  inference::ModelInferRequest Request(int64_t batch) const {
    inference::ModelInferRequest r;
    r.set_model_name(kModel);
    r.set_id("request-id-longer-than-sixteen-bytes");
    auto* in = r.add_inputs();
    in->set_name(model_->inputs()[0].name);
    in->set_datatype("FP32");
    for (int64_t d : {batch, int64_t{1}, int64_t{28}, int64_t{28}}) in->add_shape(d);
    r.add_raw_input_contents(static_cast<const char*>(images_.data()), batch * 28 * 28 * sizeof(float));
    return r;
  }

  core::Tensor images_;
  std::shared_ptr<const engine::CompiledModel> model_;
  ModelRegistry registry_;
  ServingState state_;
  std::unique_ptr<InferenceService> service_;
};

TEST_P(RequestPathAllocTest, RawRequestAllocatesNothing) {
  const inference::ModelInferRequest request = Request(1);
  // The reference: the same model run directly.
  auto expected = model_->Run({engine::testing::Rows(images_, 0, 1)});
  ASSERT_TRUE(expected.ok()) << expected.status();
  inference::ModelInferResponse response;
  absl::Status status;
  auto infer = [&] { status = service_->InferBlocking(request, &response); };
  // Warm-up: the pool's slot and the caller's response (swapped each call)
  // both reach their steady sizes.
  constexpr int kRuns = 200;
  const int64_t n = AllocationsOf(infer, kRuns, /*warmup=*/4);
  ASSERT_TRUE(status.ok()) << status;
  // Through the stream thread an occasional allocation (0 to 2 in 200
  // requests on a quiet machine, none under load) depends on timing; its
  // source is not identified yet (the slot pool, the staging buffers and the
  // executor's queue are ruled out). There the test bounds it at 1 in 20
  // requests: a per-request allocation still fails. Inline runs must be 0.
  const int64_t allowed = GetParam() ? 0 : kRuns / 20;
  EXPECT_LE(n, allowed) << "heap allocations in " << kRuns << " requests (inline " << GetParam() << ")";

  // The response is right, not merely cheap.
  ASSERT_EQ(response.model_name(), kModel);
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), request.id());
  ASSERT_EQ(response.outputs_size(), 1);
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const std::string& raw = response.raw_output_contents(0);
  ASSERT_EQ(raw.size(), (*expected)[0].byte_size());
  EXPECT_EQ(std::memcmp(raw.data(), (*expected)[0].data(), raw.size()), 0);
  EXPECT_EQ(response.outputs(0).shape_size(), 2);
}

INSTANTIATE_TEST_SUITE_P(InlineAndStream, RequestPathAllocTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Inline" : "Stream"; });

TEST(InferPoolTest, RecyclesClearedSlotsAndFreesLargeOnes) {
  InferPool pool;
  InferSlot* a = pool.Allocate();
  a->request()->add_raw_input_contents(std::string(1000, 'x'));
  a->response()->set_model_name("m");
  a->Release();
  EXPECT_EQ(pool.free_slots(), 1u);
  InferSlot* b = pool.Allocate();
  EXPECT_EQ(b, a);  // recycled, and cleared for the next call
  EXPECT_EQ(b->request()->raw_input_contents_size(), 0);
  EXPECT_TRUE(b->response()->model_name().empty());
  EXPECT_EQ(pool.free_slots(), 0u);
  // A slot that held more than the bound is freed, not kept resident.
  b->request()->add_raw_input_contents(std::string(InferPool::kMaxPooledMessageBytes, 'x'));
  b->Release();
  EXPECT_EQ(pool.free_slots(), 0u);
  // At most kMaxFreeSlots wait in the pool.
  std::vector<InferSlot*> many;
  for (size_t i = 0; i < InferPool::kMaxFreeSlots + 5; ++i) many.push_back(pool.Allocate());
  for (InferSlot* slot : many) slot->Release();
  EXPECT_EQ(pool.free_slots(), InferPool::kMaxFreeSlots);
}

}  // namespace
}  // namespace q8::server
