/* The two <string.h> functions the runtime uses, for freestanding emulator builds without a C
 * library (the toolchains of RECIPES.md ship none).  startup_cm.c defines them.  Firmware builds
 * use their own libc's <string.h>. */
#ifndef EDGEC_HARNESS_STRING_H
#define EDGEC_HARNESS_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
#endif
