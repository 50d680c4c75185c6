// `kernels_int8_bench zero_points`: what an activation (src) zero point costs
// in oneDNN 2.6.3 int8 matmul and conv at transformer and CNN shapes, and
// which implementation it lands on. Per shape: u8 src without zero point (the
// symmetric-after-ReLU baseline, also what a zero point folded into the bias
// runs), s8 src without zero point (symmetric signed activations), u8 src
// with a common src zero point attribute (asymmetric). Rounds interleave the
// variants; the table shows per-variant medians over rounds and ratios to the
// u8 baseline (BENCHMARKS.md, "Asymmetric activations").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels::testing {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct Variant {
  const char* name;
  dt src;
  bool zero_point;
};
constexpr Variant kVariants[] = {{"u8", dt::u8, false}, {"s8", dt::s8, false}, {"u8+zp", dt::u8, true}};

// One primitive ready to run; `pd_info` is its implementation name.
struct Prim {
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
  std::string info;
};

double OneRunMs(dnnl::stream& s, Prim& p, int iters) {
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    p.prim.execute(s, p.args);
    s.wait();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <typename Pd>
void Fill(const dnnl::engine& eng, Prim& p, const Pd& pd, const dnnl::memory::desc& src, const dnnl::memory::desc& bias,
          const dnnl::memory::desc& dst, bool zp) {
  dnnl::memory sm(src, eng), wm(pd.weights_desc(), eng), bm(bias, eng), dm(dst, eng), sp(pd.scratchpad_desc(), eng);
  std::memset(sm.get_data_handle(), 3, src.get_size());
  std::memset(wm.get_data_handle(), 1, pd.weights_desc().get_size());
  std::memset(bm.get_data_handle(), 0, bias.get_size());
  p.args = {
      {DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, dm}, {DNNL_ARG_SCRATCHPAD, sp}};
  if (zp) {
    dnnl::memory z({{1}, dt::s32, tag::a}, eng);
    *static_cast<int32_t*>(z.get_data_handle()) = 37;
    p.args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = z;
  }
  p.info = pd.impl_info_str();
}

dnnl::primitive_attr Attr(int64_t oc, int mask, bool zp) {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  a.set_output_scales(mask, std::vector<float>(oc, 0.01f));
  if (zp) a.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  return a;
}

// [M,K] x [K,N] -> s8 [M,N], per-N output scales, f32 bias (a transformer Linear).
Prim MakeMatMul(const dnnl::engine& eng, int64_t m, int64_t k, int64_t n, const Variant& v) {
  const dnnl::memory::desc src({m, k}, v.src, tag::ab), w({k, n}, dt::s8, tag::any), b({1, n}, dt::f32, tag::ab),
      dst({m, n}, dt::s8, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, w, b, dst), Attr(n, 1 << 1, v.zero_point), eng);
  Prim p{dnnl::matmul(pd), {}, {}};
  Fill(eng, p, pd, src, b, dst, v.zero_point);
  return p;
}

// NHWC conv, mb1, padding k/2, s8 dst (a CNN layer without ReLU: where signed
// or skewed activations occur).
Prim MakeConv(const dnnl::engine& eng, int64_t ic, int64_t oc, int64_t hw, int64_t k, const Variant& v) {
  const int64_t pad = k / 2;
  const dnnl::memory::desc src({1, ic, hw, hw}, v.src, tag::nhwc), w({oc, ic, k, k}, dt::s8, tag::any),
      b({oc}, dt::f32, tag::a), dst({1, oc, hw, hw}, dt::s8, tag::nhwc);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, w, b,
                                    dst, {1, 1}, {pad, pad}, {pad, pad});
  dnnl::convolution_forward::primitive_desc pd(d, Attr(oc, 1 << 1, v.zero_point), eng);
  Prim p{dnnl::convolution_forward(pd), {}, {}};
  Fill(eng, p, pd, src, b, dst, v.zero_point);
  return p;
}

struct Shape {
  const char* name;
  bool conv;
  int64_t a, b, c, d;  // matmul: M, K, N; conv: IC, OC, HW, K
};

}  // namespace

void ZeroPointBench(int rounds) {
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const Shape shapes[] = {
      {"matmul 128x768x3072 (BERT-base FFN up, seq 128)", false, 128, 768, 3072, 0},
      {"matmul 128x3072x768 (BERT-base FFN down)", false, 128, 3072, 768, 0},
      {"matmul 32x768x768 (BERT-base proj, seq 32)", false, 32, 768, 768, 0},
      {"matmul 65x64x256 (tiny ViT FFN up, 64 patches + cls)", false, 65, 64, 256, 0},
      {"matmul 1x768x768 (one token)", false, 1, 768, 768, 0},
      {"conv 64->64 3x3 @56", true, 64, 64, 56, 3},
      {"conv 256->64 1x1 @56", true, 256, 64, 56, 1},
      {"conv 32->64 3x3 @14", true, 32, 64, 14, 3},
  };
  std::printf("| shape | variant | implementation | median ms | / u8 |\n|---|---|---|---|---|\n");
  for (const Shape& s : shapes) {
    std::vector<Prim> prims;
    for (const Variant& v : kVariants) {
      prims.push_back(s.conv ? MakeConv(eng, s.a, s.b, s.c, s.d, v) : MakeMatMul(eng, s.a, s.b, s.c, v));
    }
    for (Prim& p : prims) OneRunMs(stream, p, 5);  // warm up
    std::vector<std::vector<double>> ms(prims.size());
    for (int r = 0; r < rounds; ++r) {
      for (size_t i = 0; i < prims.size(); ++i) ms[i].push_back(OneRunMs(stream, prims[i], 15));
    }
    std::vector<double> med;
    for (auto& t : ms) {
      std::sort(t.begin(), t.end());
      med.push_back(t[t.size() / 2]);
    }
    for (size_t i = 0; i < prims.size(); ++i) {
      std::printf("| %s | %s | %s | %.4f | %.2f |\n", s.name, kVariants[i].name, prims[i].info.c_str(), med[i],
                  med[i] / med[0]);
    }
    std::fflush(stdout);
  }
}

}  // namespace q8::kernels::testing
