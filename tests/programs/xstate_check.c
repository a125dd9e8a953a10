/*
 * xstate_check.c: does a tracer that reads and writes a shorter NT_X86_XSTATE buffer than the
 * host's full size (as UML does on AVX-512/AMX hosts) leave the tracee's registers whole?
 *
 *   xstate_check SHORT_BYTES [zero-pad]
 *
 * A child fills its vector registers (zmm0-31 with AVX-512, else ymm0-15, else xmm0-15) with
 * a pattern and stops. The parent reads SHORT_BYTES of its xstate, changes xmm0 in that part,
 * and writes SHORT_BYTES back. The child then checks every register: xmm0 must hold the
 * parent's value and everything else (ymm/zmm upper halves, zmm16-31) its own pattern.
 *
 * Exit: 0 whole; 1 a register came back wrong (printed); 2 the short SETREGSET was refused
 * (the host kernel's EFAULT, which the LD_PRELOAD fix-up exists to avoid); 3 other failures.
 * Run under LD_PRELOAD=uml_xstate.so to test the fix-up; without it, exit 2 is expected.
 * "zero-pad" is the naive fix (pad the short buffer with zeros to the full size), which must
 * fail the check wherever the registers are wider than SHORT_BYTES covers: proof that the
 * check can fail.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vector_registers.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define XMM0_OFFSET 160 /* in the FXSAVE area at the start of every xstate buffer */

static uint8_t before[32][64] __attribute__((aligned(64)));
static uint8_t after[32][64] __attribute__((aligned(64)));

/* Load, stop with a raw kill(2) (no library code touches a register), store. */
#define STOP_SELF "mov %[nr], %%eax\n\tmov %[pid], %%edi\n\tmov %[sig], %%esi\n\tsyscall\n\t"

#define STOP_OPERANDS                                                                      \
	: [in] "r"(before), [out] "r"(after), [nr] "i"(SYS_kill), [pid] "r"(pid),           \
	  [sig] "i"(SIGSTOP)

__attribute__((target("avx512f"))) static void stop_with_zmm(int pid)
{
	asm volatile(ZMM_LOADS STOP_SELF ZMM_STORES : STOP_OPERANDS
		     : "rax", "rdi", "rsi", "rcx", "r11", "memory", ZMM_CLOBBERS);
}

__attribute__((target("avx"))) static void stop_with_ymm(int pid)
{
	asm volatile(YMM_LOADS STOP_SELF YMM_STORES : STOP_OPERANDS
		     : "rax", "rdi", "rsi", "rcx", "r11", "memory", XMM_CLOBBERS);
}

static void stop_with_xmm(int pid)
{
	asm volatile(XMM_LOADS STOP_SELF XMM_STORES : STOP_OPERANDS
		     : "rax", "rdi", "rsi", "rcx", "r11", "memory", XMM_CLOBBERS);
}

static int child(void)
{
	int regs, width;

	for (int r = 0; r < 32; r++)
		for (int b = 0; b < 64; b++)
			before[r][b] = (uint8_t)(r * 7 + b * 13 + 1);
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		return 3;
	if (__builtin_cpu_supports("avx512f")) {
		regs = 32, width = 64;
		stop_with_zmm(getpid());
	} else if (__builtin_cpu_supports("avx")) {
		regs = 16, width = 32;
		stop_with_ymm(getpid());
	} else {
		regs = 16, width = 16;
		stop_with_xmm(getpid());
	}
	int wrong = 0;
	for (int r = 0; r < regs; r++)
		for (int b = 0; b < width; b++) {
			uint8_t want = (r == 0 && b < 16) ? 0x5a : before[r][b];
			if (after[r][b] != want) {
				printf("register %d byte %d: 0x%02x, expected 0x%02x\n", r, b,
				       after[r][b], want);
				wrong = 1;
			}
		}
	printf("checked %d registers of %d bytes: %s\n", regs, width, wrong ? "WRONG" : "whole");
	fflush(stdout);
	return wrong;
}

int main(int argc, char **argv)
{
	size_t short_len = argc > 1 ? strtoul(argv[1], NULL, 0) : 576;
	int zero_pad = argc > 2 && strcmp(argv[2], "zero-pad") == 0;
	static uint8_t buffer[1 << 16];
	struct iovec iov = {buffer, sizeof(buffer)};
	int status;

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(child());
	if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status))
		return 3;
	/* the full size, straight from the kernel (a large buffer is cut to what it has) */
	if (syscall(SYS_ptrace, PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) < 0) {
		perror("GETREGSET");
		return 3;
	}
	size_t full_len = iov.iov_len;
	printf("host xstate size %zu, tracer uses %zu\n", full_len, short_len);
	memset(buffer, 0, sizeof(buffer));
	iov.iov_len = short_len;
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0) {
		perror("short GETREGSET");
		return 3;
	}
	memset(buffer + XMM0_OFFSET, 0x5a, 16);
	iov.iov_len = zero_pad ? full_len : short_len;
	if (ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0) {
		printf("short SETREGSET refused: %s\n", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return 2;
	}
	fflush(stdout);
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return 3;
	return WEXITSTATUS(status);
}
