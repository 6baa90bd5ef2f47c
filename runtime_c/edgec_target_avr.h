/* AVR, shipped as edgec_target.h (see that file).
 * EDGEC_ROM is the `__flash` named address space (avr-gcc, -std=gnu99): objects declared with it stay
 * in program memory (no copy to the 2 KB SRAM at start-up) and every read through a pointer to it
 * compiles to LPM, so the kernels' C is unchanged.
 * EDGEC_HELPER keeps the helpers out of line (one copy per kernel file; "unused" because a file may
 * not call them all): their 32- and 64-bit arithmetic is long on an 8-bit core, and inlined into
 * every loop nest it would not fit 32 KB of flash. */
#ifndef EDGEC_TARGET_H
#define EDGEC_TARGET_H
#define EDGEC_ROM __flash
#define EDGEC_HELPER static __attribute__((noinline, unused))
#define EDGEC_PATH static __attribute__((noinline))
#endif
