package sockets

import "fmt"

// Address length limits, in bytes. sun_path has 108 bytes: a path needs a
// terminating NUL, so it may have 107; an abstract name's "@" becomes the
// leading NUL and there is no terminator, so "@name" may have 108.
const (
	MaxPathLen     = 107
	MaxAbstractLen = 108
)

// isAbstract reports whether addr names the abstract namespace.
func isAbstract(addr string) bool { return len(addr) > 0 && addr[0] == '@' }

// checkAddr validates an address's length.
func checkAddr(addr string) error {
	switch {
	case addr == "":
		return fmt.Errorf("sockets: empty socket address")
	case addr == "@":
		return fmt.Errorf("sockets: empty abstract socket name %q", addr)
	case isAbstract(addr) && len(addr) > MaxAbstractLen:
		return fmt.Errorf("%w: abstract name %q is %d bytes, limit is %d", ErrPathTooLong, addr, len(addr), MaxAbstractLen)
	case !isAbstract(addr) && len(addr) > MaxPathLen:
		return fmt.Errorf("%w: %q is %d bytes, limit is %d", ErrPathTooLong, addr, len(addr), MaxPathLen)
	}
	return nil
}
