/*
 * kiln_rt.c - the exports every Kiln module needs (modules/ABI.md, "Exports"): kiln_abi_version and
 * kiln_alloc. Linked into each module by modules/build.ts.
 */
#include "kiln.h"

/* First byte after the linker's data and stack (wasm-ld defines it). */
extern unsigned char __heap_base;

static uintptr_t heap_next = 0;

KILN_EXPORT(kiln_abi_version) int32_t kiln_abi_version(void) { return KILN_ABI_VERSION; }

/* Bump allocator: blocks are never freed, which is what the ABI asks (the host reuses the sample buffer
 * itself, and data blobs live as long as the instance). Grows linear memory when the block does not fit. */
KILN_EXPORT(kiln_alloc) void *kiln_alloc(int32_t size) {
  if (size < 0) return 0;
  if (heap_next == 0) heap_next = (uintptr_t)&__heap_base;
  uintptr_t start = (heap_next + 15u) & ~(uintptr_t)15u;
  uintptr_t end = start + (uintptr_t)size;
  if (end < start) return 0;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (end > have) {
    uintptr_t pages = (end - have + 65535u) / 65536u;
    if (__builtin_wasm_memory_grow(0, pages) == (uintptr_t)-1) return 0;
  }
  heap_next = end;
  return (void *)start;
}
