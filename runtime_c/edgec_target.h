/* What a target's memory and code-size needs change in otherwise portable kernels.  Targets that
 * need something else ship a variant of this file under this name, chosen by the target table
 * (compiler/targets.py, kernel_variants), so no kernel carries a target #ifdef.
 *
 * EDGEC_ROM qualifies the compile-time constants a model reads (weights, biases, multipliers, tables,
 * layer parameters).  Where flash is in the address space (Arm, RISC-V, hosts) it is empty: a const
 * object is already read from flash.
 * EDGEC_HELPER declares the requantization and dot-product helpers: `static inline` here, so the
 * compiler inlines them into each loop nest, which is fastest. */
#ifndef EDGEC_TARGET_H
#define EDGEC_TARGET_H
#define EDGEC_ROM
#define EDGEC_HELPER static inline
#endif
