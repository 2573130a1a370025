// Worker threads for the integer kernels, from pthreadpool. A run sets how many
// threads its kernels may use with a ThreadScope (RunOptions::threads); kernels
// split their rows with parallel_for. Results never depend on the thread count:
// every output element is computed by exactly one thread, in the same order.
#pragma once
#include <cstdint>
#include <functional>

namespace bitsmith {

// BITSMITH_THREADS if set (>= 1), else the number of cores.
int default_threads();
// Threads the current run may use (default_threads() outside a scope).
int current_threads();

class ThreadScope {
 public:
  explicit ThreadScope(int threads);  // 0: default_threads()
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

// Calls fn(begin, end) over [0, n) in chunks of at least `grain` items, on up to
// current_threads() threads; inline when one chunk suffices.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace bitsmith
