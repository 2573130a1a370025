#include "runtime/threads.h"

#include <pthreadpool.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace bitsmith {
namespace {

thread_local int tls_threads = 0;

// One pool per thread count, created on first use and kept for the process.
pthreadpool_t pool_for(int threads) {
  static std::mutex mutex;
  static std::map<int, pthreadpool_t> pools;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = pools.find(threads);
  if (it == pools.end())
    it = pools.emplace(threads, pthreadpool_create(static_cast<size_t>(threads))).first;
  return it->second;
}

struct Job {
  const std::function<void(int64_t, int64_t)>* fn;
  int64_t n, chunk;
  std::mutex mutex;
  std::exception_ptr error;  // the first chunk's exception, rethrown by the caller
};

void run_chunk(void* ctx, size_t i) {
  Job& job = *static_cast<Job*>(ctx);
  int64_t begin = static_cast<int64_t>(i) * job.chunk;
  try {
    (*job.fn)(begin, std::min(job.n, begin + job.chunk));
  } catch (...) {
    // An exception must not leave a worker thread (std::terminate).
    std::lock_guard<std::mutex> lock(job.mutex);
    if (!job.error) job.error = std::current_exception();
  }
}

}  // namespace

int default_threads() {
  static const int n = [] {
    if (const char* env = std::getenv("BITSMITH_THREADS")) {
      int v = std::atoi(env);
      if (v < 1 || v > 1024) {
        fail(ErrorKind::kInput,
             std::string("BITSMITH_THREADS must be an integer in 1..1024, got '") + env + "'");
      }
      return v;
    }
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return n;
}

int current_threads() {
  return tls_threads > 0 ? tls_threads : default_threads();
}

ThreadScope::ThreadScope(int threads) : saved_(tls_threads) {
  if (threads < 0 || threads > 1024) {
    fail(ErrorKind::kInput,
         "threads must be in 0..1024 (0: default), got " + std::to_string(threads));
  }
  tls_threads = threads;
}

ThreadScope::~ThreadScope() {
  tls_threads = saved_;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int threads = current_threads();
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  Job job;
  job.fn = &fn;
  job.n = n;
  job.chunk = (n + chunks - 1) / chunks;
  // Yielding workers: on a shared machine, spinning ones steal the cores they wait for.
  pthreadpool_parallelize_1d(pool_for(threads), run_chunk, &job,
                             static_cast<size_t>((n + job.chunk - 1) / job.chunk),
                             PTHREADPOOL_FLAG_YIELD_WORKERS);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace bitsmith
