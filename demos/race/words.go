package race

import "github.com/ipcplay/ipcplay/ipc/plural"

// Count writes n with its noun, singular for exactly one: Count(1,
// "increment", "increments") is "1 increment", Count(3, ...) "3
// increments". Every count in the race's output goes through it, so that
// a run of one worker or one increment never reads "1 increments".
func Count[T ~int | ~int64 | ~uint64](n T, one, many string) string {
	return plural.Count(n, one, many) // the project's one helper
}
