// IntConvTranspose: a transposed convolution on integer levels, emitted by the
// lowering pass (src/passes/lower.cc) for ONNX ConvTranspose on an integer twin.
//
//   IntConvTranspose(q, W) attrs strides, pads, dilations, output_padding (one entry
//     per spatial axis; pads begin..., end...), group, input_zero
//
// q is int64 (N, Cin, H, W) or (N, Cin, W); W is int64 (Cin, Cout / group, kh, kw)
// (or (Cin, Cout / group, kw)), ONNX's layout. Output (N, Cout, OH, OW) with
// OH = (H - 1) * sh + (kh - 1) * dh + 1 + output_padding - pad_top - pad_bottom, and
//
//   acc[n, o, Y, X] = sum (q[n, i, y, x] - input_zero) * W[i, o mod (Cout / group), ky, kx]
//
// over the input channels i of o's group and the taps with Y = y * sh + ky * dh - pad_top,
// X = x * sw + kx * dw - pad_left. input_zero is the level of real 0, so with
// x = s * (q - input_zero) the real output is s * w_scale[o] * acc + bias[o] at every
// position (border positions receive fewer taps, and no zero-point term varies with them).
#include <algorithm>

#include "ops/registry.h"

namespace bitsmith {
namespace {

void eval_int_conv_transpose(EvalContext& c) {
  if (c.mode() != Mode::kExact) c.fail("lowered integer ops run in exact mode only");
  const Tensor& q = c.input(0);
  const Tensor& w = c.input(1);
  if (q.type() != ElemType::kInt64 || w.type() != ElemType::kInt64 || q.rank() != w.rank() ||
      (q.rank() != 3 && q.rank() != 4)) {
    c.fail("needs int64 levels and weights of rank 3 or 4");
  }
  const Node& n = c.node();
  const bool one_d = q.rank() == 3;
  const size_t sp = one_d ? 1 : 2;
  auto ints = [&](const char* name, size_t count, int64_t fill) {
    std::vector<int64_t> v = n.attr_ints(name, std::vector<int64_t>(count, fill));
    if (v.size() != count) c.fail(std::string(name) + " has the wrong length");
    if (!one_d) return v;
    // As 2-D with a unit height: stride and dilation 1, no padding along it.
    return count == 1 ? std::vector<int64_t>{fill, v[0]} : std::vector<int64_t>{0, v[0], 0, v[1]};
  };
  const std::vector<int64_t> s = ints("strides", sp, 1), d = ints("dilations", sp, 1),
                             p = ints("pads", 2 * sp, 0), op = ints("output_padding", sp, 0);
  const int64_t group = n.attr_int("group", 1), z = n.attr_int("input_zero", 0);
  const int64_t N = q.dim(0), Cin = q.dim(1), H = one_d ? 1 : q.dim(2), W = q.dim(one_d ? 2 : 3);
  const int64_t Cg = w.dim(1), kh = one_d ? 1 : w.dim(2), kw = w.dim(one_d ? 2 : 3);
  if (group < 1 || w.dim(0) != Cin || Cin % group != 0) c.fail("weights do not match the input");
  const int64_t Cout = Cg * group, cin_g = Cin / group;
  const int64_t OH = (H - 1) * s[0] + (kh - 1) * d[0] + 1 + op[0] - p[0] - p[2];
  const int64_t OW = (W - 1) * s[1] + (kw - 1) * d[1] + 1 + op[1] - p[1] - p[3];
  if (OH < 1 || OW < 1) c.fail("empty output");
  Tensor out(ElemType::kInt64, one_d ? Shape{N, Cout, OW} : Shape{N, Cout, OH, OW});
  std::fill(out.i64().begin(), out.i64().end(), 0);
  const int64_t* qv = q.i64().data();
  const int64_t* wv = w.i64().data();
  int64_t* o = out.i64().data();
  // A scatter: each input level adds its products to the outputs its taps reach. The
  // pass proves every sum fits int64.
  for (int64_t b = 0; b < N; ++b) {
    for (int64_t i = 0; i < Cin; ++i) {
      const int64_t g = i / cin_g;
      for (int64_t y = 0; y < H; ++y) {
        for (int64_t x = 0; x < W; ++x) {
          const int64_t v = qv[((b * Cin + i) * H + y) * W + x] - z;
          if (v == 0) continue;
          for (int64_t ol = 0; ol < Cg; ++ol) {
            const int64_t oc = g * Cg + ol;
            const int64_t* wk = wv + (i * Cg + ol) * kh * kw;
            int64_t* plane = o + (b * Cout + oc) * OH * OW;
            for (int64_t ky = 0; ky < kh; ++ky) {
              const int64_t Y = y * s[0] + ky * d[0] - p[0];
              if (Y < 0 || Y >= OH) continue;
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t X = x * s[1] + kx * d[1] - p[1];
                if (X >= 0 && X < OW) plane[Y * OW + X] += v * wk[ky * kw + kx];
              }
            }
          }
        }
      }
    }
  }
  c.set_output(0, std::move(out));
}

OpDef int_conv_transpose_def() {
  OpDef d;
  d.op_type = "IntConvTranspose";
  d.family = OpFamily::kLowered;
  d.min_inputs = 2;
  d.max_inputs = 2;
  d.eval = eval_int_conv_transpose;
  return d;
}

const OpRegistrar kIntConvTranspose(int_conv_transpose_def());

}  // namespace
}  // namespace bitsmith
