/* QEMU TCG plugin for the verification harness: how many times each guest instruction executed.
 * QEMU 7.2 (Debian) supports plugins but ships neither plugins nor qemu-plugin.h, so the few plugin
 * API v1 entry points used are declared here.
 *   build: cc -shared -fPIC -O2 -o insncount.so insncount.c
 *   use:   qemu-system-arm ... -plugin ./insncount.so,out=profile.txt[,marks=marks.txt]
 * profile.txt: "total N", then "pc count" (hex pc) per executed instruction address.
 * marks.txt (optional): one hex pc per line, the call sites of the model's layers.  For each mark the
 * profile also gets "mark i n": the instructions executed from that mark to the next mark reached,
 * summed over every time it ran - the cost of one kernel call, per call site. */
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
extern void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, void (*)(unsigned int, void *), int, void *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define SLOTS (1u << 20)                 /* open addressing on pc; far more than any model's code */
static uint64_t *pcs, *hits, total;     /* pcs[i] = pc + 1, 0 = empty */
static char out_path[4096];
#define MAX_MARKS 4096
static uint64_t mark_pc[MAX_MARKS], mark_sum[MAX_MARKS], last_total;
static long n_marks, current = -1;

static void on_mark(unsigned int vcpu, void *index)
{
    (void)vcpu;
    if (current >= 0)
        mark_sum[current] += total - last_total;
    current = (long)(intptr_t)index;
    last_total = total;
}

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
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        long m;
        for (m = 0; m < n_marks; m++)             /* before the counter: a mark sees the total so far */
            if (mark_pc[m] == pc)
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, 0, (void *)(intptr_t)m);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                   counter(pc), 1);
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
    for (i = 0; i < (uint32_t)n_marks; i++)
        fprintf(f, "mark %u %llu\n", i, (unsigned long long)mark_sum[i]);
    for (i = 0; i < SLOTS; i++)
        if (pcs[i] && hits[i])
            fprintf(f, "%llx %llu\n", (unsigned long long)(pcs[i] - 1), (unsigned long long)hits[i]);
    fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    if (argc < 1 || argc > 2 || strncmp(argv[0], "out=", 4) != 0 || strlen(argv[0] + 4) >= sizeof out_path) {
        fprintf(stderr, "insncount: usage: -plugin insncount.so,out=FILE[,marks=FILE]\n");
        return -1;
    }
    strcpy(out_path, argv[0] + 4);
    if (argc == 2) {
        FILE *mf = strncmp(argv[1], "marks=", 6) == 0 ? fopen(argv[1] + 6, "r") : NULL;
        unsigned long long v;
        if (!mf) {
            fprintf(stderr, "insncount: cannot read %s\n", argv[1]);
            return -1;
        }
        while (n_marks < MAX_MARKS && fscanf(mf, "%llx", &v) == 1)
            mark_pc[n_marks++] = v;
        fclose(mf);
    }
    pcs = calloc(SLOTS, sizeof *pcs);
    hits = calloc(SLOTS, sizeof *hits);
    if (!pcs || !hits)
        return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_profile, NULL);
    return 0;
}
