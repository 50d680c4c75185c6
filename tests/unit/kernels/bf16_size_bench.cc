// `kernels_int8_bench bf16_sizes [rounds]`: where the bf16 rung pays. A
// layer that falls back from int8 runs in bf16 only when bf16 is faster than
// fp32 at its size; a lone bf16 layer between f32 neighbours pays one
// f32 -> bf16 reorder of its input (precision.h), which tiny layers cannot
// earn back. Per shape, one run of: fp32 (f32 in, f32 out) against
// reorder f32 -> bf16 + the bf16 primitive (bf16 weights, f32 out), over
// matmuls [M,K]x[K,N] and 3x3 convs (NHWC) from a few kMAC to a GMAC; then
// LayerNorm, Softmax and GELU at transformer shapes in f32, in bf16 alone,
// and in bf16 with the two seam reorders an f32 plan would add. Rounds
// interleave every variant; medians over rounds. The rule the quantizer
// applies (engine/quant/bf16_speed.h) comes from this table (BENCHMARKS.md,
// "bf16 rung of the precision ladder").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels::testing {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using Args = std::unordered_map<int, dnnl::memory>;

// Primitives run back to back as one variant; `impl` names the main one.
struct Chain {
  std::vector<std::pair<dnnl::primitive, Args>> steps;
  std::string impl;
  double RunMs(dnnl::stream& s, int iters) {
    std::vector<double> t;
    for (int i = 0; i < iters; ++i) {
      const auto start = std::chrono::steady_clock::now();
      for (auto& [p, a] : steps) p.execute(s, a);
      s.wait();
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  }
};

dnnl::memory Filled(const dnnl::memory::desc& d, const dnnl::engine& eng) {
  dnnl::memory m(d, eng);
  std::memset(m.get_data_handle(), 0, d.get_size());
  return m;
}

// f32 `src` converted into a new bf16 memory of the same layout: the seam.
dnnl::memory Seam(Chain& c, const dnnl::memory& src, const dnnl::engine& eng) {
  dnnl::memory::desc d = src.get_desc();
  dnnl::memory out(dnnl::memory::desc(d.dims(), dt::bf16, d.dims().size() == 4 ? tag::nhwc : tag::ab), eng);
  dnnl::reorder r(src, out);
  c.steps.push_back({r, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, out}}});
  return out;
}

// f32 output; `bf16`: the weights in bf16 and the input through a seam.
Chain MatMul(int64_t m, int64_t k, int64_t n, bool bf16, const dnnl::engine& eng) {
  Chain c;
  dnnl::memory x = Filled({{m, k}, dt::f32, tag::ab}, eng);
  if (bf16) x = Seam(c, x, eng);
  const dt w = bf16 ? dt::bf16 : dt::f32;
  dnnl::matmul::desc d(x.get_desc(), {{k, n}, w, tag::any}, {{m, n}, dt::f32, tag::ab});
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd(d, a, eng);
  c.impl = pd.impl_info_str();
  c.steps.push_back({dnnl::matmul(pd),
                     {{DNNL_ARG_SRC, x},
                      {DNNL_ARG_WEIGHTS, Filled(pd.weights_desc(), eng)},
                      {DNNL_ARG_DST, Filled(pd.dst_desc(), eng)},
                      {DNNL_ARG_SCRATCHPAD, Filled(pd.scratchpad_desc(), eng)}}});
  return c;
}

// 3x3 conv ic -> oc at hw x hw, pad 1, f32 bias and output, NHWC.
Chain Conv(int64_t ic, int64_t oc, int64_t hw, bool bf16, const dnnl::engine& eng) {
  Chain c;
  dnnl::memory x = Filled({{1, ic, hw, hw}, dt::f32, tag::nhwc}, eng);
  if (bf16) x = Seam(c, x, eng);
  const dt w = bf16 ? dt::bf16 : dt::f32;
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                    x.get_desc(), {{oc, ic, 3, 3}, w, tag::any}, {{oc}, dt::f32, tag::a},
                                    {{1, oc, hw, hw}, dt::f32, tag::nhwc}, {1, 1}, {1, 1}, {1, 1});
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::convolution_forward::primitive_desc pd(d, a, eng);
  c.impl = pd.impl_info_str();
  c.steps.push_back({dnnl::convolution_forward(pd),
                     {{DNNL_ARG_SRC, x},
                      {DNNL_ARG_WEIGHTS, Filled(pd.weights_desc(), eng)},
                      {DNNL_ARG_BIAS, Filled(pd.bias_desc(), eng)},
                      {DNNL_ARG_DST, Filled(pd.dst_desc(), eng)},
                      {DNNL_ARG_SCRATCHPAD, Filled(pd.scratchpad_desc(), eng)}}});
  return c;
}

enum class Norm { kLayerNorm, kSoftmax, kGelu };
// One memory-bound op over [rows, cols]: f32; bf16 in and out (`bf16`), and
// with `seams` also the f32 -> bf16 reorder before and bf16 -> f32 after.
Chain Elementwise(Norm op, int64_t rows, int64_t cols, bool bf16, bool seams, const dnnl::engine& eng) {
  Chain c;
  dnnl::memory x = Filled({{rows, cols}, dt::f32, tag::ab}, eng);
  if (bf16 && seams) {
    x = Seam(c, x, eng);
  } else if (bf16) {
    x = Filled({{rows, cols}, dt::bf16, tag::ab}, eng);
  }
  const dnnl::memory::desc md = x.get_desc();
  dnnl::memory y = Filled(md, eng);
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  Args args{{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}};
  if (op == Norm::kLayerNorm) {
    dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, md, 1e-5f,
                                              dnnl::normalization_flags::use_scale_shift);
    dnnl::layer_normalization_forward::primitive_desc pd(d, a, eng);
    c.impl = pd.impl_info_str();
    args[DNNL_ARG_SCALE_SHIFT] = Filled(pd.weights_desc(), eng);
    args[DNNL_ARG_MEAN] = Filled(pd.mean_desc(), eng);
    args[DNNL_ARG_VARIANCE] = Filled(pd.variance_desc(), eng);
    args[DNNL_ARG_SCRATCHPAD] = Filled(pd.scratchpad_desc(), eng);
    c.steps.push_back({dnnl::layer_normalization_forward(pd), args});
  } else if (op == Norm::kSoftmax) {
    dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, md, 1);
    dnnl::softmax_forward::primitive_desc pd(d, a, eng);
    c.impl = pd.impl_info_str();
    args[DNNL_ARG_SCRATCHPAD] = Filled(pd.scratchpad_desc(), eng);
    c.steps.push_back({dnnl::softmax_forward(pd), args});
  } else {
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_gelu_erf, md, 0, 0);
    dnnl::eltwise_forward::primitive_desc pd(d, a, eng);
    c.impl = pd.impl_info_str();
    args[DNNL_ARG_SCRATCHPAD] = Filled(pd.scratchpad_desc(), eng);
    c.steps.push_back({dnnl::eltwise_forward(pd), args});
  }
  if (bf16 && seams) {
    dnnl::memory back = Filled({{rows, cols}, dt::f32, tag::ab}, eng);
    c.steps.push_back({dnnl::reorder(y, back), {{DNNL_ARG_FROM, y}, {DNNL_ARG_TO, back}}});
  }
  return c;
}

struct Row {
  std::string name;
  double macs = 0;         // multiply-adds per run (0: memory-bound op)
  std::vector<Chain> var;  // [0] is the fp32 baseline
  std::vector<std::vector<double>> ms;
};

}  // namespace

void Bf16SizeBench(int rounds) {
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  std::vector<Row> rows;
  auto add_mm = [&](int64_t m, int64_t k, int64_t n) {
    Row r{"matmul " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n),
          static_cast<double>(m * k * n),
          {MatMul(m, k, n, false, eng), MatMul(m, k, n, true, eng)},
          {}};
    rows.push_back(std::move(r));
  };
  auto add_conv = [&](int64_t ic, int64_t oc, int64_t hw) {
    Row r{"conv3x3 " + std::to_string(ic) + "->" + std::to_string(oc) + " @" + std::to_string(hw),
          static_cast<double>(ic * oc * 9 * hw * hw),
          {Conv(ic, oc, hw, false, eng), Conv(ic, oc, hw, true, eng)},
          {}};
    rows.push_back(std::move(r));
  };
  for (int64_t d : {16, 32, 64, 128, 256, 512, 1024}) add_mm(1, d, d);
  add_mm(1, 784, 128);
  add_mm(1, 128, 10);
  for (int64_t d : {32, 64, 192}) add_mm(64, d, d);
  add_mm(197, 192, 768);
  add_conv(4, 8, 8);  // the int8-hostile test conv (tests/testing/hostile_model.h)
  add_conv(4, 64, 8);
  add_conv(1, 8, 28);
  add_conv(8, 16, 28);
  add_conv(16, 32, 14);
  add_conv(32, 64, 7);
  add_conv(32, 32, 28);
  add_conv(64, 64, 28);
  add_conv(64, 64, 56);
  struct NormShape {
    const char* name;
    Norm op;
    int64_t rows, cols;
  };
  const NormShape norms[] = {{"layernorm 197x768", Norm::kLayerNorm, 197, 768},
                             {"layernorm 128x768", Norm::kLayerNorm, 128, 768},
                             {"softmax 1536x128 (12 heads)", Norm::kSoftmax, 12 * 128, 128},
                             {"softmax 2364x197 (12 heads)", Norm::kSoftmax, 12 * 197, 197},
                             {"gelu 128x3072", Norm::kGelu, 128, 3072},
                             {"gelu 197x768", Norm::kGelu, 197, 768}};
  for (const NormShape& s : norms) {
    rows.push_back(
        {s.name,
         0,
         {Elementwise(s.op, s.rows, s.cols, false, false, eng), Elementwise(s.op, s.rows, s.cols, true, false, eng),
          Elementwise(s.op, s.rows, s.cols, true, true, eng)},
         {}});
  }
  // Iterations per variant so one measurement takes about 3 ms.
  std::vector<int> iters(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].ms.resize(rows[i].var.size());
    const double probe = std::max(1e-4, rows[i].var[0].RunMs(stream, 5));
    iters[i] = std::clamp(static_cast<int>(3.0 / probe), 5, 3000);
  }
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < rows.size(); ++i) {
      for (size_t v = 0; v < rows[i].var.size(); ++v) rows[i].ms[v].push_back(rows[i].var[v].RunMs(stream, iters[i]));
    }
  }
  auto median = [](std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  std::printf("| shape | MACs | fp32 impl | bf16 impl | fp32 us | bf16 us (incl. seam) | fp32/bf16 |\n");
  std::printf("|---|---:|---|---|---:|---:|---:|\n");
  for (const Row& r : rows) {
    if (r.macs == 0) continue;
    const double f = median(r.ms[0]), b = median(r.ms[1]);
    std::printf("| %s | %.0f | %s | %s | %.2f | %.2f | %.2f |\n", r.name.c_str(), r.macs, r.var[0].impl.c_str(),
                r.var[1].impl.c_str(), f * 1e3, b * 1e3, f / b);
  }
  std::printf("\n| op | f32 impl | bf16 impl | f32 us | bf16 us | bf16+seams us | f32/bf16 | f32/(bf16+seams) |\n");
  std::printf("|---|---|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    if (r.macs != 0) continue;
    const double f = median(r.ms[0]), b = median(r.ms[1]), s = median(r.ms[2]);
    std::printf("| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", r.name.c_str(), r.var[0].impl.c_str(),
                r.var[1].impl.c_str(), f * 1e3, b * 1e3, s * 1e3, f / b, f / s);
  }
}

}  // namespace q8::kernels::testing
