/*
 * uml_xstate.c: lets Debian's User-Mode Linux run on hosts whose full register state is larger
 * than UML's buffer for it (AVX-512 and AMX hosts). Built by cluster.lab.uml and loaded into
 * the UML process with LD_PRELOAD; it wraps glibc's ptrace().
 *
 * Why: UML saves and restores each guest task's FPU/vector registers with
 * PTRACE_GETREGSET/SETREGSET(NT_X86_XSTATE), using a buffer of a size fixed when UML was built.
 * Since Linux 5.14 the host refuses a SETREGSET that is not exactly its full xstate size
 * (EFAULT), and that size grows with the CPU's features (11008 bytes with AVX-512 and AMX).
 * UML then panics as soon as init runs: "ptrace set fp regs failed, errno = 14".
 *
 * What it does, only for NT_X86_XSTATE calls whose buffer is shorter than the host's size:
 *  - it keeps one full-size buffer per UML register buffer, keyed by the address UML passes.
 *    UML has one register buffer per guest task, so every task keeps its own full state;
 *  - a short GETREGSET reads the full state into that task's buffer and hands UML its part;
 *  - a short SETREGSET lays UML's bytes over that task's buffer and writes the full size.
 * Calls that are already full size pass through untouched, so on a host whose state fits
 * UML's buffer the library changes nothing. The host's size is asked of the kernel once, with
 * a GETREGSET on a large buffer (the kernel shortens iov_len to what it has).
 *
 * What it cannot do: the registers beyond UML's buffer are not part of UML's signal frames,
 * so a guest signal handler that changes them leaves them changed. The lab keeps glibc in the
 * guest off AVX-512 (GLIBC_TUNABLES) for that reason.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

/* One guest task's full register state, found by the address of UML's buffer for it. */
struct task_state {
	void *key;
	unsigned char *full;
	int filled; /* the kernel has written this task's state into `full` at least once */
};

static ptrace_fn real_ptrace;
static size_t host_size; /* the host's full xstate size; 0 until asked */
static struct task_state *tasks;
static size_t capacity, used;

static size_t ask_host_size(pid_t pid)
{
	static unsigned char probe[1 << 16];
	struct iovec iov = {probe, sizeof(probe)};

	if (real_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0)
		return 0;
	return iov.iov_len;
}

static struct task_state *find(void *key);

static void grow(void)
{
	struct task_state *old = tasks;
	size_t old_capacity = capacity;

	capacity = capacity ? capacity * 2 : 256;
	tasks = calloc(capacity, sizeof(*tasks));
	if (!tasks)
		abort();
	used = 0;
	for (size_t i = 0; i < old_capacity; i++) {
		if (old[i].key) {
			*find(old[i].key) = old[i];
		}
	}
	free(old);
}

/* Open addressing on the buffer's address; a new key gets a zeroed entry. */
static struct task_state *find(void *key)
{
	if ((used + 1) * 2 > capacity)
		grow();
	size_t i = ((uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ull % capacity;
	while (tasks[i].key && tasks[i].key != key)
		i = (i + 1) % capacity;
	if (!tasks[i].key) {
		tasks[i].key = key;
		used++;
	}
	return &tasks[i];
}

static long short_xstate(enum __ptrace_request request, pid_t pid, struct iovec *iov)
{
	struct task_state *task = find(iov->iov_base);
	struct iovec whole;
	long rc;

	if (!task->full) {
		task->full = calloc(1, host_size);
		if (!task->full) {
			errno = ENOMEM;
			return -1;
		}
	}
	whole.iov_base = task->full;
	whole.iov_len = host_size;
	if (request == PTRACE_GETREGSET || !task->filled) {
		/* a SETREGSET for a task never read before starts from its current state */
		rc = real_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
		if (rc < 0)
			return rc;
		task->filled = 1;
		if (request == PTRACE_GETREGSET) {
			memcpy(iov->iov_base, task->full, iov->iov_len);
			return rc;
		}
	}
	memcpy(task->full, iov->iov_base, iov->iov_len);
	whole.iov_len = host_size;
	return real_ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list args;
	pid_t pid;
	void *addr, *data;

	va_start(args, request);
	pid = va_arg(args, pid_t);
	addr = va_arg(args, void *);
	data = va_arg(args, void *);
	va_end(args);
	if (!real_ptrace)
		real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");

	if ((request == PTRACE_GETREGSET || request == PTRACE_SETREGSET) &&
	    (uintptr_t)addr == NT_X86_XSTATE && data) {
		struct iovec *iov = data;

		if (!host_size)
			host_size = ask_host_size(pid);
		if (host_size && iov->iov_len < host_size)
			return short_xstate(request, pid, iov);
	}
	return real_ptrace(request, pid, addr, data);
}
