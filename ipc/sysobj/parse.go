package sysobj

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// Decoders of the kernel's text formats. They take bytes, never touch the
// file system, and never panic on malformed input (each has a fuzz test):
// a line they do not understand is skipped.

// parseSysVTable decodes /proc/sysvipc/{shm,sem,msg}: a header line naming
// the columns, then one object per line. Each row maps column name to
// value, so that columns added by newer kernels (rss, swap) do no harm.
func parseSysVTable(data []byte) []map[string]string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return nil
	}
	header := strings.Fields(sc.Text())
	var rows []map[string]string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || len(f) > len(header) {
			continue
		}
		row := make(map[string]string, len(f))
		for i, v := range f {
			row[header[i]] = v
		}
		rows = append(rows, row)
	}
	return rows
}

// rowInt returns an integer column of a /proc/sysvipc row, and ok.
func rowInt(row map[string]string, col string) (int64, bool) {
	v, err := strconv.ParseInt(row[col], 10, 64)
	return v, err == nil
}

// rowMode returns the permission bits of a perms column ("1600" for a
// 0600 segment marked for removal), and ok.
func rowMode(row map[string]string) (uint32, bool) {
	v, err := strconv.ParseUint(row["perms"], 8, 32)
	return uint32(v), err == nil
}

// Socket flags, types and states as /proc/net/unix prints them.
const (
	soAcceptCon = 0x10000 // __SO_ACCEPTCON: a listening socket

	ssUnconnected   = 1
	ssConnecting    = 2
	ssConnected     = 3
	ssDisconnecting = 4
)

// netUnix is one line of /proc/net/unix.
type netUnix struct {
	Inode uint64
	Flags uint32
	Type  int    // 1 stream, 2 dgram, 5 seqpacket
	State int    // ssUnconnected...
	Path  string // "" unbound; "@name" abstract (NULs shown as '@')
}

func (u netUnix) listening() bool { return u.Flags&soAcceptCon != 0 }

// parseNetUnix decodes /proc/net/unix:
//
//	Num       RefCount Protocol Flags    Type St Inode Path
//	0000000000000000: 00000002 00000000 00010000 0001 01 34966 /tmp/x.sock
//
// The path is the rest of the line and may contain spaces.
func parseNetUnix(data []byte) []netUnix {
	var out []netUnix
	for i, line := range strings.Split(string(data), "\n") {
		if i == 0 || line == "" {
			continue // header
		}
		f, rest := fieldsN(line, 7)
		if len(f) < 7 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		typ, err2 := strconv.ParseUint(f[4], 16, 16)
		st, err3 := strconv.ParseUint(f[5], 16, 8)
		ino, err4 := strconv.ParseUint(f[6], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		out = append(out, netUnix{Inode: ino, Flags: uint32(flags), Type: int(typ), State: int(st), Path: rest})
	}
	return out
}

// fieldsN splits the first n space-separated fields off line and returns
// them with the rest of the line (leading spaces removed).
func fieldsN(line string, n int) ([]string, string) {
	var f []string
	s := line
	for len(f) < n {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return f, ""
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			f = append(f, s)
			return f, ""
		}
		f = append(f, s[:end])
		s = s[end:]
	}
	return f, strings.TrimLeft(s, " \t")
}

// lockEntry is one lock (or one blocked lock request) of /proc/locks.
type lockEntry struct {
	Class   string // FLOCK, POSIX, OFDLCK, LEASE...
	Access  string // READ, WRITE (UNLCK for a lease being broken)
	PID     int    // -1 for some OFD locks
	Major   uint32
	Minor   uint32
	Inode   uint64
	Start   string
	End     string
	Blocked bool // a request waiting for the lock ("->" lines)
}

// parseLocks decodes /proc/locks:
//
//	1: POSIX  ADVISORY  WRITE 1234 00:1a:5678 0 EOF
//	1: -> FLOCK  ADVISORY  WRITE 1240 00:1a:5678 0 EOF
//
// (major and minor in hex, inode in decimal).
func parseLocks(data []byte) []lockEntry {
	var out []lockEntry
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		f = f[1:]
		var e lockEntry
		if f[0] == "->" {
			e.Blocked = true
			f = f[1:]
		}
		if len(f) < 5 {
			continue
		}
		e.Class, e.Access = f[0], f[2]
		pid, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		e.PID = pid
		dev := strings.Split(f[4], ":")
		if len(dev) != 3 {
			continue
		}
		maj, err1 := strconv.ParseUint(dev[0], 16, 32)
		min, err2 := strconv.ParseUint(dev[1], 16, 32)
		ino, err3 := strconv.ParseUint(dev[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		e.Major, e.Minor, e.Inode = uint32(maj), uint32(min), ino
		if len(f) >= 7 {
			e.Start, e.End = f[5], f[6]
		}
		out = append(out, e)
	}
	return out
}

// parseFDInfoLocks decodes the "lock:" lines of /proc/PID/fdinfo/FD,
// which have the format of /proc/locks after the "lock:" tag:
//
//	lock:	1: OFDLCK  ADVISORY  WRITE -1 00:1a:5678 0 EOF
func parseFDInfoLocks(data []byte) []lockEntry {
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "lock:"); ok {
			b.WriteString(strings.TrimSpace(rest) + "\n")
		}
	}
	return parseLocks([]byte(b.String()))
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	Start, End uint64
	Perms      string // "rw-s"
	Offset     uint64
	Major      uint32
	Minor      uint32
	Inode      uint64
	Path       string // may end in " (deleted)"
}

// parseMapsLine decodes one line of /proc/PID/maps:
//
//	7f0000000000-7f0000001000 r--s 00000000 00:1a 12345   /dev/shm/x
func parseMapsLine(line string) (mapping, bool) {
	f, rest := fieldsN(line, 5)
	if len(f) < 5 {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return mapping{}, false
	}
	var m mapping
	var err [6]error
	m.Start, err[0] = strconv.ParseUint(lo, 16, 64)
	m.End, err[1] = strconv.ParseUint(hi, 16, 64)
	m.Offset, err[2] = strconv.ParseUint(f[2], 16, 64)
	maj, min, ok := strings.Cut(f[3], ":")
	if !ok {
		return mapping{}, false
	}
	var ma, mi uint64
	ma, err[3] = strconv.ParseUint(maj, 16, 32)
	mi, err[4] = strconv.ParseUint(min, 16, 32)
	m.Inode, err[5] = strconv.ParseUint(f[4], 10, 64)
	for _, e := range err {
		if e != nil {
			return mapping{}, false
		}
	}
	m.Perms, m.Major, m.Minor, m.Path = f[1], uint32(ma), uint32(mi), rest
	return m, true
}

// sysvKeyPath reports whether a maps path names a System V segment
// ("/SYSV0000abcd", perhaps followed by " (deleted)").
func sysvKeyPath(p string) bool {
	return strings.HasPrefix(p, "/SYSV") && len(p) >= len("/SYSV")+8
}

// taskSyscall is what /proc/PID/task/TID/syscall says about a thread.
type taskSyscall struct {
	Running bool      // on a CPU: nothing to say
	InCall  bool      // blocked in system call Nr with Args
	Nr      int64     // -1 when blocked outside a system call
	Args    [6]uint64 // in the native calling convention
}

// parseSyscall decodes /proc/PID/task/TID/syscall: "running", "-1 SP PC"
// (blocked, not in a system call), or "NR ARG1 ... ARG6 SP PC" (blocked in
// system call NR; the arguments in hex).
func parseSyscall(data []byte) (taskSyscall, bool) {
	f := strings.Fields(string(data))
	switch {
	case len(f) == 0:
		return taskSyscall{}, false
	case f[0] == "running":
		return taskSyscall{Running: true}, true
	}
	nr, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return taskSyscall{}, false
	}
	if nr < 0 {
		return taskSyscall{Nr: nr}, true
	}
	if len(f) < 7 {
		return taskSyscall{}, false
	}
	s := taskSyscall{InCall: true, Nr: nr}
	for i := range s.Args {
		v, err := strconv.ParseUint(strings.TrimPrefix(f[i+1], "0x"), 16, 64)
		if err != nil {
			return taskSyscall{}, false
		}
		s.Args[i] = v
	}
	return s, true
}

// mqStatus is the one line a POSIX message queue's file reads as:
// "QSIZE:11         NOTIFY:0     SIGNO:0     NOTIFY_PID:0".
type mqStatus struct {
	QSize     int64 // bytes queued, with the kernel's per-priority bookkeeping
	Notify    int   // SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD 2, when a NOTIFY_PID is set
	Signo     int
	NotifyPID int
}

func parseMQStatus(data []byte) (mqStatus, bool) {
	var s mqStatus
	seen := 0
	for _, f := range strings.Fields(string(data)) {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return mqStatus{}, false
		}
		switch k {
		case "QSIZE":
			s.QSize, seen = n, seen+1
		case "NOTIFY":
			s.Notify = int(n)
		case "SIGNO":
			s.Signo = int(n)
		case "NOTIFY_PID":
			s.NotifyPID = int(n)
		}
	}
	return s, seen == 1
}

// parseMountinfo returns the mount points of file systems of type fstype
// from /proc/self/mountinfo (field 5 the mount point, the type after " - ").
func parseMountinfo(data []byte, fstype string) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf, tf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(tf) < 1 || tf[0] != fstype {
			continue
		}
		out = append(out, unescapeMount(pf[4]))
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cmdlineString turns /proc/PID/cmdline (NUL-separated arguments) into one
// line, arguments separated by spaces.
func cmdlineString(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	args := bytes.Split(b, []byte{0})
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = EscapeName(string(a))
	}
	return strings.Join(out, " ")
}
