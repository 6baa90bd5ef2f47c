/* edgec_flash over a file: see flash_file.h. */
#include <stdint.h>
#include "flash_file.h"

#ifdef EDGEC_SEMIHOST
#include "semihost.h"
typedef intptr_t handle;
enum { SH_SEEK = 0x0A, SH_FLEN = 0x0C, SH_MODE_RPB = 3, SH_MODE_WPB = 7 };
static handle f_open(const char *path, int create) { return sh_open(path, create ? SH_MODE_WPB : SH_MODE_RPB); }
static int f_ok(handle h) { return h >= 0; }
static int f_seek(handle h, uint32_t at) { intptr_t a[2]; a[0] = h; a[1] = (intptr_t)at; return sh_call(SH_SEEK, a) == 0 ? 0 : -1; }
static long f_len(handle h) { intptr_t a[1]; a[0] = h; return (long)sh_call(SH_FLEN, a); }
static int f_read(handle h, uint8_t *b, uint32_t n) { return sh_read(h, b, (intptr_t)n) == (intptr_t)n ? 0 : -1; }
static int f_write(handle h, const uint8_t *b, uint32_t n) { return sh_write(h, b, (intptr_t)n) == (intptr_t)n ? 0 : -1; }
static void f_close(handle h) { sh_close(h); }
static void die(void) { sh_exit(EDGEC_FLASH_CUT_EXIT); }
#define NO_HANDLE (-1)
#else
#include <stdio.h>
#include <stdlib.h>
typedef FILE *handle;
static handle f_open(const char *path, int create) { return fopen(path, create ? "w+b" : "r+b"); }
static int f_ok(handle h) { return h != NULL; }
static int f_seek(handle h, uint32_t at) { return fseek(h, (long)at, SEEK_SET); }
static long f_len(handle h) { return fseek(h, 0, SEEK_END) == 0 ? ftell(h) : -1; }
static int f_read(handle h, uint8_t *b, uint32_t n) { return fread(b, 1, n, h) == n ? 0 : -1; }
static int f_write(handle h, const uint8_t *b, uint32_t n) { return fwrite(b, 1, n, h) == n && fflush(h) == 0 ? 0 : -1; }
static void f_close(handle h) { fclose(h); }
static void die(void) { exit(EDGEC_FLASH_CUT_EXIT); }
#define NO_HANDLE NULL
#endif

static handle file = NO_HANDLE;
static uint32_t flash_size, unit, ops, cut_at, cut_how;
static uint8_t buf[256];

/* Counts an operation; at the cut, how many of its n units happen before the power fails. */
static uint32_t cut_point(uint32_t n)
{
    ops++;
    if (cut_at == 0 || ops != cut_at)
        return n + 1u;
    if (cut_how == EDGEC_FLASH_CUT_NONE_DONE)
        return 0;
    if (cut_how == EDGEC_FLASH_CUT_ALL_DONE)
        return n;
    return (ops * 2654435761u >> 7) % (n + 1u);          /* a pseudo-random part: 0..n units */
}

static int in_range(uint32_t addr, uint32_t len) { return addr <= flash_size && len <= flash_size - addr; }

static int fill(uint32_t addr, uint32_t len, uint8_t v)
{
    uint32_t i;
    for (i = 0; i < sizeof buf; i++)
        buf[i] = v;
    if (f_seek(file, addr) != 0)
        return -1;
    while (len) {
        uint32_t n = len < sizeof buf ? len : (uint32_t)sizeof buf;
        if (f_write(file, buf, n) != 0)
            return -1;
        len -= n;
    }
    return 0;
}

static int ff_read(void *ctx, uint32_t addr, uint8_t *out, uint32_t len)
{
    (void)ctx;
    if (!in_range(addr, len) || f_seek(file, addr) != 0)
        return -1;
    return len ? f_read(file, out, len) : 0;
}

static int ff_write(void *ctx, uint32_t addr, const uint8_t *src, uint32_t len)
{
    uint32_t done = 0, stop;
    (void)ctx;
    if (!in_range(addr, len) || addr % unit != 0 || len % unit != 0)
        return -1;
    stop = cut_point(len);
    while (done < len) {                                  /* program = AND with what is there */
        uint32_t i, n = len - done < sizeof buf ? len - done : (uint32_t)sizeof buf;
        if (stop <= len && done + n > stop)
            n = stop - done;
        if (n && (f_seek(file, addr + done) != 0 || f_read(file, buf, n) != 0))
            return -1;
        for (i = 0; i < n; i++)
            buf[i] &= src[done + i];
        if (n && (f_seek(file, addr + done) != 0 || f_write(file, buf, n) != 0))
            return -1;
        done += n;
        if (stop <= len && done >= stop)
            die();
    }
    if (stop <= len)
        die();
    return 0;
}

static uint32_t sector;

static int ff_erase(void *ctx, uint32_t addr)
{
    uint32_t stop;
    (void)ctx;
    if (addr % sector != 0 || !in_range(addr, sector))
        return -1;
    stop = cut_point(sector);
    if (stop <= sector) {                                 /* part of the sector erased, the rest as it was */
        fill(addr, stop, 0xFF);
        die();
    }
    return fill(addr, sector, 0xFF);
}

int edgec_flash_file_open(const char *path, uint32_t size, uint32_t sector_size, uint32_t write_unit, edgec_flash *flash)
{
    long have;
    file = f_open(path, 0);
    if (!f_ok(file)) {
        file = f_open(path, 1);
        if (!f_ok(file))
            return -1;
    }
    have = f_len(file);
    flash_size = size;
    sector = sector_size;
    if (have < (long)size && fill((uint32_t)(have < 0 ? 0 : have), size - (uint32_t)(have < 0 ? 0 : have), 0xFF) != 0)
        return -1;
    unit = write_unit > 1u ? write_unit : 1u;
    flash->sector_size = sector_size;
    flash->write_unit = unit;
    flash->read = ff_read;
    flash->write = ff_write;
    flash->erase = ff_erase;
    flash->ctx = 0;
    flash->mapped = 0;                                    /* a file: read through the driver */
    return 0;
}

void edgec_flash_file_close(void)
{
    if (f_ok(file))
        f_close(file);
    file = NO_HANDLE;
}

void edgec_flash_file_cut_after(uint32_t n, uint32_t how)
{
    cut_at = n ? ops + n : 0;
    cut_how = how;
}
uint32_t edgec_flash_file_ops(void) { return ops; }
