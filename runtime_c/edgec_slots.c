/* Slots and updates on the device: see edgec_slots.h for the flash layout and the update protocol. */
#include <string.h>
#include "edgec_slots.h"

#define STATE_MAGIC 0x53474445u          /* "EDGS" */
#define STATE_BODY 16u                   /* magic, seq, active, previous, trial, 0, counter */
#define STATE_BYTES (STATE_BODY + 32u)   /* + sha256 of the body */
#define MANIFEST_MAGIC 0x4D474445u       /* "EDGM" */
#define MANIFEST_FORMAT 1u

static uint32_t get32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static int same(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    uint8_t d = 0;
    uint32_t i;
    for (i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

static int flash_read(const edgec_slots *s, uint32_t addr, uint8_t *buf, uint32_t len)
{
    return s->cfg.flash->read(s->cfg.flash->ctx, addr, buf, len) == 0 ? EDGEC_SLOTS_OK : EDGEC_SLOTS_E_FLASH;
}

/* Program and read back: a write the flash did not take is an error, never a silent corruption. */
static uint32_t write_unit(const edgec_slots *s)
{
    return s->cfg.flash->write_unit > 1u ? s->cfg.flash->write_unit : 1u;
}

static int flash_write(edgec_slots *s, uint32_t addr, const uint8_t *buf, uint32_t len)
{
    uint32_t done = 0, unit = write_unit(s), whole = len - len % unit;
    if (whole && s->cfg.flash->write(s->cfg.flash->ctx, addr, buf, whole) != 0)
        return EDGEC_SLOTS_E_FLASH;
    if (whole < len) {                                  /* the tail in one unit, padded with erased bytes */
        uint8_t tail[EDGEC_SLOTS_MAX_WRITE_UNIT];
        memset(tail, 0xFF, unit);
        memcpy(tail, buf + whole, len - whole);
        if (s->cfg.flash->write(s->cfg.flash->ctx, addr + whole, tail, unit) != 0)
            return EDGEC_SLOTS_E_FLASH;
    }
    while (done < len) {
        uint32_t n = len - done < sizeof s->scratch ? len - done : (uint32_t)sizeof s->scratch;
        if (flash_read(s, addr + done, s->scratch, n) != 0 || !same(s->scratch, buf + done, n))
            return EDGEC_SLOTS_E_FLASH;
        done += n;
    }
    return EDGEC_SLOTS_OK;
}

static int flash_erase(edgec_slots *s, uint32_t addr)
{
    return s->cfg.flash->erase(s->cfg.flash->ctx, addr) == 0 ? EDGEC_SLOTS_OK : EDGEC_SLOTS_E_FLASH;
}

/* ---- manifest ---- */

static int text_field(const uint8_t *b, uint32_t n, char *out)
{
    uint32_t i, end = 0;
    while (end < n && b[end] != 0)
        end++;
    if (end == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (i < end ? (b[i] < 0x21u || b[i] > 0x7Eu) : b[i] != 0)   /* printable, then only NULs: one form */
            return 0;
        out[i] = (char)b[i];
    }
    out[n] = 0;
    return 1;
}

int edgec_slots_manifest_check(const uint8_t *sm, uint32_t len, const uint8_t *public_key, edgec_slots_manifest *m)
{
    if (len != EDGEC_SLOTS_SIGNED_BYTES || get32(sm) != MANIFEST_MAGIC || ((uint32_t)sm[4] | (uint32_t)sm[5] << 8) != MANIFEST_FORMAT)
        return EDGEC_SLOTS_E_MANIFEST;
    m->flags = (uint32_t)sm[6] | (uint32_t)sm[7] << 8;
    m->counter = get32(sm + 8);
    m->length = get32(sm + 12);
    memcpy(m->sha256, sm + 16, 32);
    if ((m->flags & ~EDGEC_SLOTS_FLAG_DOWNGRADE) != 0 || !text_field(sm + 48, 64, m->name) || !text_field(sm + 112, 32, m->version))
        return EDGEC_SLOTS_E_MANIFEST;
    if (edgec_ed25519_verify(sm + EDGEC_SLOTS_MANIFEST_BYTES, sm, EDGEC_SLOTS_MANIFEST_BYTES, public_key) != 0)
        return EDGEC_SLOTS_E_SIGNATURE;
    return EDGEC_SLOTS_OK;
}

/* ---- state ---- */

static int state_read(edgec_slots *s, uint8_t copy, edgec_slots_state *st)
{
    uint8_t rec[STATE_BYTES], h[32];
    if (flash_read(s, s->cfg.state_addr[copy], rec, STATE_BYTES) != 0)
        return EDGEC_SLOTS_E_FLASH;
    if (get32(rec) != STATE_MAGIC || edgec_sha256(h, rec, STATE_BODY) != 0 || !same(h, rec + STATE_BODY, 32))
        return EDGEC_SLOTS_E_MANIFEST;
    st->seq = get32(rec + 4);
    st->active = rec[8];
    st->previous = rec[9];
    st->trial = rec[10];
    st->counter = get32(rec + 12);
    if ((st->active > 1 && st->active != EDGEC_SLOTS_NONE) || (st->previous > 1 && st->previous != EDGEC_SLOTS_NONE) || st->trial > 1)
        return EDGEC_SLOTS_E_MANIFEST;
    return EDGEC_SLOTS_OK;
}

/* The one atomic step: the new record goes over the older copy; until it is complete (hash
 * checks) the current copy stays the newest valid one. */
static int state_write(edgec_slots *s, const edgec_slots_state *next)
{
    uint8_t rec[STATE_BYTES];
    uint8_t copy = s->state_copy == 0 ? 1 : 0;
    edgec_slots_state st = *next;
    int r;
    st.seq = s->state.seq + 1u;
    put32(rec, STATE_MAGIC);
    put32(rec + 4, st.seq);
    rec[8] = st.active;
    rec[9] = st.previous;
    rec[10] = st.trial;
    rec[11] = 0;
    put32(rec + 12, st.counter);
    if (edgec_sha256(rec + STATE_BODY, rec, STATE_BODY) != 0)
        return EDGEC_SLOTS_E_FLASH;
    if ((r = flash_erase(s, s->cfg.state_addr[copy])) != 0 || (r = flash_write(s, s->cfg.state_addr[copy], rec, STATE_BYTES)) != 0)
        return r;
    s->state = st;
    s->state_copy = copy;
    return EDGEC_SLOTS_OK;
}

/* ---- slots ---- */

/* The slot's header verifies and its payload hashes to what the manifest binds. */
static int slot_check(edgec_slots *s, uint8_t slot, edgec_slots_manifest *m)
{
    uint8_t header[EDGEC_SLOTS_SIGNED_BYTES], h[32];
    edgec_sha256_ctx ctx;
    uint32_t at = 0, base = s->cfg.slot_addr[slot] + EDGEC_SLOTS_HEADER_BYTES;
    int r;
    if ((r = flash_read(s, s->cfg.slot_addr[slot], header, EDGEC_SLOTS_SIGNED_BYTES)) != 0)
        return r;
    if ((r = edgec_slots_manifest_check(header, EDGEC_SLOTS_SIGNED_BYTES, s->cfg.public_key, m)) != 0)
        return r;
    if (m->length > s->cfg.slot_size - EDGEC_SLOTS_HEADER_BYTES)
        return EDGEC_SLOTS_E_SIZE;
    edgec_sha256_init(&ctx);
    while (at < m->length) {
        uint32_t n = m->length - at < sizeof s->scratch ? m->length - at : (uint32_t)sizeof s->scratch;
        if (flash_read(s, base + at, s->scratch, n) != 0)
            return EDGEC_SLOTS_E_FLASH;
        edgec_sha256_update(&ctx, s->scratch, n);
        at += n;
    }
    edgec_sha256_final(&ctx, h);
    return same(h, m->sha256, 32) ? EDGEC_SLOTS_OK : EDGEC_SLOTS_E_HASH;
}

static int serve(edgec_slots *s, uint8_t slot)
{
    if (slot <= 1 && slot_check(s, slot, &s->serving_manifest) == 0) {
        s->serving = slot;
        return 1;
    }
    return 0;
}

int edgec_slots_open(edgec_slots *s, const edgec_slots_config *cfg)
{
    edgec_slots_state a, b;
    int va, vb, r;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->serving = s->stage_slot = EDGEC_SLOTS_NONE;
    if (cfg->flash == 0 || cfg->flash->sector_size == 0 || cfg->slot_size % cfg->flash->sector_size != 0 ||
        cfg->slot_size <= EDGEC_SLOTS_HEADER_BYTES || cfg->flash->sector_size < STATE_BYTES + EDGEC_SLOTS_MAX_WRITE_UNIT ||
        write_unit(s) > EDGEC_SLOTS_MAX_WRITE_UNIT || (write_unit(s) & (write_unit(s) - 1u)) != 0 ||
        cfg->state_addr[0] % cfg->flash->sector_size != 0 || cfg->state_addr[1] % cfg->flash->sector_size != 0 ||
        cfg->slot_addr[0] % cfg->flash->sector_size != 0 || cfg->slot_addr[1] % cfg->flash->sector_size != 0)
        return EDGEC_SLOTS_E_SIZE;
    va = state_read(s, 0, &a) == 0;
    vb = state_read(s, 1, &b) == 0;
    if (va && (!vb || a.seq > b.seq)) {
        s->state = a;
        s->state_copy = 0;
    } else if (vb) {
        s->state = b;
        s->state_copy = 1;
    } else {                                            /* a blank device: no image yet */
        s->state.active = s->state.previous = EDGEC_SLOTS_NONE;
        s->state_copy = EDGEC_SLOTS_NONE;
    }
    if (s->state.trial) {                               /* restarted before confirm: back to the previous */
        edgec_slots_state next = s->state;
        next.active = s->state.previous;
        next.previous = EDGEC_SLOTS_NONE;
        next.trial = 0;
        if ((r = state_write(s, &next)) != 0)
            return r;
    }
    if (serve(s, s->state.active) || serve(s, s->state.previous))
        return s->serving;
    return EDGEC_SLOTS_NONE;
}

int edgec_slots_stage_begin(edgec_slots *s, const uint8_t *signed_manifest, uint32_t len)
{
    int r;
    uint8_t target;
    s->staged = 0;
    s->stage_slot = EDGEC_SLOTS_NONE;
    if (s->state.trial)
        return EDGEC_SLOTS_E_ORDER;                     /* confirm or revert the trial first */
    if ((r = edgec_slots_manifest_check(signed_manifest, len, s->cfg.public_key, &s->stage_manifest)) != 0)
        return r;
    if (s->stage_manifest.counter < s->state.counter && !(s->stage_manifest.flags & EDGEC_SLOTS_FLAG_DOWNGRADE))
        return EDGEC_SLOTS_E_COUNTER;
    if (s->stage_manifest.length > s->cfg.slot_size - EDGEC_SLOTS_HEADER_BYTES)
        return EDGEC_SLOTS_E_SIZE;
    target = s->serving == 0 ? 1 : (s->serving == 1 ? 0 : (s->state.active == 0 ? 1 : 0));
    if (s->state.previous == target || s->state.active == target) {
        /* The slot about to be overwritten stops being a fallback before its first byte changes. */
        edgec_slots_state next = s->state;
        next.previous = EDGEC_SLOTS_NONE;
        if (s->state.active == target)
            next.active = EDGEC_SLOTS_NONE;
        if ((r = state_write(s, &next)) != 0)
            return r;
    }
    memcpy(s->stage_header, signed_manifest, EDGEC_SLOTS_SIGNED_BYTES);
    s->stage_slot = target;
    s->stage_written = 0;
    s->stage_erased = 0;
    return EDGEC_SLOTS_OK;
}

int edgec_slots_stage_write(edgec_slots *s, const uint8_t *chunk, uint32_t len)
{
    uint32_t base, end;
    int r;
    if (s->stage_slot > 1 || s->staged)
        return EDGEC_SLOTS_E_ORDER;
    if (len > s->stage_manifest.length - s->stage_written ||
        (len % write_unit(s) != 0 && s->stage_written + len != s->stage_manifest.length))   /* only the last may be short */
        return EDGEC_SLOTS_E_SIZE;
    base = s->cfg.slot_addr[s->stage_slot];
    end = EDGEC_SLOTS_HEADER_BYTES + s->stage_written + len;      /* > 0: the header's sector comes first */
    while (s->stage_erased < end) {                     /* erase each sector as the data reaches it */
        if ((r = flash_erase(s, base + s->stage_erased)) != 0)
            return r;
        s->stage_erased += s->cfg.flash->sector_size;
    }
    if (len && (r = flash_write(s, base + EDGEC_SLOTS_HEADER_BYTES + s->stage_written, chunk, len)) != 0)
        return r;
    s->stage_written += len;
    return EDGEC_SLOTS_OK;
}

int edgec_slots_stage_finish(edgec_slots *s)
{
    edgec_slots_manifest m;
    edgec_slots_image img;
    int r;
    if (s->stage_slot > 1 || s->staged)
        return EDGEC_SLOTS_E_ORDER;
    if (s->stage_written != s->stage_manifest.length)
        return EDGEC_SLOTS_E_SIZE;
    if ((r = edgec_slots_stage_write(s, s->stage_header, 0)) != 0)      /* an empty payload still erases its header sector */
        return r;
    if ((r = flash_write(s, s->cfg.slot_addr[s->stage_slot], s->stage_header, EDGEC_SLOTS_SIGNED_BYTES)) != 0)
        return r;
    if ((r = slot_check(s, s->stage_slot, &m)) != 0)    /* what the flash holds, read back */
        goto invalid;
    img.slot = s->stage_slot;
    img.addr = s->cfg.slot_addr[s->stage_slot] + EDGEC_SLOTS_HEADER_BYTES;
    img.length = m.length;
    img.data = s->cfg.flash->mapped ? s->cfg.flash->mapped + img.addr : 0;
    img.manifest = &m;
    if (s->cfg.selftest && s->cfg.selftest(s->cfg.selftest_ctx, &img) != 0) {
        r = EDGEC_SLOTS_E_SELFTEST;
        goto invalid;
    }
    s->staged = 1;
    return EDGEC_SLOTS_OK;
invalid:                                                /* never leave a verifiable header on a refused payload */
    flash_erase(s, s->cfg.slot_addr[s->stage_slot]);
    s->stage_slot = EDGEC_SLOTS_NONE;
    return r;
}

int edgec_slots_activate(edgec_slots *s)
{
    edgec_slots_state next = s->state;
    int r;
    if (!s->staged || s->stage_slot > 1)
        return EDGEC_SLOTS_E_ORDER;
    next.active = s->stage_slot;
    next.previous = s->serving;
    next.trial = s->serving <= 1 ? 1 : 0;               /* the first image has nothing to revert to */
    if (!next.trial && s->stage_manifest.counter > next.counter)
        next.counter = s->stage_manifest.counter;
    if ((r = state_write(s, &next)) != 0)
        return r;
    s->serving = s->stage_slot;
    s->serving_manifest = s->stage_manifest;
    s->staged = 0;
    s->stage_slot = EDGEC_SLOTS_NONE;
    return EDGEC_SLOTS_OK;
}

int edgec_slots_confirm(edgec_slots *s)
{
    edgec_slots_state next = s->state;
    if (!s->state.trial || s->serving != s->state.active)
        return EDGEC_SLOTS_E_ORDER;
    next.trial = 0;
    if (s->serving_manifest.counter > next.counter)     /* monotonic: a signed downgrade never lowers it */
        next.counter = s->serving_manifest.counter;
    return state_write(s, &next);
}

int edgec_slots_revert(edgec_slots *s)
{
    edgec_slots_state next = s->state;
    int r;
    if (!s->state.trial)
        return EDGEC_SLOTS_E_ORDER;
    next.active = s->state.previous;
    next.previous = EDGEC_SLOTS_NONE;
    next.trial = 0;
    if ((r = state_write(s, &next)) != 0)
        return r;
    s->serving = EDGEC_SLOTS_NONE;
    return serve(s, s->state.active) ? EDGEC_SLOTS_OK : EDGEC_SLOTS_E_HASH;
}

int edgec_slots_serving(const edgec_slots *s, edgec_slots_image *image)
{
    if (s->serving > 1)
        return EDGEC_SLOTS_E_ORDER;
    image->slot = s->serving;
    image->addr = s->cfg.slot_addr[s->serving] + EDGEC_SLOTS_HEADER_BYTES;
    image->length = s->serving_manifest.length;
    image->data = s->cfg.flash->mapped ? s->cfg.flash->mapped + image->addr : 0;
    image->manifest = &s->serving_manifest;
    return EDGEC_SLOTS_OK;
}
