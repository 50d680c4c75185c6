// .npy parser/writer. The header is a Python dict literal; we parse only the
// three keys the format defines and reject anything we cannot map exactly.
#include "core/npy.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/checked_math.h"
#include "core/quote.h"

namespace q8::core {
namespace {

constexpr absl::string_view kMagic = "\x93NUMPY";

struct DescrEntry {
  absl::string_view descr;
  DataType type;
};
constexpr DescrEntry kDescrs[] = {
    {"<f4", DataType::kFloat32}, {"<f8", DataType::kFloat64}, {"<f2", DataType::kFloat16}, {"<i8", DataType::kInt64},
    {"<i4", DataType::kInt32},   {"<i2", DataType::kInt16},   {"|i1", DataType::kInt8},    {"|u1", DataType::kUInt8},
    {"<u2", DataType::kUInt16},  {"<u4", DataType::kUInt32},  {"<u8", DataType::kUInt64},  {"|b1", DataType::kBool},
};

// Returns the text after `key` in the header dict, e.g. for 'descr': "'<f4', ...".
absl::StatusOr<absl::string_view> ValueOf(absl::string_view header, absl::string_view key) {
  const std::string quoted = absl::StrCat("'", key, "'");
  size_t pos = header.find(quoted);
  if (pos == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(".npy header has no '", key, "' key"));
  }
  absl::string_view rest = header.substr(pos + quoted.size());
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (!absl::ConsumePrefix(&rest, ":")) {
    return absl::InvalidArgumentError(".npy header is malformed");
  }
  return absl::StripLeadingAsciiWhitespace(rest);
}

}  // namespace

absl::StatusOr<Tensor> ParseNpy(absl::string_view bytes) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic) {
    return absl::InvalidArgumentError("not a .npy file (missing \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return absl::InvalidArgumentError(".npy header is truncated");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= size_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
    header_start = 12;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported .npy format version ", major));
  }
  if (bytes.size() < header_start + header_len) {
    return absl::InvalidArgumentError(".npy header is truncated");
  }
  absl::string_view header = bytes.substr(header_start, header_len);

  auto descr_text = ValueOf(header, "descr");
  if (!descr_text.ok()) return descr_text.status();
  std::optional<DataType> dtype;
  std::string descr_str;
  {
    absl::string_view v = *descr_text;
    if (v.size() < 2 || v[0] != '\'') return absl::InvalidArgumentError(".npy descr is malformed");
    size_t end = v.find('\'', 1);
    if (end == absl::string_view::npos) return absl::InvalidArgumentError(".npy descr is malformed");
    descr_str = std::string(v.substr(1, end - 1));
    for (const DescrEntry& e : kDescrs) {
      if (e.descr == descr_str) dtype = e.type;
    }
    if (!dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported .npy dtype '", Quote(descr_str), "' (expected little-endian numeric, e.g. '<f4')"));
    }
  }

  auto fortran_text = ValueOf(header, "fortran_order");
  if (!fortran_text.ok()) return fortran_text.status();
  if (absl::StartsWith(*fortran_text, "True")) {
    return absl::InvalidArgumentError(".npy arrays in Fortran order are not supported; save with C order");
  }

  auto shape_text = ValueOf(header, "shape");
  if (!shape_text.ok()) return shape_text.status();
  Dims dims;
  {
    absl::string_view v = *shape_text;
    if (!absl::ConsumePrefix(&v, "(")) return absl::InvalidArgumentError(".npy shape is malformed");
    size_t end = v.find(')');
    if (end == absl::string_view::npos) return absl::InvalidArgumentError(".npy shape is malformed");
    for (absl::string_view part : absl::StrSplit(v.substr(0, end), ',', absl::SkipWhitespace())) {
      int64_t d = 0;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &d) || d < 0) {
        return absl::InvalidArgumentError(absl::StrCat(".npy shape has a bad dimension '", Quote(part), "'"));
      }
      dims.push_back(d);
    }
  }

  // Size from the header is checked (overflow, per-tensor limit) and against
  // the bytes actually present before anything is allocated.
  auto bytes_needed = CheckedByteSize(*dtype, dims, ".npy array");
  if (!bytes_needed.ok()) return bytes_needed.status();
  const size_t data_start = header_start + header_len;
  const size_t have = bytes.size() - data_start;
  if (have < static_cast<size_t>(*bytes_needed)) {
    return absl::InvalidArgumentError(absl::StrCat(".npy data is truncated: shape ", DimsToString(dims), " needs ",
                                                   *bytes_needed, " bytes, file has ", have));
  }
  Tensor t;
  try {
    t = Tensor(*dtype, dims);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory allocating a .npy array of ", *bytes_needed, " bytes"));
  }
  if (*bytes_needed > 0) std::memcpy(t.data(), bytes.data() + data_start, *bytes_needed);
  return t;
}

std::string SerializeNpy(const TensorView& tensor) {
  absl::string_view descr = "<f4";
  for (const DescrEntry& e : kDescrs) {
    if (e.type == tensor.dtype) descr = e.descr;
  }
  std::string shape;
  for (size_t i = 0; i < tensor.dims.size(); ++i) absl::StrAppend(&shape, tensor.dims[i], ",");
  if (tensor.dims.size() > 1) shape.pop_back();  // (3,) for 1-D, (2,3) otherwise
  std::string header = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (", shape, "), }");
  // Pad so that magic + len + header + '\n' is a multiple of 64.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out(kMagic);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  out.append(static_cast<const char*>(tensor.data), tensor.byte_size());
  return out;
}

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto t = ParseNpy(ss.str());
  if (!t.ok()) return absl::Status(t.status().code(), absl::StrCat(path, ": ", t.status().message()));
  return t;
}

absl::Status WriteNpyFile(const std::string& path, const TensorView& tensor) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  const std::string bytes = SerializeNpy(tensor);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return absl::DataLossError(absl::StrCat("short write to ", path));
  return absl::OkStatus();
}

}  // namespace q8::core
