// Package plural writes a count with its noun, in the singular for exactly
// one: "1 run", "0 runs", "2 processes". It is a leaf (standard library
// only) so that every package that prints text can use it, the ones under
// ipc that ipc itself imports (sysobj, doctor) included.
package plural

import "strconv"

// Count returns n and the noun that agrees with it: Count(1, "run",
// "runs") is "1 run", Count(0, "run", "runs") is "0 runs". Both forms are
// given because English plurals are irregular ("process", "processes").
// For text; JSON carries the bare number.
func Count[T ~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64](n T, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	if n < 0 {
		return strconv.FormatInt(int64(n), 10) + " " + many
	}
	return strconv.FormatUint(uint64(n), 10) + " " + many
}
