/* What a target's memory and code-size needs change in otherwise portable kernels.  Targets that
 * need something else ship a variant of this file under this name, chosen by the target table
 * (compiler/targets.py, kernel_variants), so no kernel carries a target #ifdef.
 *
 * EDGEC_ROM qualifies the compile-time constants a model reads (weights, biases, multipliers, tables,
 * layer parameters).  Where flash is in the address space (Arm, RISC-V, hosts) it is empty: a const
 * object is already read from flash.
 * EDGEC_HELPER declares the requantization and dot-product helpers: `static inline` here, so the
 * compiler inlines them into each loop nest, which is fastest.
 * EDGEC_PATH declares a kernel's alternative loop nests (e.g. conv's pointwise, row and patch paths):
 * kept out of line where the compiler allows, so a call needs the stack of the deepest path, not of
 * all of them inlined into one frame. */
#ifndef EDGEC_TARGET_H
#define EDGEC_TARGET_H
#define EDGEC_ROM
#define EDGEC_HELPER static inline
#if defined(__GNUC__)
#define EDGEC_PATH static __attribute__((noinline))
#else
#define EDGEC_PATH static
#endif
#endif
