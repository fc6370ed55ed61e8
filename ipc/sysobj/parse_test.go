package sysobj

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSysVTable(t *testing.T) {
	data := []byte(`       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
         0      32806  1600                 16384 22504 22504      1     0     0     0     0 1795528567          0 1795528567                  4096                     0
 305419896         7   644                  4096    10    11      0  1000  1000  1000  1000          0          0 1795528567                     0                     0
garbage
`)
	rows := parseSysVTable(data)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2: %v", len(rows), rows)
	}
	if id, _ := rowInt(rows[0], "shmid"); id != 32806 {
		t.Errorf("shmid %d", id)
	}
	if m, _ := rowMode(rows[0]); m != 0o1600 || modeString(m) != "0600" {
		t.Errorf("perms %o -> %s", m, modeString(m))
	}
	if k, _ := rowInt(rows[1], "key"); k != 0x12345678 {
		t.Errorf("key %#x", k)
	}
	if v, _ := rowInt(rows[1], "swap"); v != 0 {
		t.Errorf("swap %d", v)
	}
}

func TestParseNetUnix(t *testing.T) {
	data := []byte(`Num       RefCount Protocol Flags    Type St Inode Path
00000000fa3da65a: 00000002 00000000 00010000 0001 01 34966 /tmp/xx.sock
00000000fdb1bebb: 00000003 00000000 00000000 0001 03 34968 /tmp/xx.sock
00000000cf53885f: 00000002 00000000 00000000 0001 03 33136
0000000000000000: 00000002 00000000 00000000 0002 01 40000 @abs@name
0000000000000001: 00000002 00000000 00010000 0005 01 40001 /tmp/with space.sock
bad line
`)
	got := parseNetUnix(data)
	want := []netUnix{
		{Inode: 34966, Flags: 0x10000, Type: 1, State: 1, Path: "/tmp/xx.sock"},
		{Inode: 34968, Type: 1, State: 3, Path: "/tmp/xx.sock"},
		{Inode: 33136, Type: 1, State: 3},
		{Inode: 40000, Type: 2, State: 1, Path: "@abs@name"},
		{Inode: 40001, Flags: 0x10000, Type: 5, State: 1, Path: "/tmp/with space.sock"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if !got[0].listening() || got[1].listening() {
		t.Error("listening flag")
	}
	if ssName(got[0]) != "listening" || ssName(got[1]) != "connected" {
		t.Errorf("states %s %s", ssName(got[0]), ssName(got[1]))
	}
}

func TestParseLocks(t *testing.T) {
	data := []byte(`1: POSIX  ADVISORY  WRITE 1234 00:1a:5678 0 EOF
2: FLOCK  ADVISORY  WRITE 1240 fd:01:99 0 EOF
2: -> FLOCK  ADVISORY  WRITE 1241 fd:01:99 0 EOF
3: OFDLCK ADVISORY  READ  -1 00:05:7 0 100
4: LEASE  ACTIVE    READ  10 <none>:0 0 EOF
`)
	got := parseLocks(data)
	want := []lockEntry{
		{Class: "POSIX", Access: "WRITE", PID: 1234, Major: 0, Minor: 0x1a, Inode: 5678, Start: "0", End: "EOF"},
		{Class: "FLOCK", Access: "WRITE", PID: 1240, Major: 0xfd, Minor: 1, Inode: 99, Start: "0", End: "EOF"},
		{Class: "FLOCK", Access: "WRITE", PID: 1241, Major: 0xfd, Minor: 1, Inode: 99, Start: "0", End: "EOF", Blocked: true},
		{Class: "OFDLCK", Access: "READ", PID: -1, Major: 0, Minor: 5, Inode: 7, Start: "0", End: "100"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		want mapping
	}{
		{"7f0767e2e000-7f0767e2f000 rw-s 00000000 00:1a 12345                      /dev/shm/sem.x", true,
			mapping{Start: 0x7f0767e2e000, End: 0x7f0767e2f000, Perms: "rw-s", Major: 0, Minor: 0x1a, Inode: 12345, Path: "/dev/shm/sem.x"}},
		{"7f0767e2c000-7f0767e2e000 rw-s 00001000 00:01 32806                      /SYSV00000000 (deleted)", true,
			mapping{Start: 0x7f0767e2c000, End: 0x7f0767e2e000, Perms: "rw-s", Offset: 0x1000, Minor: 1, Inode: 32806, Path: "/SYSV00000000 (deleted)"}},
		{"00400000-00401000 r-xp 00000000 103:02 2 /usr/bin/a b", true,
			mapping{Start: 0x400000, End: 0x401000, Perms: "r-xp", Major: 0x103, Minor: 2, Inode: 2, Path: "/usr/bin/a b"}},
		{"7ffc-7ffd rw-p 00000000 00:00 0", true, mapping{Start: 0x7ffc, End: 0x7ffd, Perms: "rw-p"}},
		{"nonsense", false, mapping{}},
		{"1-2 rw-p 0 0000 0", false, mapping{}},
	} {
		got, ok := parseMapsLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: got %+v %v, want %+v %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
	if !sysvKeyPath("/SYSV00000000 (deleted)") || sysvKeyPath("/dev/shm/x") || sysvKeyPath("/SYSV") {
		t.Error("sysvKeyPath")
	}
}

func TestParseSyscall(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want taskSyscall
	}{
		{"running\n", true, taskSyscall{Running: true}},
		{"-1 0x7ffc 0x4000\n", true, taskSyscall{Nr: -1}},
		{"220 0x4000e 0x7ffd 0x1 0x0 0x0 0x0 0x7ffd 0x7f00\n", true,
			taskSyscall{InCall: true, Nr: 220, Args: [6]uint64{0x4000e, 0x7ffd, 1}}},
		{"202 0x7f00 0x89 0x0", false, taskSyscall{}},
		{"x 0x1", false, taskSyscall{}},
		{"", false, taskSyscall{}},
	} {
		got, ok := parseSyscall([]byte(tc.in))
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: got %+v %v, want %+v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseMQStatus(t *testing.T) {
	s, ok := parseMQStatus([]byte("QSIZE:11         NOTIFY:2     SIGNO:10    NOTIFY_PID:4321  \n"))
	if !ok || s != (mqStatus{QSize: 11, Notify: 2, Signo: 10, NotifyPID: 4321}) {
		t.Fatalf("got %+v %v", s, ok)
	}
	if _, ok := parseMQStatus([]byte("hello")); ok {
		t.Error("accepted a line without QSIZE")
	}
	if notifyName(0, 10) != "signal 10" || notifyName(2, 0) != "thread" {
		t.Error("notifyName")
	}
}

func TestParseMountinfo(t *testing.T) {
	data := []byte(`22 1 0:21 / /dev/shm rw,relatime shared:2 - tmpfs tmpfs rw
30 22 0:30 / /dev/mqueue rw,relatime - mqueue mqueue rw
31 22 0:31 / /mnt/my\040queues rw - mqueue none rw
`)
	got := parseMountinfo(data, "mqueue")
	if !reflect.DeepEqual(got, []string{"/dev/mqueue", "/mnt/my queues"}) {
		t.Fatalf("got %q", got)
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		typ, arg string
		want     Target
		err      error
	}{
		{"sysv-sem", "32768", Target{Type: TypeSysVSem, ID: 32768}, nil},
		{"sysv-shm", "0", Target{Type: TypeSysVShm, ID: 0}, nil},
		{"sysv-msg", "-1", Target{}, ErrInvalid},
		{"sysv-msg", "abc", Target{}, ErrInvalid},
		{"sysv-msg", "0x10", Target{}, ErrInvalid},
		{"posix-sem", "mysem", Target{Type: TypePOSIXSem, ID: -1, Name: "/mysem"}, nil},
		{"posix-sem", "/mysem", Target{Type: TypePOSIXSem, ID: -1, Name: "/mysem"}, nil},
		{"posix-shm", "/a/b", Target{}, ErrInvalid},
		{"posix-shm", "a/", Target{}, ErrInvalid},
		{"posix-shm", "/", Target{}, ErrInvalid},
		{"posix-mq", "..", Target{}, ErrInvalid},
		{"posix-mq", "/" + strings.Repeat("x", 256), Target{}, ErrInvalid},
		{"posix-sem", strings.Repeat("x", 252), Target{}, ErrInvalid},
		{"posix-shm", strings.Repeat("x", 255), Target{Type: TypePOSIXShm, ID: -1, Name: "/" + strings.Repeat("x", 255)}, nil},
		{"unix-socket", "@abs", Target{Type: TypeUnixSocket, ID: -1, Name: "@abs"}, nil},
		{"unix-socket", "/run/x.sock", Target{Type: TypeUnixSocket, ID: -1, Name: "/run/x.sock"}, nil},
		{"unix-socket", "/" + strings.Repeat("x", 4100), Target{}, ErrInvalid},
		{"unix-socket", "", Target{}, ErrInvalid},
		{"sysv", "1", Target{}, ErrInvalid},
		{"SYSV-SEM", "1", Target{}, ErrInvalid},
	} {
		got, err := ParseTarget(tc.typ, tc.arg)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) || got != tc.want {
			t.Errorf("ParseTarget(%q, %q) = %+v, %v; want %+v, %v", tc.typ, tc.arg, got, err, tc.want, tc.err)
		}
		if err != nil && errors.Is(err, ErrNotExist) {
			t.Errorf("%q %q: invalid input reported as missing", tc.typ, tc.arg)
		}
	}
	_, err := ParseType("bogus")
	for _, typ := range Types {
		if !strings.Contains(err.Error(), typ) {
			t.Errorf("ParseType error %q does not name %s", err, typ)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		off, n int64
		ok     bool
	}{
		{"", 0, DefaultDumpLen, true},
		{"0:64", 0, 64, true},
		{"0x10:0x20", 16, 32, true},
		{"100:", 100, -1, true},
		{"100", 100, -1, true},
		{":8", 0, 8, true},
		{":", 0, 0, false},
		{"-1:4", 0, 0, false},
		{"1:-4", 0, 0, false},
		{"a:b", 0, 0, false},
		{"0:99999999999", 0, 0, false},
	} {
		off, n, err := ParseRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (off != tc.off || n != tc.n)) {
			t.Errorf("ParseRange(%q) = %d, %d, %v", tc.in, off, n, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRange(%q) error is not ErrInvalid: %v", tc.in, err)
		}
	}
	tg := Target{Type: TypePOSIXShm, Name: "/x"}
	if _, err := dumpRange(tg, 100, 100, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("offset at the end accepted: %v", err)
	}
	if d, err := dumpRange(tg, 100, 90, 50); err != nil || d.Length != 10 {
		t.Errorf("clip: %+v %v", d, err)
	}
	if d, err := dumpRange(tg, 0, 0, -1); err != nil || d.Length != 0 {
		t.Errorf("empty object: %+v %v", d, err)
	}
}

func TestHexDump(t *testing.T) {
	data := append([]byte("hello posix"), make([]byte, 53)...)
	got := HexDump(data, 0x10)
	want := `00000010  68 65 6c 6c 6f 20 70 6f  73 69 78 00 00 00 00 00  |hello posix.....|
00000020  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|
*
00000050
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := HexDump([]byte{0x41, 0x0a}, 0); got != "00000000  41 0a                                             |A.|\n00000002\n" {
		t.Fatalf("short line: %q", got)
	}
}

// diagMsg builds one SOCK_DIAG_BY_FAMILY message for the decoder tests.
func diagMsg(ino uint32, typ, state uint8, attrs ...[]byte) []byte {
	body := make([]byte, sizeofDiagMsg)
	body[0], body[1], body[2] = 1, typ, state
	binary.NativeEndian.PutUint32(body[4:], ino)
	for _, a := range attrs {
		body = append(body, a...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	hdr := make([]byte, 16)
	binary.NativeEndian.PutUint32(hdr[0:], uint32(16+len(body)))
	binary.NativeEndian.PutUint16(hdr[4:], 20)
	return append(hdr, body...)
}

func diagAttr(typ uint16, v []byte) []byte {
	a := make([]byte, 4, 4+len(v))
	binary.NativeEndian.PutUint16(a[0:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(a[2:], typ)
	return append(a, v...)
}

func u32s(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.NativeEndian.AppendUint32(b, x)
	}
	return b
}

func TestParseDiag(t *testing.T) {
	batch := diagMsg(100, 1, tcpListen,
		diagAttr(unixDiagName, []byte("/tmp/s.sock\x00")),
		diagAttr(unixDiagVFS, u32s(555, 0x1a|8<<20)),
		diagAttr(unixDiagIcons, u32s(201, 202)),
		diagAttr(unixDiagRQLen, u32s(2, 128)),
		diagAttr(unixDiagUID, u32s(1000)))
	batch = append(batch, diagMsg(101, 2, tcpClose, diagAttr(unixDiagName, []byte("\x00abs\x00x")), diagAttr(unixDiagPeer, u32s(7)))...)
	done := make([]byte, 20)
	binary.NativeEndian.PutUint32(done[0:], 20)
	binary.NativeEndian.PutUint16(done[4:], 3) // NLMSG_DONE
	batch = append(batch, done...)
	var recs []sockRecord
	fin, err := parseDiagBatch(batch, &recs)
	if err != nil || !fin || len(recs) != 2 {
		t.Fatalf("done %v err %v recs %+v", fin, err, recs)
	}
	r := recs[0]
	if r.Inode != 100 || !r.Listening || r.Name != "/tmp/s.sock" || r.UID != 1000 ||
		r.VFS == nil || *r.VFS != (devIno{Major: 8, Minor: 0x1a, Ino: 555}) ||
		!reflect.DeepEqual(r.Icons, []uint64{201, 202}) || *r.RQ != 2 || *r.WQ != 128 {
		t.Errorf("listener %+v vfs %+v", r, r.VFS)
	}
	if r := recs[1]; r.Name != "@abs\x00x" || r.Peer != 7 || r.State != "unconnected" || r.Type != 2 {
		t.Errorf("dgram %+v", r)
	}
	errMsg := make([]byte, 20)
	binary.NativeEndian.PutUint32(errMsg[0:], 20)
	binary.NativeEndian.PutUint16(errMsg[4:], 2)                     // NLMSG_ERROR
	binary.NativeEndian.PutUint32(errMsg[16:], uint32(0xffffffff-1)) // -2: ENOENT
	if _, err := parseDiagBatch(errMsg, &recs); err == nil {
		t.Error("NLMSG_ERROR not reported")
	}
}

// Fuzz every decoder of kernel text and binary formats: none may panic.

func FuzzParseNetUnix(f *testing.F) {
	f.Add([]byte("Num RefCount\n0000: 00000002 00000000 00010000 0001 01 34966 /tmp/xx.sock\n"))
	f.Fuzz(func(t *testing.T, b []byte) { parseNetUnix(b) })
}

func TestParseFDInfoLocks(t *testing.T) {
	data := []byte("pos:\t0\nflags:\t02100001\nmnt_id:\t27\nino:\t9978651\nlock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:9978651 0 EOF\nlock:\t2: FLOCK  ADVISORY  READ 31430 fe:01:12 0 EOF\n")
	got := parseFDInfoLocks(data)
	if len(got) != 2 || got[0].Class != "OFDLCK" || got[0].PID != -1 || got[0].Major != 0xfe || got[0].Inode != 9978651 ||
		got[1].Class != "FLOCK" || got[1].Access != "READ" || got[1].Minor != 1 || got[1].Inode != 12 {
		t.Errorf("%+v", got)
	}
	if len(parseFDInfoLocks([]byte("pos:\t0\nflags:\t0\n"))) != 0 {
		t.Error("locks from an fdinfo without lock: lines")
	}
}

func FuzzParseFDInfoLocks(f *testing.F) {
	f.Add([]byte("pos:\t0\nlock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:9978651 0 EOF\n"))
	f.Fuzz(func(t *testing.T, b []byte) { parseFDInfoLocks(b) })
}

func FuzzParseLocks(f *testing.F) {
	f.Add([]byte("1: -> FLOCK  ADVISORY  WRITE 1241 fd:01:99 0 EOF\n"))
	f.Fuzz(func(t *testing.T, b []byte) { parseLocks(b) })
}

func FuzzParseMapsLine(f *testing.F) {
	f.Add("7f0767e2e000-7f0767e2f000 rw-s 00000000 00:1a 12345 /dev/shm/sem.x")
	f.Fuzz(func(t *testing.T, s string) { parseMapsLine(s) })
}

func FuzzParseSyscall(f *testing.F) {
	f.Add([]byte("220 0x4000e 0x7ffd 0x1 0x0 0x0 0x0 0x7ffd 0x7f00"))
	f.Fuzz(func(t *testing.T, b []byte) { parseSyscall(b) })
}

func FuzzParseSysVTable(f *testing.F) {
	f.Add([]byte("key semid perms nsems\n0 5 600 3\n"))
	f.Fuzz(func(t *testing.T, b []byte) { parseSysVTable(b) })
}

func FuzzParseMQStatus(f *testing.F) {
	f.Add([]byte("QSIZE:11 NOTIFY:0 SIGNO:0 NOTIFY_PID:0"))
	f.Fuzz(func(t *testing.T, b []byte) { parseMQStatus(b) })
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte(`31 22 0:31 / /mnt/my\040q rw - mqueue none rw`))
	f.Fuzz(func(t *testing.T, b []byte) { parseMountinfo(b, "mqueue") })
}

func FuzzParseDiagBatch(f *testing.F) {
	f.Add(diagMsg(100, 1, tcpListen, diagAttr(unixDiagName, []byte("/tmp/s")), diagAttr(unixDiagIcons, u32s(1, 2))))
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []sockRecord
		parseDiagBatch(b, &recs)
	})
}

func FuzzParseRange(f *testing.F) {
	f.Add("0x10:64")
	f.Fuzz(func(t *testing.T, s string) {
		off, n, err := ParseRange(s)
		if err == nil && (off < 0 || n > MaxDumpLen) {
			t.Fatalf("%q gave %d %d", s, off, n)
		}
	})
}

func FuzzHexDump(f *testing.F) {
	f.Add([]byte("hello"), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, base int64) {
		if len(b) > 4096 {
			b = b[:4096]
		}
		HexDump(b, base)
	})
}
