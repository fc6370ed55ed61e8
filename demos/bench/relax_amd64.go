package bench

// cpuRelax is one PAUSE instruction: the spin-wait hint of Intel's and
// AMD's manuals, which the C reference's loops use too
// (__builtin_ia32_pause), so that a budget of N polls costs the same time
// in both. It also spares the memory-order machine clear when the awaited
// store arrives, and leaves an SMT sibling the core.
//
//go:noescape
func cpuRelax()
