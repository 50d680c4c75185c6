// MaxPool's Indices output against a plain C++ reference of ONNX's
// definition (flat index into the whole input of each window's first
// maximum; storage_order 1 numbers H and W column-major), on several
// channels so the channels-last pooling input is reordered for the indices
// step, with padding and strides.
#include <gtest/gtest.h>

#include <random>

#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

constexpr int64_t kN = 2, kC = 3, kH = 5, kW = 6, kK = 3, kS = 2, kP = 1;
constexpr int64_t kOh = (kH + 2 * kP - kK) / kS + 1, kOw = (kW + 2 * kP - kK) / kS + 1;

std::vector<float> Reference(const std::vector<float>& x, bool column_major) {
  std::vector<float> idx;
  for (int64_t p = 0; p < kN * kC; ++p) {
    for (int64_t oh = 0; oh < kOh; ++oh) {
      for (int64_t ow = 0; ow < kOw; ++ow) {
        int64_t bh = -1, bw = -1;
        for (int64_t kh = 0; kh < kK; ++kh) {
          for (int64_t kw = 0; kw < kK; ++kw) {
            const int64_t h = oh * kS - kP + kh, w = ow * kS - kP + kw;
            if (h < 0 || h >= kH || w < 0 || w >= kW) continue;
            if (bh < 0 || x[p * kH * kW + h * kW + w] > x[p * kH * kW + bh * kW + bw]) bh = h, bw = w;
          }
        }
        idx.push_back(static_cast<float>(p * kH * kW + (column_major ? bw * kH + bh : bh * kW + bw)));
      }
    }
  }
  return idx;
}

TEST(MaxPoolIndicesTest, MatchesTheReferenceInBothStorageOrders) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(kN * kC * kH * kW);
  for (float& v : x) v = u(rng);
  for (int64_t order : {0, 1}) {
    SCOPED_TRACE(order);
    OnnxBuilder b(12);
    b.Input("x", {-1, kC, kH, kW}).Output("y").Output("i");
    b.model().mutable_graph()->mutable_output(1)->mutable_type()->mutable_tensor_type()->set_elem_type(
        onnx::TensorProto::INT64);
    auto& n = b.Node("MaxPool", {"x"}, {"y", "i"});
    OnnxBuilder::AttrInts(n, "kernel_shape", {kK, kK});
    OnnxBuilder::AttrInts(n, "strides", {kS, kS});
    OnnxBuilder::AttrInts(n, "pads", {kP, kP, kP, kP});
    OnnxBuilder::AttrInt(n, "storage_order", order);
    CompileOptions o;
    o.warmup_batch_sizes = {};
    auto m = Compile(b.Serialize(), o);
    ASSERT_TRUE(m.ok()) << m.status();
    const core::Tensor xt = core::Tensor::FromFloats({kN, kC, kH, kW}, x);
    auto out = (*m)->Run({xt.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    const core::Tensor& idx = (*out)[1];
    ASSERT_EQ(idx.dtype(), core::DataType::kInt64);
    ASSERT_EQ(idx.dims(), (core::Dims{kN, kC, kOh, kOw}));
    const std::vector<float> want = Reference(x, order == 1);
    for (int64_t i = 0; i < idx.num_elements(); ++i) {
      EXPECT_EQ(idx.span<int64_t>()[i], static_cast<int64_t>(want[i])) << i;
      // Y is the value a row-major index points at.
      if (order == 0) {
        EXPECT_EQ((*out)[0].span<float>()[i], x[static_cast<size_t>(want[i])]) << i;
      }
    }
  }
}

}  // namespace
}  // namespace q8::engine
