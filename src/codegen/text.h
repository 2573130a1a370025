// Text helpers the emitters share: C integer types from ranges, constant arrays
// written in rows, and small formatting utilities.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/program.h"

namespace bitsmith::codegen {

// The narrowest standard integer type holding the range. Unsigned types only for
// 8 and 16 bits: wider values use a signed type, so comparisons never mix
// signedness at int rank or above (clean under -Wextra).
std::string c_int_type(IntRange r);
IntRange range_of(const std::vector<int64_t>& values);

// An integer literal that is valid C++ for every int64 (INT64_MIN has no literal).
std::string int_literal(int64_t v);

// A 128-bit constant: a plain literal when it fits int64, else
// bitsmith_rt::make_i128(high, low).
std::string i128_literal(i128 v);
std::string i128_list(const std::vector<i128>& v, const std::string& indent);

// "{a, b, c, ...}" wrapped at about 100 columns, each line indented by `indent`.
std::string int_list(const std::vector<int64_t>& v, const std::string& indent);

// "{{row0...}, {row1...}}" for a [rows][cols] array.
std::string int_rows(const std::vector<int64_t>& v, int64_t rows, int64_t cols,
                     const std::string& indent);

// The buffer's shape as text, "(1, 64)".
std::string shape_text(const Shape& s);

// One-line description of a step for comments: "node 'MatMul_0' (MatMul): ...".
std::string describe(const Program& p, const Step& s);

}  // namespace bitsmith::codegen
