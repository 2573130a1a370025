// bitsmith_int.h: integer helpers shared by generated C++ and HLS code. Plain
// templates over the integer type, so they compile for int64_t, __int128 and
// ap_int<W> alike (nothing here needs the standard library).
#ifndef BITSMITH_INT_H_
#define BITSMITH_INT_H_

namespace bitsmith_int {

// Rounding modes, numbered as bitsmith's RoundingMode: ROUND (half to even),
// HALF_UP / HALF_DOWN (ties away from / toward zero), CEIL, FLOOR, UP (away from
// zero), DOWN (toward zero).
enum Rounding { kHalfEven = 0, kHalfUp, kHalfDown, kCeil, kFloor, kUp, kDown };

// num / den rounded with `mode`, den > 0: the exact quotient, no float anywhere.
template <int kMode, class T>
T round_div(T num, T den) {
  T q = num / den, r = num % den;  // C++ truncates: make q the floor, r in [0, den)
  if (r < 0) {
    q -= 1;
    r += den;
  }
  if (r == 0) return q;
  const bool positive = num > 0;
  if (kMode == kFloor) return q;
  if (kMode == kCeil) return q + 1;
  if (kMode == kDown) return positive ? q : T(q + 1);
  if (kMode == kUp) return positive ? T(q + 1) : q;
  const T rest = den - r;  // distance to q + 1, compared with r (never doubled)
  if (r < rest) return q;
  if (r > rest) return q + 1;
  if (kMode == kHalfUp) return positive ? T(q + 1) : q;
  if (kMode == kHalfDown) return positive ? q : T(q + 1);
  return (q % 2 == 0) ? q : T(q + 1);
}

}  // namespace bitsmith_int

#endif  // BITSMITH_INT_H_
