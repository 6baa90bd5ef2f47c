/* A device for tests/test_slots.py: runtime_c/edgec_slots.c over a file-backed flash
 * (verification/harness/flash_file.c), driven by the commands in cmd.txt, one per line:
 *   flash FILE SECTOR SLOT_SIZE UNIT  open the flash image (2 state sectors, then 2 slots; programs
 *                                 UNIT bytes at a time)
 *   key FILE                      the fleet's Ed25519 public key (32 raw bytes)
 *   cut N HOW                     power fails during the N-th flash operation from here (HOW: 0 part
 *                                 of it done, 1 none of it, 2 all of it; flash_file.h)
 *   open                          boot: prints "serving SLOT NAME VERSION COUNTER [trial]" or "serving none"
 *   stage MANIFEST PAYLOAD CHUNK  stage_begin/write per chunk/finish: "stage ok" or "stage error CODE"
 *   activate | confirm | revert   "<command> ok" or "<command> error CODE"
 * Files are read from the working directory (stdio on the host, semihosting in the emulator).  The
 * self-test is a real check of the payload: its last 32 bytes must be the sha256 of the rest. */
#include <stdint.h>
#include "edgec_slots.h"
#include "flash_file.h"
#include "decimal.h"

#ifdef EDGEC_SEMIHOST
#include "semihost.h"
typedef intptr_t io;
static io io_open(const char *p) { return sh_open(p, SH_MODE_RB); }
static int io_ok(io h) { return h >= 0; }
static uint32_t io_read(io h, uint8_t *b, uint32_t n) { return (uint32_t)sh_read(h, b, (intptr_t)n); }
static void io_close(io h) { sh_close(h); }
static void say(const char *s) { sh_puts(s); }
void abort(void) { sh_exit(3); }
#define EXIT(c) sh_exit(c)
#else
#include <stdio.h>
#include <stdlib.h>
typedef FILE *io;
static io io_open(const char *p) { return fopen(p, "rb"); }
static int io_ok(io h) { return h != NULL; }
static uint32_t io_read(io h, uint8_t *b, uint32_t n) { return (uint32_t)fread(b, 1, n, h); }
static void io_close(io h) { fclose(h); }
static void say(const char *s) { fputs(s, stdout); fflush(stdout); }
#define EXIT(c) exit(c)
#endif

static edgec_flash flash;
static edgec_slots slots;
static edgec_slots_config cfg;
static uint8_t pubkey[32], manifest[EDGEC_SLOTS_SIGNED_BYTES], chunk[4096], check[256];
static char cmds[2048], line[160];
static int line_n;

static void put(const char *s)
{
    while (*s && line_n < (int)sizeof line - 2)
        line[line_n++] = *s++;
}
static void put_int(int32_t v)
{
    char b[12];
    put(edgec_decimal(v, b));
}
static void end_line(void)
{
    line[line_n++] = '\n';
    line[line_n] = 0;
    say(line);
    line_n = 0;
}

static int eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static uint32_t number(const char *s)
{
    uint32_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10u + (uint32_t)(*s++ - '0');
    return v;
}

/* Reads a whole small file; its length, or -1. */
static int32_t slurp(const char *name, uint8_t *out, uint32_t cap)
{
    io h = io_open(name);
    uint32_t n;
    if (!io_ok(h))
        return -1;
    n = io_read(h, out, cap);
    io_close(h);
    return (int32_t)n;
}

static int selftest(void *ctx, const edgec_slots_image *img)
{
    uint8_t want[32], got[32];
    edgec_sha256_ctx h;
    uint32_t at = 0, body;
    (void)ctx;
    if (img->length < 32)
        return -1;
    body = img->length - 32;
    edgec_sha256_init(&h);
    while (at < body) {
        uint32_t n = body - at < sizeof check ? body - at : (uint32_t)sizeof check;
        if (flash.read(flash.ctx, img->addr + at, check, n) != 0)
            return -1;
        edgec_sha256_update(&h, check, n);
        at += n;
    }
    edgec_sha256_final(&h, got);
    if (flash.read(flash.ctx, img->addr + body, want, 32) != 0)
        return -1;
    for (at = 0; at < 32; at++)
        if (want[at] != got[at])
            return -1;
    return 0;
}

static void result(const char *what, int r)
{
    put(what);
    if (r == 0) {
        put(" ok");
    } else {
        put(" error ");
        put_int(r);
    }
    end_line();
}

static int stage(const char *mname, const char *pname, uint32_t size)
{
    io h;
    int r;
    uint32_t n, k = 0;
    if (slurp(mname, manifest, sizeof manifest) != (int32_t)sizeof manifest)
        return -100;
    if ((r = edgec_slots_stage_begin(&slots, manifest, sizeof manifest)) != 0)
        return r;
    h = io_open(pname);
    if (!io_ok(h))
        return -101;
    if (size == 0 || size > sizeof chunk)
        size = sizeof chunk;
    while ((n = io_read(h, chunk, size)) > 0) {
        if ((r = edgec_slots_stage_write(&slots, chunk, n)) != 0)
            break;
        if (++k % 16u == 0) {
            put("chunk ");
            put_int((int32_t)k);
            end_line();
        }
    }
    io_close(h);
    return r != 0 ? r : edgec_slots_stage_finish(&slots);
}

int main(void)
{
    char *p, *args[5];
    int32_t n = slurp("cmd.txt", (uint8_t *)cmds, sizeof cmds - 1);
    if (n < 0)
        return 1;
    cmds[n] = 0;
    cfg.flash = &flash;
    cfg.public_key = pubkey;
    cfg.selftest = selftest;
    for (p = cmds; *p;) {
        int na = 0, r;
        while (*p && na < 5) {                             /* split the line at spaces */
            while (*p == ' ')
                p++;
            if (*p == '\n' || !*p)
                break;
            args[na++] = p;
            while (*p && *p != ' ' && *p != '\n')
                p++;
            if (*p == ' ')
                *p++ = 0;
        }
        if (*p == '\n')
            *p++ = 0;
        if (na == 0)
            continue;
        if (eq(args[0], "flash") && na == 5) {
            uint32_t sector = number(args[2]), slot = number(args[3]);
            if (edgec_flash_file_open(args[1], 2u * sector + 2u * slot, sector, number(args[4]), &flash) != 0)
                EXIT(2);
            cfg.state_addr[0] = 0;
            cfg.state_addr[1] = sector;
            cfg.slot_addr[0] = 2u * sector;
            cfg.slot_addr[1] = 2u * sector + slot;
            cfg.slot_size = slot;
        } else if (eq(args[0], "key") && na == 2) {
            if (slurp(args[1], pubkey, 32) != 32)
                EXIT(2);
        } else if (eq(args[0], "cut") && na == 3) {
            edgec_flash_file_cut_after(number(args[1]), number(args[2]));
        } else if (eq(args[0], "open")) {
            edgec_slots_image img;
            r = edgec_slots_open(&slots, &cfg);
            put("serving ");
            if (r < 0) {
                put("error ");
                put_int(r);
            } else if (edgec_slots_serving(&slots, &img) != 0) {
                put("none");
            } else {
                put_int(img.slot);
                put(" ");
                put(img.manifest->name);
                put(" ");
                put(img.manifest->version);
                put(" ");
                put_int((int32_t)slots.state.counter);
                if (slots.state.trial)
                    put(" trial");
            }
            end_line();
        } else if (eq(args[0], "stage") && na == 4) {
            result("stage", stage(args[1], args[2], number(args[3])));
        } else if (eq(args[0], "activate")) {
            result("activate", edgec_slots_activate(&slots));
        } else if (eq(args[0], "confirm")) {
            result("confirm", edgec_slots_confirm(&slots));
        } else if (eq(args[0], "revert")) {
            result("revert", edgec_slots_revert(&slots));
        } else {
            put("unknown command ");
            put(args[0]);
            end_line();
            EXIT(2);
        }
    }
    put("ops ");
    put_int((int32_t)edgec_flash_file_ops());
    end_line();
    edgec_flash_file_close();
    return 0;
}
