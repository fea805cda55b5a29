#pragma once

#include <cstdlib>  // defines __GLIBC__ on glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace easgate::memory {

// Hands the memory freed so far back to the system. glibc keeps what a process frees for its next
// allocations, and much of it for good when it was many small blocks: after a large structure that
// lived for a moment (a whole simulated organisation read for one of its mailboxes), a process that
// runs for months would otherwise carry its size. Elsewhere (Windows' heap) there is nothing to do.
inline void returnFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace easgate::memory
