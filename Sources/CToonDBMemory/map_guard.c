#define _GNU_SOURCE
#include "toondb_map_guard.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Slots are claimed with `claimed`, published with `active` (release) after `start` and
 * `end` are stored, and read by the handler only while `active` (acquire). A range is
 * unregistered before it is unmapped, and nothing loads from it after that, so the handler
 * never races with a slot being reused. */
enum { SLOTS = 4096 };
struct guarded_range {
    atomic_int claimed;
    atomic_int active;
    atomic_uintptr_t start;
    atomic_uintptr_t end;
    atomic_uint_fast64_t faults;
};
static struct guarded_range ranges[SLOTS];
static struct sigaction previous;
static uintptr_t page_size;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static void pass_on(int signal_number, siginfo_t *info, void *context) {
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(signal_number, info, context);
        return;
    }
    if (previous.sa_handler == SIG_IGN) return;
    if (previous.sa_handler != SIG_DFL) {
        previous.sa_handler(signal_number);
        return;
    }
    /* Default action: restore it; a fault then recurs when the load is retried and kills the
     * process as it would have; a signal sent by kill is raised again. */
    signal(signal_number, SIG_DFL);
    if (info->si_code <= 0) raise(signal_number);
}

static void on_sigbus(int signal_number, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    if (info->si_code > 0) {
        for (int i = 0; i < SLOTS; i++) {
            struct guarded_range *range = &ranges[i];
            if (!atomic_load_explicit(&range->active, memory_order_acquire)) continue;
            if (address < atomic_load_explicit(&range->start, memory_order_relaxed) ||
                address >= atomic_load_explicit(&range->end, memory_order_relaxed)) continue;
            void *page = (void *)(address & ~(page_size - 1));
            void *zeros = mmap(page, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (zeros == MAP_FAILED) break;
            atomic_fetch_add_explicit(&range->faults, 1, memory_order_release);
            return;
        }
    }
    pass_on(signal_number, info, context);
}

static void install(void) {
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGBUS, &action, &previous) == 0;
}

int toondb_map_guard_register(const void *start, size_t length) {
    pthread_once(&install_once, install);
    if (!installed) return -1;
    for (int i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&ranges[i].claimed, &expected, 1)) continue;
        atomic_store_explicit(&ranges[i].start, (uintptr_t)start, memory_order_relaxed);
        atomic_store_explicit(&ranges[i].end, (uintptr_t)start + length, memory_order_relaxed);
        atomic_store_explicit(&ranges[i].faults, 0, memory_order_relaxed);
        atomic_store_explicit(&ranges[i].active, 1, memory_order_release);
        return i;
    }
    return -1;
}

uint64_t toondb_map_guard_faults(int slot) {
    if (slot < 0 || slot >= SLOTS) return 0;
    return atomic_load_explicit(&ranges[slot].faults, memory_order_acquire);
}

void toondb_map_guard_unregister(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    atomic_store_explicit(&ranges[slot].active, 0, memory_order_release);
    atomic_store_explicit(&ranges[slot].claimed, 0, memory_order_release);
}

void toondb_map_guard_touch(const void *start, size_t length) {
    if (length == 0) return;
    const volatile unsigned char *bytes = start;
    uintptr_t page = page_size ? page_size : 4096;
    for (size_t i = 0; i < length; i += page) (void)bytes[i];
    (void)bytes[length - 1];
}
