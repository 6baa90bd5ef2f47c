/* QEMU TCG plugin for the verification harness: how many times each guest instruction executed.
 * QEMU 7.2 (Debian) supports plugins but ships neither plugins nor qemu-plugin.h, so the few plugin
 * API v1 entry points used are declared here.
 *   build: cc -shared -fPIC -O2 -o insncount.so insncount.c
 *   use:   qemu-system-arm ... -plugin ./insncount.so,out=profile.txt
 * profile.txt: "total N", then "pc count" (hex pc) per executed instruction address. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, struct qemu_plugin_tb *));
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, void *), void *);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
extern void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op, void *, uint64_t);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define SLOTS (1u << 20)                 /* open addressing on pc; far more than any model's code */
static uint64_t *pcs, *hits, total;     /* pcs[i] = pc + 1, 0 = empty */
static char out_path[4096];

static uint64_t *counter(uint64_t pc)
{
    uint64_t i = (pc * 0x9E3779B97F4A7C15ull) >> 44;
    while (pcs[i] && pcs[i] != pc + 1)
        i = (i + 1) & (SLOTS - 1);
    pcs[i] = pc + 1;
    return &hits[i];
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                   counter(qemu_plugin_insn_vaddr(insn)), 1);
    }
}

static void write_profile(qemu_plugin_id_t id, void *unused)
{
    FILE *f = fopen(out_path, "w");
    uint32_t i;
    (void)id; (void)unused;
    if (!f)
        return;
    fprintf(f, "total %llu\n", (unsigned long long)total);
    for (i = 0; i < SLOTS; i++)
        if (pcs[i] && hits[i])
            fprintf(f, "%llx %llu\n", (unsigned long long)(pcs[i] - 1), (unsigned long long)hits[i]);
    fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    if (argc != 1 || strncmp(argv[0], "out=", 4) != 0 || strlen(argv[0] + 4) >= sizeof out_path) {
        fprintf(stderr, "insncount: usage: -plugin insncount.so,out=FILE\n");
        return -1;
    }
    strcpy(out_path, argv[0] + 4);
    pcs = calloc(SLOTS, sizeof *pcs);
    hits = calloc(SLOTS, sizeof *hits);
    if (!pcs || !hits)
        return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_profile, NULL);
    return 0;
}
