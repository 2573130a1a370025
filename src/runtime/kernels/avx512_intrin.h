// <immintrin.h> for the *_avx512.cc files. GCC 12's avx512fintrin.h makes
// _mm512_undefined_* by initializing a variable from itself (GCC bug 105593,
// fixed in GCC 13), which -Wuninitialized / -Wmaybe-uninitialized flag inside
// the header once inlined. The pragmas silence exactly that for GCC; clang
// does not know -Wmaybe-uninitialized and needs nothing.
#pragma once
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
