// The counting allocator behind alloc_counter.h: global operator new/delete
// and glibc's malloc family, forwarding to glibc's own entry points.
#include "tests/testing/alloc_counter.h"

#include <dlfcn.h>
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};          // outside oneDNN/OpenMP
std::atomic<int64_t> g_library_allocations{0};  // inside libdnnl/libgomp
// A breakpoint here (gdb: break AllocationSeen) shows who allocates.
__attribute__((noinline)) void AllocationSeen() { asm volatile(""); }
bool CalledFromLibrary(void* caller) {
  Dl_info info;
  if (dladdr(caller, &info) == 0 || info.dli_fname == nullptr) return false;
  return std::strstr(info.dli_fname, "libdnnl") != nullptr || std::strstr(info.dli_fname, "libgomp") != nullptr;
}
#define Count()                                                        \
  do {                                                                 \
    if (g_counting.load(std::memory_order_relaxed)) {                  \
      if (CalledFromLibrary(__builtin_return_address(0))) {            \
        g_library_allocations.fetch_add(1, std::memory_order_relaxed); \
      } else {                                                         \
        g_allocations.fetch_add(1, std::memory_order_relaxed);         \
        AllocationSeen();                                              \
      }                                                                \
    }                                                                  \
  } while (false)
}  // namespace

namespace q8::testing {

void StartCountingAllocations() {
  g_allocations.store(0);
  g_library_allocations.store(0);
  g_counting.store(true);
}

void AllocateOnce() {
  static int* volatile sink;
  sink = new int(1);
  delete sink;
}

AllocationCounts StopCountingAllocations() {
  g_counting.store(false);
  return {g_allocations.load(), g_library_allocations.load()};
}

}  // namespace q8::testing

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) {
  Count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  Count();
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  Count();
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t a, size_t n) {
  Count();
  return __libc_memalign(a, n);
}
void* memalign(size_t a, size_t n) {
  Count();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  Count();
  void* p = __libc_memalign(a, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}

void* operator new(size_t n) {
  Count();
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t a) {
  Count();
  if (void* p = __libc_memalign(static_cast<size_t>(a), n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
