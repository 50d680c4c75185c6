// PyTorch-exported LSTM (2 layers, bidirectional, batch_first, runtime
// h0/c0), GRU (linear_before_reset=1), bidirectional ReLU RNN and
// F.interpolate (nearest, bilinear and bicubic, align_corners both ways,
// up and down) against PyTorch's own outputs. The models are exported at
// test time by tools/export_recurrent_resize.py (a ctest fixture).
// Tolerance: max |ours - torch| <= 2e-5 (values are O(1); oneDNN's GEMMs
// and PyTorch's reassociate fp32 sums differently). No step may run a
// oneDNN reference implementation, except GRU: oneDNN 2.6.3 has only its
// "ref" RNN driver for GRU cells (GEMMs on its jit sgemm; measured about as
// fast per gate as the brgemm LSTM, see OPERATORS.md), so a GRU must run
// exactly that and nothing slower.
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/compiler.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

struct TorchCase {
  const char* name;
  int inputs;
  int outputs;
};

class RecurrentTorchTest : public ::testing::TestWithParam<TorchCase> {};

TEST_P(RecurrentTorchTest, MatchesPyTorch) {
  const std::string dir = Q8_RECURRENT_DIR;
  const TorchCase c = GetParam();
  const std::string base = dir + "/" + c.name;
  ASSERT_TRUE(std::filesystem::exists(base + ".onnx"))
      << "missing " << base << ".onnx: the export_recurrent_resize fixture did not run";
  auto model = Compile(testing::ReadFile(base + ".onnx"), {.warmup_batch_sizes = {}});
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<core::Tensor> inputs;
  std::vector<core::TensorView> views;
  for (int k = 0; k < c.inputs; ++k) inputs.push_back(testing::LoadNpy(absl::StrCat(base, "_in", k, ".npy")));
  for (const core::Tensor& t : inputs) views.push_back(t.view());
  auto out = (*model)->Run(views);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), static_cast<size_t>(c.outputs));
  for (int k = 0; k < c.outputs; ++k) {
    const core::Tensor want = testing::LoadNpy(absl::StrCat(base, "_out", k, ".npy"));
    ASSERT_EQ((*out)[k].dims(), want.dims()) << c.name << " output " << k;
    EXPECT_LE(testing::MaxAbsDiff((*out)[k].span<float>(), want.span<float>()), 2e-5f) << c.name << " output " << k;
  }
  auto prims = (*model)->Primitives(inputs[0].dims()[0]);
  ASSERT_TRUE(prims.ok()) << prims.status();
  int resize_on_onednn = 0;
  for (const PrimitiveInfo& p : *prims) {
    resize_on_onednn += p.op == "Resize" && p.impl != "q8:cpp";
    if (p.op == "GRU") {
      EXPECT_EQ(p.impl, "ref") << p.node;
    } else {
      EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " (" << p.op << ") runs " << p.impl;
    }
  }
  // oneDNN resampling computes nearest x2 (asymmetric, floor) and bilinear x2
  // (pytorch_half_pixel); the other four need the C++ kernel.
  if (std::string(c.name) == "interpolate") {
    EXPECT_EQ(resize_on_onednn, 2);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RecurrentTorchTest,
                         ::testing::Values(TorchCase{"lstm_bi2", 3, 3}, TorchCase{"gru", 2, 2},
                                           TorchCase{"rnn_relu_bi", 2, 2}, TorchCase{"interpolate", 1, 6}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace q8::engine
