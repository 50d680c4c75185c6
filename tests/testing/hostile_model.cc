// The int8-hostile CNN of hostile_model.h.
#include "tests/testing/hostile_model.h"

#include <random>

#include "tests/testing/onnx_builder.h"

namespace q8::testing {

std::string HostileConvModel() {
  constexpr int64_t kHidden = 8;
  OnnxBuilder b;
  b.Input("x", {-1, kHostileChannels, kHostileSide, kHostileSide}).Output("y");
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> small(-0.2f, 0.2f);
  std::vector<float> w1(kHidden * kHostileChannels * 9);
  for (float& v : w1) v = small(rng);
  // Input channel 0, centre tap (index 4 of the 3x3 window), alternating sign.
  for (int64_t o = 0; o < kHidden; ++o) w1[o * kHostileChannels * 9 + 4] = o % 2 == 0 ? 1000.0f : -1000.0f;
  b.FloatInitializer("w1", {kHidden, kHostileChannels, 3, 3}, w1).RandomInitializer("b1", {kHidden}, -0.1f, 0.1f);
  b.RandomInitializer("w2", {kHidden, kHidden, 3, 3}, -0.3f, 0.3f).RandomInitializer("b2", {kHidden}, -0.1f, 0.1f);
  b.RandomInitializer("fc", {kHidden * kHostileSide * kHostileSide, 10}, -0.1f, 0.1f);
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "hostile"), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r1"});
  OnnxBuilder::AttrInts(b.Node("Conv", {"r1", "w2", "b2"}, {"c2"}, "benign"), "pads", {1, 1, 1, 1});
  // Flatten, not pooling: the prediction must depend on the input.
  OnnxBuilder::AttrInt(b.Node("Flatten", {"c2"}, {"f"}), "axis", 1);
  b.Node("MatMul", {"f", "fc"}, {"y"}, "head");
  return b.Serialize();
}

std::vector<float> HostileSamples(int64_t n) {
  std::vector<float> x(n * kHostileChannels * kHostileSide * kHostileSide);
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0, 1);
  for (size_t i = 0; i < x.size(); ++i) {
    const bool channel0 = (i / (kHostileSide * kHostileSide)) % kHostileChannels == 0;
    x[i] = dist(rng) * (channel0 ? 1e-3f : 1.0f);
  }
  return x;
}

}  // namespace q8::testing
