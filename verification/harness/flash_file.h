/* NOR flash for emulated and host devices, backed by a file (the device's flash image, e.g. DEV.flash):
 * erased bytes read 0xFF, programming only clears bits, erase sets a sector back to 0xFF.  On the
 * host through stdio, in the emulator through semihosting (EDGEC_SEMIHOST), one call per operation
 * and nothing cached, so a process killed at any moment leaves the file as the flash would be.
 * Power-loss injection for tests: edgec_flash_file_cut_after(n, how) makes the n-th operation from
 * now stop part way (a pseudo-random prefix of a program, part of a sector erased), or before its
 * first byte, or just after its last, and the program exit with EDGEC_FLASH_CUT_EXIT, as if the
 * supply had failed there. */
#ifndef EDGEC_FLASH_FILE_H
#define EDGEC_FLASH_FILE_H
#include <stdint.h>
#include "edgec_slots.h"

#define EDGEC_FLASH_CUT_EXIT 99
#define EDGEC_FLASH_CUT_PART 0u
#define EDGEC_FLASH_CUT_NONE_DONE 1u
#define EDGEC_FLASH_CUT_ALL_DONE 2u

/* Opens (or creates, erased) `path` as a flash of `size` bytes in sectors of `sector_size` that
 * programs whole, aligned units of `write_unit` bytes (it refuses other writes, as such parts do);
 * fills *flash with the driver.  0 on success. */
int edgec_flash_file_open(const char *path, uint32_t size, uint32_t sector_size, uint32_t write_unit, edgec_flash *flash);
void edgec_flash_file_close(void);
void edgec_flash_file_cut_after(uint32_t n, uint32_t how);
uint32_t edgec_flash_file_ops(void);

#endif
