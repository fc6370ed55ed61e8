//go:build arm64 || riscv64 || loong64

package kabi

// SemidDs is struct semid64_ds as semctl(2) IPC_STAT fills it on this
// architecture: here the generic 64-bit layout
// (include/uapi/asm-generic/sembuf.h).
type SemidDs = semidDsGeneric64
