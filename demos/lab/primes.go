package lab

// countPrimes counts the primes in [lo, hi) by trial division: honest
// CPU-bound work with no memory traffic, the same in every process.
func countPrimes(lo, hi uint64) uint64 {
	var n uint64
	for x := lo; x < hi; x++ {
		if isPrime(x) {
			n++
		}
	}
	return n
}

func isPrime(x uint64) bool {
	if x < 2 {
		return false
	}
	if x%2 == 0 {
		return x == 2
	}
	for d := uint64(3); d*d <= x; d += 2 {
		if x%d == 0 {
			return false
		}
	}
	return true
}

// sievePrimes returns, for each task range [i*size+1, (i+1)*size+1), the
// number of primes in it, computed with a sieve: the reference answers the
// pools' results are checked against.
func sievePrimes(tasks, size int) []uint64 {
	limit := tasks*size + 1
	composite := make([]bool, limit+1)
	out := make([]uint64, tasks)
	for x := 2; x <= limit; x++ {
		if composite[x] {
			continue
		}
		for m := x * x; m <= limit; m += x {
			composite[m] = true
		}
		if i := (x - 1) / size; i < tasks {
			out[i]++
		}
	}
	return out
}
