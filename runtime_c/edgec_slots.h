/* Two model slots in flash with signed, verified, self-tested updates, as MCUboot does for firmware
 * (C99, no malloc, integer only).  The model image is an opaque payload here; the firmware's
 * self-test (e.g. edgec_image_selftest) is called through a function pointer.
 *
 * Flash (through edgec_flash: read / program / erase one sector; NOR: erased bytes read 0xFF):
 *   two state sectors, written alternately: a record {seq, active, previous, trial, counter} with
 *     the sha256 of its bytes.  The newest copy whose hash checks is the state; a new record is
 *     written over the older copy, so a write cut by power loss leaves the previous state in force.
 *   two slots: a 256-byte header (signed manifest) and the payload after it.  The header is
 *     programmed last, after the payload has been read back and hashed, so a slot whose header
 *     verifies holds the complete payload the signature binds.
 *
 * Signed manifest (EDGEC_SLOTS_SIGNED_BYTES = 144 + 64, fleet/device_manifest.py makes it):
 *   0 "EDGM"  4 format u16 (1)  6 flags u16 (bit 0: downgrade allowed)  8 security counter u32
 *   12 payload length u32  16 payload sha256 [32]  48 model name [64]  112 version [32]
 *   (integers little-endian, strings ASCII, NUL-padded), then the Ed25519 signature of those 144 bytes.
 *
 * Update: stage_begin(signed manifest) -> stage_write(chunks) -> stage_finish (hash read back from
 * flash, header programmed, firmware self-test) -> activate (the slot serves on trial) -> confirm
 * (the security counter rises to the manifest's) or revert.  A trial that is not confirmed when
 * the device restarts is reverted by edgec_slots_open.  edgec_slots_open serves the active slot
 * only after checking its signature and hash again; whatever point power was lost at, it finds
 * the last confirmed image or the trial one, complete and verified. */
#ifndef EDGEC_SLOTS_H
#define EDGEC_SLOTS_H
#include <stdint.h>
#include "edgec_crypto.h"

#define EDGEC_SLOTS_MANIFEST_BYTES 144u
#define EDGEC_SLOTS_SIGNED_BYTES (EDGEC_SLOTS_MANIFEST_BYTES + EDGEC_ED25519_SIG_BYTES)
#define EDGEC_SLOTS_HEADER_BYTES 256u     /* the payload starts here in its slot */
#define EDGEC_SLOTS_NONE 0xFFu
#define EDGEC_SLOTS_FLAG_DOWNGRADE 1u

enum {
    EDGEC_SLOTS_OK = 0,
    EDGEC_SLOTS_E_FLASH = -1,       /* the driver failed or read back other bytes than written */
    EDGEC_SLOTS_E_MANIFEST = -2,    /* not a manifest of this format (magic, sizes, padding, flags) */
    EDGEC_SLOTS_E_SIGNATURE = -3,   /* not signed by the device's key */
    EDGEC_SLOTS_E_COUNTER = -4,     /* security counter below the device's, downgrade not allowed */
    EDGEC_SLOTS_E_HASH = -5,        /* the payload written is not the one the manifest binds */
    EDGEC_SLOTS_E_SELFTEST = -6,    /* the firmware's self-test failed on the staged payload */
    EDGEC_SLOTS_E_ORDER = -7,       /* call out of order (nothing staged, a trial pending, ...) */
    EDGEC_SLOTS_E_SIZE = -8         /* payload larger than a slot, or a chunk past its length */
};

#define EDGEC_SLOTS_MAX_WRITE_UNIT 32u

/* Writes reach the driver aligned to `write_unit` and a whole number of units long (the library
 * pads a tail with 0xFF, which programs nothing), so stage_write's chunks must be multiples of it,
 * except the last. */
typedef struct {
    uint32_t sector_size;
    uint32_t write_unit;                /* bytes one program operation takes: 0 or 1 (any), 2, 4, ... 32 */
    int (*read)(void *ctx, uint32_t addr, uint8_t *buf, uint32_t len);
    int (*write)(void *ctx, uint32_t addr, const uint8_t *buf, uint32_t len);   /* program erased bytes */
    int (*erase)(void *ctx, uint32_t addr);                                     /* the sector at addr */
    void *ctx;
    const uint8_t *mapped;              /* where the CPU reads flash address 0 (XIP), or NULL */
} edgec_flash;

typedef struct {
    uint32_t flags, counter, length;
    uint8_t sha256[32];
    char name[65], version[33];
} edgec_slots_manifest;

/* What the self-test and the firmware get of a slot: its payload at flash address `addr`, and at
 * `data` when the flash is memory-mapped (what edgec_image_check / _run / _selftest take), else NULL. */
typedef struct {
    uint8_t slot;
    uint32_t addr, length;
    const uint8_t *data;
    const edgec_slots_manifest *manifest;
} edgec_slots_image;

typedef struct {
    const edgec_flash *flash;
    uint32_t state_addr[2];             /* one sector each */
    uint32_t slot_addr[2];              /* sector-aligned */
    uint32_t slot_size;                 /* bytes, whole sectors */
    const uint8_t *public_key;          /* the fleet's Ed25519 signing key, 32 bytes */
    int (*selftest)(void *ctx, const edgec_slots_image *image);    /* 0: the payload passes */
    void *selftest_ctx;
} edgec_slots_config;

typedef struct {
    uint32_t seq, counter;
    uint8_t active, previous, trial;
} edgec_slots_state;

typedef struct {
    edgec_slots_config cfg;
    edgec_slots_state state;
    uint8_t state_copy;                 /* the sector holding `state` (NONE: neither copy valid) */
    uint8_t serving;                    /* the slot in service (NONE: no verified image) */
    edgec_slots_manifest serving_manifest;
    /* staging */
    uint8_t stage_slot, staged;         /* staged: finish() passed and the slot is ready to activate */
    uint8_t stage_header[EDGEC_SLOTS_SIGNED_BYTES];
    edgec_slots_manifest stage_manifest;
    uint32_t stage_written, stage_erased;
    uint8_t scratch[256];
} edgec_slots;

/* Boot: reads the state, reverts an unconfirmed trial, verifies the active slot (falling back to
 * the previous one if the active does not verify).  Returns the slot served (0/1), or
 * EDGEC_SLOTS_NONE when the flash holds no verified image yet, or a negative error. */
int edgec_slots_open(edgec_slots *s, const edgec_slots_config *cfg);
int edgec_slots_stage_begin(edgec_slots *s, const uint8_t *signed_manifest, uint32_t len);
int edgec_slots_stage_write(edgec_slots *s, const uint8_t *chunk, uint32_t len);
int edgec_slots_stage_finish(edgec_slots *s);
int edgec_slots_activate(edgec_slots *s);
int edgec_slots_confirm(edgec_slots *s);
int edgec_slots_revert(edgec_slots *s);
/* The image in service: 0, or EDGEC_SLOTS_E_ORDER when there is none. */
int edgec_slots_serving(const edgec_slots *s, edgec_slots_image *image);
/* Parses and checks a signed manifest against `public_key` (no flash involved). */
int edgec_slots_manifest_check(const uint8_t *signed_manifest, uint32_t len, const uint8_t *public_key,
                               edgec_slots_manifest *m);

#endif
