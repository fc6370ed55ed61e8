package ipc

import "strconv"

// Plural writes a count with its noun, singular for exactly one:
// Plural(1, "run", "runs") is "1 run", Plural(0, "run", "runs") "0 runs".
// Both forms are given because English plurals are irregular ("process",
// "processes"). For the text commands print; JSON carries the bare number.
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
