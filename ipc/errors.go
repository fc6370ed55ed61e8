package ipc

import (
	"errors"
	"fmt"
)

// UsageError marks bad usage or bad input: an unknown value, a number out of
// its allowed range. The CLI exits with code 2 for it, and the engine
// refuses such a request before it creates anything.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message. Name the flag and
// the allowed values: "--procs 0: must be between 1 and 64".
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// AsUsage wraps err as a UsageError (nil stays nil).
func AsUsage(err error) error {
	if err == nil || IsUsage(err) {
		return err
	}
	return &UsageError{Err: err}
}

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// UsageError reports true; packages that cannot import ipc (ipc/worker)
// recognise usage errors by this method.
func (e *UsageError) UsageError() bool { return true }
