package kabi

// SemidDs is struct semid64_ds as semctl(2) IPC_STAT fills it on this
// architecture: here x86_64's layout (arch/x86/include/uapi/asm/sembuf.h).
type SemidDs = semidDsX86_64
