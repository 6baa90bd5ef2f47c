/* EDGEC_ROM on AVR: the `__flash` named address space (avr-gcc, -std=gnu99).  Objects declared with it
 * stay in program memory (no copy to the 2 KB SRAM at start-up) and every read through a pointer to
 * it compiles to LPM, so the kernels' C is unchanged.  Shipped as edgec_rom.h for AVR targets. */
#ifndef EDGEC_ROM_H
#define EDGEC_ROM_H
#define EDGEC_ROM __flash
#endif
