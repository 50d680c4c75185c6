// `kernels_int8_bench conv_ceiling [rounds]`: how fast can ResNet-50's int8
// convolutions run on this CPU with oneDNN, whichever implementation q8serve
// picked? For each distinct convolution of ResNet-50 (batch 1, 224x224), it
// times every non-reference oneDNN implementation (u8 activations, s8 weights, per-channel scales, ReLU,
// as q8serve builds them) and, for 3x3 stride-1 layers, the int8 Winograd
// algorithm with its error against direct convolution. The sums bound what any
// plan built on oneDNN's direct int8 convolution can reach (BENCHMARKS.md,
// issue #14's 1.3x-over-ONNX-Runtime target). Threads: OMP_NUM_THREADS.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels::testing {
namespace {

constexpr double kWindowSeconds = 0.05;

using dnnl::algorithm;
using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

struct Layer {
  int ic, oc, in, k, stride, count;  // square input `in`; count = occurrences in ResNet-50
  int out() const { return (in + 2 * (k / 2) - k) / stride + 1; }
  double macs() const { return double(ic) * oc * k * k * out() * out(); }
};

// torchvision's ResNet-50 (stride on the 3x3), counted from its blocks.
const std::vector<Layer> kResNet50 = {
    {3, 64, 224, 7, 2, 1},     {64, 64, 56, 1, 1, 1},    {64, 64, 56, 3, 1, 3},    {64, 256, 56, 1, 1, 4},
    {256, 64, 56, 1, 1, 2},    {256, 128, 56, 1, 1, 1},  {128, 128, 56, 3, 2, 1},  {128, 512, 28, 1, 1, 4},
    {256, 512, 56, 1, 2, 1},   {512, 128, 28, 1, 1, 3},  {128, 128, 28, 3, 1, 3},  {512, 256, 28, 1, 1, 1},
    {256, 256, 28, 3, 2, 1},   {256, 1024, 14, 1, 1, 6}, {512, 1024, 28, 1, 2, 1}, {1024, 256, 14, 1, 1, 5},
    {256, 256, 14, 3, 1, 5},   {1024, 512, 14, 1, 1, 1}, {512, 512, 14, 3, 2, 1},  {512, 2048, 7, 1, 1, 3},
    {1024, 2048, 14, 1, 2, 1}, {2048, 512, 7, 1, 1, 2},  {512, 512, 7, 3, 1, 2},
};

struct Conv {
  dnnl::convolution_forward::primitive_desc pd;
  memory src, weights, bias, dst;
};

// Weights go through a reorder from f32 with scale 1, which is the only way
// into the Winograd weight format (it transforms, then quantizes).
Conv Make(const dnnl::convolution_forward::primitive_desc& pd, const std::vector<uint8_t>& src,
          const std::vector<float>& weights, dnnl::engine& engine, dnnl::stream& stream) {
  Conv c{pd, memory(pd.src_desc(), engine), memory(pd.weights_desc(), engine), memory(pd.bias_desc(), engine),
         memory(pd.dst_desc(), engine)};
  std::memcpy(c.src.get_data_handle(), src.data(), src.size());
  std::memset(c.bias.get_data_handle(), 0, pd.bias_desc().get_size());
  const memory::dims& wd = pd.weights_desc().dims();
  memory plain({wd, Dt::f32, Tag::oihw}, engine, const_cast<float*>(weights.data()));
  dnnl::primitive_attr attr;
  attr.set_output_scales(0, {1.f});
  dnnl::reorder(dnnl::reorder::primitive_desc(engine, plain.get_desc(), engine, c.weights.get_desc(), attr))
      .execute(stream, plain, c.weights);
  stream.wait();
  return c;
}

double MedianMs(Conv& c, dnnl::stream& stream, int rounds) {
  dnnl::convolution_forward prim(c.pd);
  const std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, c.src}, {DNNL_ARG_WEIGHTS, c.weights}, {DNNL_ARG_BIAS, c.bias}, {DNNL_ARG_DST, c.dst}};
  using Clock = std::chrono::steady_clock;
  std::vector<double> ms;
  for (int r = 0; r < rounds; ++r) {
    int n = 0;
    const auto start = Clock::now();
    double seconds = 0;
    do {
      prim.execute(stream, args);
      stream.wait();
      ++n;
      seconds = std::chrono::duration<double>(Clock::now() - start).count();
    } while (seconds < kWindowSeconds);
    ms.push_back(1e3 * seconds / n);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// f32 output (scale 1) so two algorithms' accumulators compare directly.
std::vector<float> Output(Conv& c, dnnl::stream& stream) {
  dnnl::convolution_forward(c.pd).execute(
      stream, {{DNNL_ARG_SRC, c.src}, {DNNL_ARG_WEIGHTS, c.weights}, {DNNL_ARG_BIAS, c.bias}, {DNNL_ARG_DST, c.dst}});
  stream.wait();
  const float* p = static_cast<const float*>(c.dst.get_data_handle());
  return std::vector<float>(p, p + c.pd.dst_desc().get_size() / sizeof(float));
}

// Calls fn on oneDNN's implementations of the layer in its order of
// preference (all of them, or only the first). The iterator keeps pointers
// into the op descriptor and attributes, so they must outlive it: hence a
// visitor rather than a returned primitive_desc.
template <typename Fn>
void ForEachImpl(const Layer& l, algorithm alg, Dt dst_type, bool relu, bool all, dnnl::engine& engine, Fn fn) {
  const int pad = l.k / 2;
  memory::desc src({1, l.ic, l.in, l.in}, Dt::u8, Tag::nhwc);
  memory::desc weights({l.oc, l.ic, l.k, l.k}, Dt::s8, Tag::any);
  memory::desc bias({l.oc}, Dt::f32, Tag::a);
  memory::desc dst({1, l.oc, l.out(), l.out()}, dst_type, Tag::nhwc);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, weights, bias, dst,
                                    {l.stride, l.stride}, {pad, pad}, {pad, pad});
  dnnl::primitive_attr attr;
  attr.set_output_scales(relu ? 2 : 0, std::vector<float>(relu ? l.oc : 1, relu ? 0.01f : 1.f));
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  dnnl::convolution_forward::primitive_desc pd(d, attr, engine);
  do {
    fn(pd);
  } while (all && pd.next_impl());
}

}  // namespace

// Median of `rounds` windows per implementation.
int ConvCeilingBench(int rounds) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::mt19937 rng(7);
  // Post-ReLU activations are half zeros; weights roughly Gaussian.
  std::normal_distribution<double> normal(0, 40);
  auto act = [&] { return static_cast<uint8_t>(std::min(255.0, std::max(0.0, normal(rng)))); };
  auto wei = [&] { return static_cast<float>(std::round(std::max(-127.0, std::min(127.0, normal(rng))))); };

  std::printf(
      "| conv (ic>oc, in, k/s) | x | MMAC | fastest impl | ms | slowest VNNI impl | ms | GMAC/s "
      "| winograd ms | winograd rel. RMS error |\n|---|---|---|---|---|---|---|---|---|---|\n");
  double best_total = 0, wino_total = 0, macs_total = 0, best_gmacs = 0;
  for (const Layer& l : kResNet50) {
    std::vector<uint8_t> src(size_t(l.ic) * l.in * l.in);
    for (auto& v : src) v = act();
    std::vector<float> weights(size_t(l.oc) * l.ic * l.k * l.k);
    for (auto& v : weights) v = wei();
    std::string best_impl, worst_impl;
    double best = 1e30, worst = 0;
    try {
      ForEachImpl(l, algorithm::convolution_direct, Dt::u8, true, true, engine, [&](const auto& pd) {
        const std::string impl = pd.impl_info_str();
        if (impl.find("ref") != std::string::npos) return;
        Conv c = Make(pd, src, weights, engine, stream);
        const double ms = MedianMs(c, stream, rounds);
        if (ms < best) best = ms, best_impl = impl;
        if (impl.find("vnni") != std::string::npos && ms > worst) worst = ms, worst_impl = impl;
      });
    } catch (const dnnl::error& e) {
      std::fprintf(stderr, "conv_ceiling: %s\n", e.what());
      return 1;
    }
    std::string wino_ms = "-", wino_err = "-";
    double layer_with_wino = best;
    if (l.k == 3 && l.stride == 1) {
      try {
        double ms = 0;
        ForEachImpl(l, algorithm::convolution_winograd, Dt::u8, true, false, engine, [&](const auto& pd) {
          Conv w = Make(pd, src, weights, engine, stream);
          ms = MedianMs(w, stream, rounds);
        });
        layer_with_wino = std::min(best, ms);
        char ms_text[32];
        std::snprintf(ms_text, sizeof(ms_text), "%.3f", ms);
        wino_ms = ms_text;
        std::vector<float> a, b;
        ForEachImpl(l, algorithm::convolution_direct, Dt::f32, false, false, engine, [&](const auto& pd) {
          Conv c = Make(pd, src, weights, engine, stream);
          a = Output(c, stream);
        });
        ForEachImpl(l, algorithm::convolution_winograd, Dt::f32, false, false, engine, [&](const auto& pd) {
          Conv c = Make(pd, src, weights, engine, stream);
          b = Output(c, stream);
        });
        double err = 0, ref = 0;
        for (size_t i = 0; i < a.size(); ++i) err += (b[i] - a[i]) * double(b[i] - a[i]), ref += a[i] * double(a[i]);
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.2f %%", 100 * std::sqrt(err / ref));
        wino_err = buf;
      } catch (const dnnl::error&) {
        wino_ms = "n/a";
      }
    }
    const double gmacs = l.macs() / (best * 1e6);
    best_gmacs = std::max(best_gmacs, gmacs);
    best_total += best * l.count;
    wino_total += layer_with_wino * l.count;
    macs_total += l.macs() * l.count;
    std::printf("| %d>%d, %d, %dx%d/%d | %d | %.1f | %s | %.3f | %s | %.3f | %.0f | %s | %s |\n", l.ic, l.oc, l.in, l.k,
                l.k, l.stride, l.count, l.macs() / 1e6, best_impl.c_str(), best, worst_impl.c_str(), worst, gmacs,
                wino_ms.c_str(), wino_err.c_str());
  }
  std::printf(
      "\nResNet-50 convolutions: %.2f GMAC; fastest direct implementation per layer, summed: %.2f ms "
      "(%.0f GMAC/s); best layer %.0f GMAC/s, i.e. %.2f ms if every layer ran that fast; "
      "with int8 Winograd where faster: %.2f ms\n",
      macs_total / 1e9, best_total, macs_total / (best_total * 1e6), best_gmacs, macs_total / (best_gmacs * 1e6),
      wino_total);
  return 0;
}

}  // namespace q8::kernels::testing
