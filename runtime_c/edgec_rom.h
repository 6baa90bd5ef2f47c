/* EDGEC_ROM qualifies the compile-time constants a model reads (weights, biases, multipliers, tables,
 * layer parameters).  Where flash is in the address space (Arm, RISC-V, hosts) it is empty: a const
 * object is already read from flash.  Harvard targets ship a variant of this file under this name
 * (edgec_rom_avr.h on AVR), chosen by the target table, so no kernel carries a target #ifdef. */
#ifndef EDGEC_ROM_H
#define EDGEC_ROM_H
#define EDGEC_ROM
#endif
