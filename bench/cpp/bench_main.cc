// The one main() of bitsmith_bench; every bench/cpp/*.cc file registers into it.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
