package semaphore

// Unnamed is a POSIX unnamed, process-shared semaphore living in memory the
// caller provides (typically a MAP_SHARED mapping from package shm): the
// equivalent of sem_init(sem, 1, value) with the same 32-byte layout and
// algorithm as glibc, so a C process mapping the same memory can call
// sem_wait and sem_post on it.
//
// The memory must stay mapped while the Unnamed is in use. An Unnamed is
// safe for concurrent use by goroutines and processes.
type Unnamed struct {
	mem []byte
	g   gsem
}
