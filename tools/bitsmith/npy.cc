#include "npy.h"

#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "core/error.h"

namespace bitsmith::cli {

static_assert(std::endian::native == std::endian::little,
              "the .npy reader and writer assume a little-endian host");

namespace {

[[noreturn]] void io_fail(const std::string& path, const std::string& reason) {
  fail(ErrorKind::kIo, path + ": " + reason);
}

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// numpy evaluates it with ast.literal_eval; we accept exactly that grammar for
// the three keys numpy writes, and nothing else.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  void parse(std::string& descr, bool& fortran, Shape& shape) {
    std::map<std::string, bool> seen;
    skip_ws();
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      std::string key = parse_string();
      if (seen[key]) bad("key '" + key + "' appears twice");
      seen[key] = true;
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"') bad("structured dtypes are not supported");
        descr = parse_string();
      } else if (key == "fortran_order") {
        fortran = parse_bool();
      } else if (key == "shape") {
        shape = parse_shape();
      } else {
        bad("unexpected key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
      } else if (peek() != '}') {
        bad("expected ',' or '}'");
      }
    }
    for (const char* k : {"descr", "fortran_order", "shape"}) {
      if (!seen[k]) bad(std::string("key '") + k + "' is missing");
    }
    skip_ws();
    if (i_ != s_.size()) bad("unexpected text after the header dict");
  }

 private:
  [[noreturn]] void bad(const std::string& why) { io_fail(path_, "malformed .npy header: " + why); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string parse_string() {
    char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    ++i_;
    size_t end = s_.find(q, i_);
    if (end == std::string::npos) bad("unterminated string");
    std::string out = s_.substr(i_, end - i_);
    if (out.find('\\') != std::string::npos) bad("escapes in strings are not supported");
    i_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    bad("fortran_order must be True or False");
  }
  int64_t parse_dim() {
    if (!(peek() >= '0' && peek() <= '9')) bad("shape must be a tuple of non-negative integers");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (v > (int64_t{1} << 40)) bad("a dimension is absurdly large");
      v = v * 10 + (peek() - '0');
      ++i_;
    }
    return v;
  }
  Shape parse_shape() {
    Shape shape;
    expect('(');
    skip_ws();
    bool trailing_comma = false;
    while (peek() != ')') {
      shape.push_back(parse_dim());
      skip_ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++i_;
        trailing_comma = true;
        skip_ws();
      } else if (peek() != ')') {
        bad("expected ',' or ')' in the shape");
      }
    }
    ++i_;
    // "(3)" is the integer 3 in Python, not a tuple.
    if (shape.size() == 1 && !trailing_comma) bad("a 1-d shape needs a trailing comma, as in (3,)");
    return shape;
  }

  const std::string& path_;
  const std::string& s_;
  size_t i_ = 0;
};

uint32_t read_le(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int k = bytes - 1; k >= 0; --k)
    v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(k)]);
  return v;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) io_fail(path, std::string("cannot open the file (") + std::strerror(errno) + ")");
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  if (size < 0) io_fail(path, "cannot read the file");
  if (size > kMaxTensorBytes + (1 << 20))
    io_fail(path, "the file is larger than any tensor bitsmith accepts");
  f.seekg(0, std::ios::beg);
  std::string data(static_cast<size_t>(size), '\0');
  if (!f.read(data.data(), size)) io_fail(path, "cannot read the file");
  return data;
}

template <class T>
std::vector<T> decode(const std::string& data, size_t offset, size_t count) {
  std::vector<T> out(count);
  if (count) std::memcpy(out.data(), data.data() + offset, count * sizeof(T));
  return out;
}

}  // namespace

namespace {

// One .npy image (a file's bytes or an .npz member); `path` names it in messages.
NpyArray parse_npy(const std::string& path, const std::string& data) {
  static const char kMagic[] = "\x93NUMPY";
  if (data.size() < 10 || data.compare(0, 6, kMagic, 6) != 0)
    io_fail(path, "not a .npy file (bad magic bytes)");
  int major = static_cast<unsigned char>(data[6]), minor = static_cast<unsigned char>(data[7]);
  if (major < 1 || major > 3 || minor != 0) {
    io_fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                      std::to_string(minor));
  }
  size_t len_bytes = major == 1 ? 2 : 4;
  if (data.size() < 8 + len_bytes) io_fail(path, "truncated .npy header");
  size_t header_len = read_le(data, 8, static_cast<int>(len_bytes));
  size_t header_start = 8 + len_bytes;
  if (header_len > (size_t{1} << 20))
    io_fail(path, "malformed .npy header: header length is absurd");
  if (data.size() < header_start + header_len) io_fail(path, "truncated .npy header");
  std::string header = data.substr(header_start, header_len);
  if (header.empty() || header.back() != '\n')
    io_fail(path, "malformed .npy header: it must end with a newline");
  for (unsigned char c : header) {
    if (major < 3 && c >= 0x80) io_fail(path, "malformed .npy header: non-ASCII text");
  }

  NpyArray out;
  std::string descr;
  bool fortran = false;
  HeaderParser(path, header).parse(descr, fortran, out.shape);
  size_t item = 0;
  if (descr == "<f4") {
    out.dtype = "float32", item = 4;
  } else if (descr == "<f8") {
    out.dtype = "float64", item = 8;
  } else if (descr == "<i8") {
    out.dtype = "int64", item = 8;
  } else if (!descr.empty() && descr[0] == '>') {
    io_fail(path, "big-endian data ('" + descr + "') is not supported; save it little-endian");
  } else {
    io_fail(path, "unsupported dtype '" + descr +
                      "' (bitsmith reads float32, float64 and int64 .npy files)");
  }
  if (fortran) io_fail(path, "Fortran-order arrays are not supported; save a C-order array");

  int64_t count = 1;
  for (int64_t d : out.shape) {
    if (d != 0 && count > kMaxTensorElements / d)
      io_fail(path, "shape " + shape_str(out.shape) + " is too large");
    count *= d;
  }
  if (count > kMaxTensorElements) io_fail(path, "shape " + shape_str(out.shape) + " is too large");
  size_t offset = header_start + header_len;
  size_t need = static_cast<size_t>(count) * item;
  size_t have = data.size() - offset;
  if (have < need) {
    io_fail(path, "truncated data: shape " + shape_str(out.shape) + " needs " +
                      std::to_string(need) + " bytes, the file holds " + std::to_string(have));
  }
  if (have > need)
    io_fail(path, std::to_string(have - need) + " unexpected bytes after the array data");
  size_t n = static_cast<size_t>(count);
  if (out.dtype == "float32") out.f32 = decode<float>(data, offset, n);
  if (out.dtype == "float64") out.f64 = decode<double>(data, offset, n);
  if (out.dtype == "int64") out.i64 = decode<int64_t>(data, offset, n);
  return out;
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  return parse_npy(path, read_file(path));
}

// np.savez writes a zip of stored (uncompressed) .npy members; each local header
// gives the name and, directly or in its ZIP64 extra field, the size.
std::map<std::string, NpyArray> read_npz(const std::string& path) {
  const std::string data = read_file(path);
  std::map<std::string, NpyArray> out;
  size_t at = 0;
  while (at + 30 <= data.size() && read_le(data, at, 4) == 0x04034b50) {
    const uint32_t flags = read_le(data, at + 6, 2), method = read_le(data, at + 8, 2);
    uint64_t size = read_le(data, at + 18, 4);
    const size_t name_len = read_le(data, at + 26, 2), extra_len = read_le(data, at + 28, 2);
    if (at + 30 + name_len + extra_len > data.size()) io_fail(path, "truncated .npz member header");
    std::string name = data.substr(at + 30, name_len);
    if (method != 0) {
      io_fail(path, "member '" + name +
                        "' is compressed; save the inputs with np.savez (not savez_compressed)");
    }
    if (flags & 8) io_fail(path, "member '" + name + "' has no size in its header");
    if (size == 0xffffffffu) {  // ZIP64: the real size is in the extra field
      size_t e = at + 30 + name_len, end = e + extra_len;
      bool found = false;
      while (e + 4 <= end) {
        const uint32_t id = read_le(data, e, 2), len = read_le(data, e + 2, 2);
        if (id == 1 && len >= 16 && e + 4 + 16 <= end) {
          size = read_le(data, e + 4, 4) | (uint64_t{read_le(data, e + 8, 4)} << 32);
          found = true;
          break;
        }
        e += 4 + len;
      }
      if (!found) io_fail(path, "member '" + name + "' has a ZIP64 header without its size");
    }
    const size_t begin = at + 30 + name_len + extra_len;
    if (size > data.size() - begin) io_fail(path, "member '" + name + "' is truncated");
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
      name.resize(name.size() - 4);
    out[name] = parse_npy(path + ":" + name, data.substr(begin, static_cast<size_t>(size)));
    at = begin + static_cast<size_t>(size);
  }
  if (out.empty()) io_fail(path, "not an .npz file (no stored .npy members)");
  return out;
}

std::string npy_bytes(const Tensor& t) {
  Tensor f = t.type() == ElemType::kExact ? t.to(ElemType::kFloat32) : t;
  std::string shape = "(";
  for (size_t i = 0; i < f.shape().size(); ++i)
    shape += (i ? ", " : "") + std::to_string(f.shape()[i]);
  if (f.shape().size() == 1) shape += ",";
  shape += ")";
  std::string descr = f.type() == ElemType::kInt64 ? "<i8" : "<f4";
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so the data starts on a 64-byte boundary, as numpy does.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  if (f.type() == ElemType::kInt64) {
    out.append(reinterpret_cast<const char*>(f.i64().data()), f.i64().size() * sizeof(int64_t));
  } else {
    out.append(reinterpret_cast<const char*>(f.f32().data()), f.f32().size() * sizeof(float));
  }
  return out;
}

namespace {

uint32_t crc32(const std::string& data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put16(std::string& out, uint32_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& out, uint32_t v) {
  put16(out, v & 0xffff);
  put16(out, v >> 16);
}

// Zip "stored" entries (no compression), no zip64: np.load reads them as-is.
class ZipWriter {
 public:
  ZipWriter(const std::string& path, std::FILE* f) : path_(path), f_(f) {}

  void add(const std::string& name, const std::string& data) {
    if (data.size() >= 0xFFFFFFFFu || offset_ >= 0xFFFFFFFFu - data.size() - 1024 ||
        entries_ >= 0xFFFF) {
      io_fail(path_, "the arrays are too large for an .npz file without zip64");
    }
    uint32_t crc = crc32(data);
    uint16_t flags = 0;
    for (unsigned char c : name) {
      if (c >= 0x80) flags = 0x0800;  // the name is UTF-8
    }
    std::string local;
    put32(local, 0x04034b50);
    header_fields(local, flags, crc, data.size(), name.size());
    local += name;
    write(local);
    write(data);

    put32(central_, 0x02014b50);
    put16(central_, 20);  // made by: version 2.0
    header_fields(central_, flags, crc, data.size(), name.size());
    put16(central_, 0);  // comment length
    put16(central_, 0);  // disk number
    put16(central_, 0);  // internal attributes
    put32(central_, 0);  // external attributes
    put32(central_, static_cast<uint32_t>(offset_));
    central_ += name;
    offset_ += local.size() + data.size();
    ++entries_;
  }

  void finish() {
    if (offset_ + central_.size() >= 0xFFFFFFFFu)
      io_fail(path_, "the arrays are too large for an .npz file");
    std::string end;
    put32(end, 0x06054b50);
    put16(end, 0);
    put16(end, 0);
    put16(end, static_cast<uint32_t>(entries_));
    put16(end, static_cast<uint32_t>(entries_));
    put32(end, static_cast<uint32_t>(central_.size()));
    put32(end, static_cast<uint32_t>(offset_));
    put16(end, 0);
    write(central_);
    write(end);
  }

 private:
  static void header_fields(std::string& out, uint16_t flags, uint32_t crc, size_t size,
                            size_t name_len) {
    put16(out, 20);  // version needed: 2.0
    put16(out, flags);
    put16(out, 0);       // method: stored
    put16(out, 0);       // time 00:00:00
    put16(out, 0x0021);  // date 1980-01-01 (a fixed date keeps output reproducible)
    put32(out, crc);
    put32(out, static_cast<uint32_t>(size));  // compressed size
    put32(out, static_cast<uint32_t>(size));  // uncompressed size
    put16(out, static_cast<uint32_t>(name_len));
    put16(out, 0);  // extra field length
  }
  void write(const std::string& s) {
    if (!s.empty() && std::fwrite(s.data(), 1, s.size(), f_) != s.size()) {
      io_fail(path_, std::string("cannot write (") + std::strerror(errno) + ")");
    }
  }

  const std::string& path_;
  std::FILE* f_;
  std::string central_;
  size_t offset_ = 0;
  size_t entries_ = 0;
};

}  // namespace

void write_npz(const std::string& path,
               const std::vector<std::pair<std::string, const Tensor*>>& arrays) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) io_fail(path, std::string("cannot create the file (") + std::strerror(errno) + ")");
  try {
    ZipWriter zip(path, f);
    for (const auto& [name, t] : arrays) {
      if (name.empty() || name.size() > 0xFF00)
        io_fail(path, "cannot store an array named '" + name + "'");
      zip.add(name + ".npy", npy_bytes(*t));
    }
    zip.finish();
    if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) {
      io_fail(path, std::string("cannot write (") + std::strerror(errno) + ")");
    }
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    io_fail(path, std::string("cannot write (") + std::strerror(errno) + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    io_fail(path, std::string("cannot write (") + std::strerror(err) + ")");
  }
}

}  // namespace bitsmith::cli
