/* The example microcontroller firmware of an edgec device (issue 20): model slots in flash
 * (runtime_c/edgec_slots.c), the model image interpreter with the full kernel set
 * (runtime_c/edgec_image.c), libsodium's verify path (edgec_crypto.c), and a UART link to a host
 * bridge (fleet/mcu.py) that brings updates and asks for inferences.
 *
 * Built by fleet/mcu.py for the emulated MPS2 boards (CMSDK APB UART0 at 0x40004000 is the link,
 * QEMU's -serial; the flash is a host file through semihosting, verification/harness/flash_file.c), or
 * for the host (the link is stdin/stdout).  The fleet's Ed25519 public key is compiled in
 * (edgec_device_key, a generated source): the bridge can carry images, never make the device trust one.
 *
 * The flash is not memory-mapped here (a file), so the image in service is copied into RAM
 * (`image`, 8-aligned) and checked there before it runs; the self-test of a staged image uses the
 * same buffer, and the image in service is loaded again before the next inference.
 *
 * Frames, both ways (fleet/mcu.py has the host's side; README "MCU devices"):
 *   'E' 'F'  type u8  length u16 LE  payload[length]  crc32 LE (IEEE, over type, length and payload)
 * The host sends one command frame and the device answers with one frame of type 'r': an int32 LE
 * result code then the command's data.  A frame whose CRC does not check is answered with code
 * MCU_E_FRAME and nothing done, so the host may send it again.  Commands:
 *   'B' flash path (ASCII)  open the flash file and boot (edgec_slots_open; a trial not confirmed is
 *                           reverted), load the image in service; data: the status text
 *   'S'                     status text: "serving SLOT NAME VERSION COUNTER trial|confirmed IMAGE_CODE"
 *                           or "serving none COUNTER"
 *   'M' signed manifest     edgec_slots_stage_begin
 *   'W' bytes               edgec_slots_stage_write (whole flash program units but the last)
 *   'F'                     edgec_slots_stage_finish: hash read back, signature, then the self-test
 *                           below; data: int32 the image check/self-test code (edgec_image.h)
 *   'A'                     activate, then load, check and self-test the image now in service;
 *                           a failure reverts at once (code MCU_E_SERVE, data: the image's code)
 *   'C' / 'R'               confirm / revert
 *   'I' input bytes         one inference of the image in service; data: the output bytes
 * The self-test: edgec_image_check (header, kernel ABI, this firmware's kernels, bounds, sha256)
 * then edgec_image_selftest (the golden inputs' outputs must hash to the image's).  C99, no malloc,
 * integer only. */
#include <stdint.h>
#include "edgec_slots.h"
#include "edgec_image.h"
#include "flash_file.h"
#include "decimal.h"

#ifndef MCU_SECTOR
#define MCU_SECTOR 4096u
#endif
#ifndef MCU_SLOT
#define MCU_SLOT (128u * 1024u)
#endif
#ifndef MCU_UNIT
#define MCU_UNIT 8u
#endif
#ifndef MCU_ARENA
#define MCU_ARENA (48u * 1024u)
#endif
#define MCU_IMAGE (MCU_SLOT - EDGEC_SLOTS_HEADER_BYTES)
#define MCU_MAX_FRAME 4096u

enum { MCU_E_FRAME = -100, MCU_E_COMMAND = -101, MCU_E_SERVE = -102, MCU_E_NO_IMAGE = -103, MCU_E_INPUT = -104 };

extern const uint8_t edgec_device_key[32];

#ifdef EDGEC_SEMIHOST
#include "semihost.h"
#define UART ((volatile uint32_t *)0x40004000u)   /* CMSDK APB UART0: DATA, STATE, CTRL, INT, BAUDDIV */
static void link_init(void)
{
    UART[4] = 16u;
    UART[2] = 3u;                                /* TX and RX enabled */
}
static int link_get(void)
{
    while (!(UART[1] & 2u)) {}
    return (int)(UART[0] & 0xFFu);
}
static void link_put(uint8_t c)
{
    while (UART[1] & 1u) {}
    UART[0] = c;
}
static void link_flush(void) {}
void abort(void) { sh_exit(3); }
#define EXIT(c) sh_exit(c)
#else
#include <stdio.h>
#include <stdlib.h>
static void link_init(void) {}
static int link_get(void) { return getchar(); }
static void link_put(uint8_t c) { putchar(c); }
static void link_flush(void) { fflush(stdout); }
#define EXIT(c) exit(c)
#endif

static edgec_flash flash;
static edgec_slots slots;
static edgec_slots_config cfg;
static uint64_t image_words[MCU_IMAGE / 8];
static uint64_t arena_words[MCU_ARENA / 8];
static uint8_t *const image = (uint8_t *)image_words;
static uint8_t *const arena = (uint8_t *)arena_words;
static uint8_t rx[MCU_MAX_FRAME + 8], tx[MCU_MAX_FRAME + 8], scratch_out[MCU_MAX_FRAME];
static uint8_t loaded = EDGEC_SLOTS_NONE;       /* the slot whose image is in `image`, checked */
static int32_t image_code = MCU_E_NO_IMAGE;     /* the last load's or self-test's edgec_image code */
static edgec_image_info info;
static int booted;

static uint32_t crc32(const uint8_t *p, uint32_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        int k;
        c ^= *p++;
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void send(int32_t code, const uint8_t *data, uint32_t len)
{
    uint32_t n = 4u + len, i, c;
    tx[0] = 'r';
    tx[1] = (uint8_t)n;
    tx[2] = (uint8_t)(n >> 8);
    for (i = 0; i < 4; i++)
        tx[3 + i] = (uint8_t)((uint32_t)code >> (8 * i));
    for (i = 0; i < len; i++)
        tx[7 + i] = data[i];
    c = crc32(tx, 3u + n);
    link_put('E');
    link_put('F');
    for (i = 0; i < 3u + n; i++)
        link_put(tx[i]);
    for (i = 0; i < 4; i++)
        link_put((uint8_t)(c >> (8 * i)));
    link_flush();
}

/* The next frame into rx (type, length, payload): its length, or -1 when its CRC fails. */
static int32_t receive(void)
{
    uint32_t n, i, want = 0;
    int c;
    for (;;) {                                   /* sync on 'E' 'F' */
        c = link_get();
        if (c < 0)
            EXIT(0);
        if (c != 'E')
            continue;
        c = link_get();
        if (c == 'F')
            break;
    }
    for (i = 0; i < 3; i++) {
        if ((c = link_get()) < 0)
            EXIT(0);
        rx[i] = (uint8_t)c;
    }
    n = (uint32_t)rx[1] | ((uint32_t)rx[2] << 8);
    if (n > MCU_MAX_FRAME)
        return -1;
    for (i = 0; i < n + 4u; i++) {
        if ((c = link_get()) < 0)
            EXIT(0);
        if (i < n)
            rx[3 + i] = (uint8_t)c;
        else
            want |= (uint32_t)c << (8 * (i - n));
    }
    return crc32(rx, 3u + n) == want ? (int32_t)n : -1;
}

/* Copies a slot's payload from flash into `image` and checks it (and runs its self-test). */
static int32_t load(uint32_t addr, uint32_t length, int selftest)
{
    int32_t r;
    loaded = EDGEC_SLOTS_NONE;
    if (length > MCU_IMAGE)
        return EDGEC_IMAGE_E_SHORT;
    if (flash.read(flash.ctx, addr, image, length) != 0)
        return MCU_E_SERVE;
    r = edgec_image_check(image, length, MCU_ARENA, &info);
    if (r == EDGEC_IMAGE_OK && info.output_bytes > sizeof scratch_out)
        r = EDGEC_IMAGE_E_ARENA;
    if (r == EDGEC_IMAGE_OK && selftest)
        r = edgec_image_selftest(image, arena, scratch_out);
    if (r == EDGEC_IMAGE_OK)
        edgec_image_reset(image, arena);
    return r;
}

static int selftest(void *ctx, const edgec_slots_image *img)
{
    (void)ctx;
    image_code = load(img->addr, img->length, 1);
    return image_code == EDGEC_IMAGE_OK ? 0 : -1;
}

/* The image in service into RAM, checked and self-tested (once per boot or switch). */
static int32_t serve(void)
{
    edgec_slots_image img;
    if (edgec_slots_serving(&slots, &img) != 0)
        return image_code = MCU_E_NO_IMAGE;
    if (loaded == img.slot)
        return EDGEC_IMAGE_OK;
    image_code = load(img.addr, img.length, 1);
    if (image_code == EDGEC_IMAGE_OK)
        loaded = img.slot;
    return image_code;
}

static uint32_t put_text(uint8_t *out, uint32_t at, const char *s)
{
    while (*s && at < MCU_MAX_FRAME - 1)
        out[at++] = (uint8_t)*s++;
    return at;
}

static uint32_t put_number(uint8_t *out, uint32_t at, int32_t v)
{
    char b[12];
    return put_text(out, at, edgec_decimal(v, b));
}

static void status(int32_t code)
{
    edgec_slots_image img;
    uint32_t n = put_text(scratch_out, 0, "serving ");
    if (edgec_slots_serving(&slots, &img) != 0) {
        n = put_text(scratch_out, n, "none ");
        n = put_number(scratch_out, n, (int32_t)slots.state.counter);
    } else {
        n = put_number(scratch_out, n, img.slot);
        n = put_text(scratch_out, n, " ");
        n = put_text(scratch_out, n, img.manifest->name);
        n = put_text(scratch_out, n, " ");
        n = put_text(scratch_out, n, img.manifest->version);
        n = put_text(scratch_out, n, " ");
        n = put_number(scratch_out, n, (int32_t)slots.state.counter);
        n = put_text(scratch_out, n, slots.state.trial ? " trial " : " confirmed ");
        n = put_number(scratch_out, n, image_code);
    }
    send(code, scratch_out, n);
}

static void send_code(int32_t code, int32_t detail)
{
    uint8_t d[4];
    uint32_t i;
    for (i = 0; i < 4; i++)
        d[i] = (uint8_t)((uint32_t)detail >> (8 * i));
    send(code, d, 4);
}

int main(void)
{
    link_init();
    cfg.flash = &flash;
    cfg.public_key = edgec_device_key;
    cfg.selftest = selftest;
    cfg.state_addr[0] = 0;
    cfg.state_addr[1] = MCU_SECTOR;
    cfg.slot_addr[0] = 2u * MCU_SECTOR;
    cfg.slot_addr[1] = 2u * MCU_SECTOR + MCU_SLOT;
    cfg.slot_size = MCU_SLOT;
    for (;;) {
        int32_t n = receive(), r;
        uint8_t type = rx[0];
        const uint8_t *p = rx + 3;
        if (n < 0) {
            send(MCU_E_FRAME, 0, 0);
            continue;
        }
        if (!booted && type != 'B') {
            send(MCU_E_COMMAND, 0, 0);
            continue;
        }
        switch (type) {
        case 'B':
            if (booted || n < 1 || n > 255) {
                send(MCU_E_COMMAND, 0, 0);
                break;
            }
            rx[3 + n] = 0;
            if (edgec_flash_file_open((const char *)p, 2u * MCU_SECTOR + 2u * MCU_SLOT, MCU_SECTOR, MCU_UNIT, &flash) != 0) {
                send(EDGEC_SLOTS_E_FLASH, 0, 0);
                break;
            }
            booted = 1;
            r = edgec_slots_open(&slots, &cfg);
            if (r >= 0 && r != EDGEC_SLOTS_NONE)
                serve();
            status(r < 0 ? r : 0);
            break;
        case 'S':
            status(0);
            break;
        case 'M':
            send_code(edgec_slots_stage_begin(&slots, p, (uint32_t)n), 0);
            break;
        case 'W':
            send_code(edgec_slots_stage_write(&slots, p, (uint32_t)n), 0);
            break;
        case 'F':
            image_code = EDGEC_IMAGE_OK;
            r = edgec_slots_stage_finish(&slots);
            send_code(r, image_code);
            break;
        case 'A':
            r = edgec_slots_activate(&slots);
            if (r == 0 && serve() != EDGEC_IMAGE_OK) {
                int32_t why = image_code;
                edgec_slots_revert(&slots);
                serve();
                send_code(MCU_E_SERVE, why);
                break;
            }
            send_code(r, image_code);
            break;
        case 'C':
            send_code(edgec_slots_confirm(&slots), 0);
            break;
        case 'R':
            r = edgec_slots_revert(&slots);
            if (r == 0)
                serve();
            send_code(r, 0);
            break;
        case 'I':
            if ((r = serve()) != EDGEC_IMAGE_OK) {
                send(MCU_E_NO_IMAGE, 0, 0);
                break;
            }
            if ((uint32_t)n != info.input_bytes) {
                send(MCU_E_INPUT, 0, 0);
                break;
            }
            r = edgec_image_run(image, arena, p, scratch_out);
            send(r, scratch_out, r == 0 ? info.output_bytes : 0);
            break;
        default:
            send(MCU_E_COMMAND, 0, 0);
        }
    }
}
