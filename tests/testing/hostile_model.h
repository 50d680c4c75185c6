// A small CNN with one genuinely int8-hostile conv, shared by the precision
// ladder tests (engine and integration). Every output channel of the conv
// named "hostile" reads input channel 0 through one huge centre weight
// (+-1000, next to weights within +-0.2), and HostileSamples() makes that
// channel ~1000x smaller than the others. Int8 loses it twice (the
// per-tensor input scale rounds it to 0, the per-channel weight scale rounds
// the small weights to 0), so predictions flip; bf16 keeps 8 significant bits
// of every value and agrees with fp32. The other layers ("benign" conv,
// "head" MatMul) quantize well.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace q8::testing {

inline constexpr int64_t kHostileChannels = 4, kHostileSide = 8;

// ONNX bytes: x [N, 4, 8, 8] -> hostile Conv+Relu -> benign Conv -> Flatten
// -> head MatMul [512, 10] -> y [N, 10].
std::string HostileConvModel();
// n samples [n, 4, 8, 8], row-major, deterministic.
std::vector<float> HostileSamples(int64_t n);

}  // namespace q8::testing
