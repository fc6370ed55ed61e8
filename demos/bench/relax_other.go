//go:build !amd64

package bench

// cpuRelax is the spin-wait hint; elsewhere than amd64 a poll is just a
// load (relax_amd64.go).
func cpuRelax() {}
