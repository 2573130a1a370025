#include "codegen/text.h"

#include <algorithm>

namespace bitsmith::codegen {

std::string c_int_type(IntRange r) {
  if (r.lo >= 0 && r.hi <= 255) return "uint8_t";
  if (r.lo >= -128 && r.hi <= 127) return "int8_t";
  if (r.lo >= 0 && r.hi <= 65535) return "uint16_t";
  if (r.lo >= -32768 && r.hi <= 32767) return "int16_t";
  if (r.lo >= INT32_MIN && r.hi <= INT32_MAX) return "int32_t";
  return "int64_t";
}

IntRange range_of(const std::vector<int64_t>& values) {
  if (values.empty()) return {0, 0};
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  return {*lo, *hi};
}

std::string int_literal(int64_t v) {
  if (v == INT64_MIN) return "(-INT64_C(9223372036854775807) - 1)";
  if (v > INT32_MAX || v < INT32_MIN) return "INT64_C(" + std::to_string(v) + ")";
  return std::to_string(v);
}

std::string i128_literal(i128 v) {
  if (v >= INT64_MIN && v <= INT64_MAX) return int_literal(static_cast<int64_t>(v));
  const u128 u = static_cast<u128>(v);
  return "bitsmith_rt::make_i128(" + int_literal(static_cast<int64_t>(u >> 64)) + ", UINT64_C(" +
         std::to_string(static_cast<uint64_t>(u)) + "))";
}

namespace {
template <class T, class Lit>
std::string list_of(const std::vector<T>& v, const std::string& indent, Lit lit) {
  std::string out = "{", line;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = lit(v[i]) + (i + 1 < v.size() ? "," : "");
    if (!line.empty() && indent.size() + line.size() + item.size() + 1 > 100) {
      out += line + "\n" + indent;
      line.clear();
    }
    line += (line.empty() ? "" : " ") + item;
  }
  return out + line + "}";
}
}  // namespace

std::string int_list(const std::vector<int64_t>& v, const std::string& indent) {
  return list_of(v, indent, int_literal);
}

std::string i128_list(const std::vector<i128>& v, const std::string& indent) {
  return list_of(v, indent, i128_literal);
}

std::string int_rows(const std::vector<int64_t>& v, int64_t rows, int64_t cols,
                     const std::string& indent) {
  std::string out = "{";
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int64_t> row(v.begin() + r * cols, v.begin() + (r + 1) * cols);
    out += (r ? ",\n" + indent + " " : "") + int_list(row, indent + "  ");
  }
  return out + "}";
}

std::string shape_text(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

namespace {
std::string range_text(IntRange r) {
  return "[" + std::to_string(r.lo) + ", " + std::to_string(r.hi) + "]";
}
}  // namespace

std::string describe(const Program& p, const Step& s) {
  std::ostringstream o;
  o << "node '" << s.source << "': ";
  const Buffer& out = p.buffers[static_cast<size_t>(s.out)];
  switch (s.kind) {
    case StepKind::kFloatThresholds:
      o << "float32 input to levels " << range_text(out.range) << " by " << s.levels
        << " thresholds on the float32 line";
      break;
    case StepKind::kFixedInput:
      o << "float32 input read as fixed point q * 2^" << s.exp << ", |q| <= 2^" << s.bits;
      break;
    case StepKind::kLinear:
      if (s.conv) {
        o << s.geom.kh << "x" << s.geom.kw << " convolution " << s.geom.c << " -> " << s.n
          << " channels";
        if (s.geom.groups > 1) o << " in " << s.geom.groups << " groups";
      } else {
        o << "dense " << s.k << " -> " << s.n;
      }
      o << (s.bipolar ? ", +-1 inputs and weights" : "") << ", accumulator " << range_text(s.acc)
        << " (" << s.acc.bits() << " bits)";
      if (s.levels) o << ", " << s.levels << " thresholds per channel";
      break;
    case StepKind::kAdd:
      o << "residual sum " << s.a << "*a + " << s.b << "*b, range " << range_text(s.acc);
      if (s.levels) o << ", " << s.levels << " thresholds";
      break;
    case StepKind::kMaxPool:
      o << s.geom.kh << "x" << s.geom.kw << " max pooling";
      break;
    case StepKind::kTranspose:
      o << "transpose";
      break;
    case StepKind::kDequantize:
      o << "exact dequantization (num*q + add) / den * 2^" << s.deq.exp << ", " << s.deq.channels
        << " channel(s)";
      break;
    case StepKind::kSoftmax:
      o << "softmax in double precision";
      break;
    case StepKind::kRequant:
      o << "exact requantization round(num / divisor), " << s.channels << " channel(s), "
        << s.product_bits << "-bit products";
      break;
    case StepKind::kThreshold:
      o << s.levels << " thresholds per channel";
      break;
    case StepKind::kScale:
      o << "scale by " << s.a;
      break;
    case StepKind::kConcat:
      o << "concatenation of " << s.in.size() << " inputs";
      break;
    case StepKind::kSumPool:
      o << s.geom.kh << "x" << s.geom.kw << " sum pooling";
      break;
    case StepKind::kConvTranspose:
      o << s.geom.kh << "x" << s.geom.kw << " transposed convolution " << s.geom.c << " -> " << s.n
        << " channels, accumulator " << range_text(s.acc);
      break;
  }
  o << " -> " << out.ident << " " << shape_text(out.shape);
  if (out.kind == BufKind::kInt) o << " levels " << range_text(out.range);
  return o.str();
}

}  // namespace bitsmith::codegen
