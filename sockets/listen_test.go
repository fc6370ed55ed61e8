package sockets

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Listener hygiene: directory checks, path length, stale and live sockets,
// files in the way, socket mode, removal on Close.

func TestListenRefusesInsecureDir(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T) string // returns the socket directory
		want  []string                  // substrings of the message
	}{
		{"mode0755", func(t *testing.T) string {
			d := sockDir(t)
			chmod(t, d, 0o755)
			return d
		}, []string{"mode 0755"}},
		{"mode0770", func(t *testing.T) string {
			d := sockDir(t)
			chmod(t, d, 0o770)
			return d
		}, []string{"mode 0770"}},
		{"mode0500", func(t *testing.T) string {
			d := sockDir(t)
			chmod(t, d, 0o500)
			t.Cleanup(func() { os.Chmod(d, 0o700) })
			return d
		}, []string{"mode 0500"}},
		{"otherOwner", func(t *testing.T) string {
			if os.Geteuid() != 0 {
				t.Skip("needs root to chown a directory to another uid")
			}
			d := sockDir(t)
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return d
		}, []string{"uid 65534", "mode 0700"}},
		{"symlink", func(t *testing.T) string {
			d := sockDir(t)
			real := filepath.Join(d, "real")
			if err := os.Mkdir(real, 0o700); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(d, "link")
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, []string{"symlink"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			path := filepath.Join(dir, "s.sock")
			for _, typ := range []Type{Stream, SeqPacket} {
				l, err := Listen(typ, path)
				if err == nil {
					l.Close()
					t.Fatalf("Listen(%v) in %s succeeded", typ, tc.name)
				}
				if !errors.Is(err, ErrInsecureDir) {
					t.Fatalf("Listen(%v): %v, want ErrInsecureDir", typ, err)
				}
				for _, w := range append([]string{dir}, tc.want...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message %q lacks %q", err, w)
					}
				}
			}
			if pc, err := ListenPacket(path); !errors.Is(err, ErrInsecureDir) {
				if pc != nil {
					pc.Close()
				}
				t.Fatalf("ListenPacket: %v, want ErrInsecureDir", err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused Listen left %s: %v", path, err)
			}
		})
	}
}

func TestListenMissingDir(t *testing.T) {
	path := filepath.Join(sockDir(t), "missing", "s.sock")
	if l, err := Listen(Stream, path); !errors.Is(err, os.ErrNotExist) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen in a missing dir: %v, want ErrNotExist", err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestAddrLength(t *testing.T) {
	dir := sockDir(t)
	// pathOfLen returns a path of exactly n bytes in dir.
	pathOfLen := func(n int) string {
		p := dir + "/"
		return p + strings.Repeat("x", n-len(p))
	}
	ok := pathOfLen(MaxPathLen)
	l, err := Listen(Stream, ok)
	if err != nil {
		t.Fatalf("Listen with a %d-byte path: %v", len(ok), err)
	}
	c, err := Dial(Stream, ok)
	if err != nil {
		t.Fatalf("Dial with a %d-byte path: %v", len(ok), err)
	}
	c.Close()
	l.Close()

	long := pathOfLen(MaxPathLen + 1)
	for name, fn := range map[string]func() error{
		"Listen":       func() error { _, err := Listen(Stream, long); return err },
		"ListenPacket": func() error { _, err := ListenPacket(long); return err },
		"Dial":         func() error { _, err := Dial(SeqPacket, long); return err },
		"DialDgram":    func() error { _, err := Dial(Datagram, long); return err },
	} {
		err := fn()
		if !errors.Is(err, ErrPathTooLong) {
			t.Fatalf("%s with a %d-byte path: %v, want ErrPathTooLong", name, len(long), err)
		}
		if want := fmt.Sprintf("is %d bytes, limit is %d", MaxPathLen+1, MaxPathLen); !strings.Contains(err.Error(), want) {
			t.Errorf("%s: message %q lacks %q", name, err, want)
		}
	}

	abs := abstractName(t, "")
	abs += strings.Repeat("a", MaxAbstractLen-len(abs))
	l, err = Listen(Stream, abs)
	if err != nil {
		t.Fatalf("Listen with a %d-byte abstract name: %v", len(abs), err)
	}
	l.Close()
	if _, err := Listen(Stream, abs+"a"); !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("Listen with a %d-byte abstract name: %v, want ErrPathTooLong", len(abs)+1, err)
	}
	for _, bad := range []string{"", "@"} {
		if _, err := Listen(Stream, bad); err == nil {
			t.Fatalf("Listen(%q) succeeded", bad)
		}
	}
}

func TestListenInUse(t *testing.T) {
	for _, typ := range []Type{Stream, SeqPacket} {
		t.Run(typ.String(), func(t *testing.T) {
			path := sockPath(t, "s.sock")
			l, err := Listen(typ, path)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// Whatever type asks, a live socket is in use.
			for _, typ2 := range []Type{Stream, SeqPacket} {
				l2, err := Listen(typ2, path)
				if !errors.Is(err, ErrInUse) {
					if l2 != nil {
						l2.Close()
					}
					t.Fatalf("second Listen(%v): %v, want ErrInUse", typ2, err)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("message %q lacks the path", err)
				}
			}
			if pc, err := ListenPacket(path); !errors.Is(err, ErrInUse) {
				if pc != nil {
					pc.Close()
				}
				t.Fatalf("ListenPacket over a live %v socket: %v, want ErrInUse", typ, err)
			}
			// The first listener still works.
			c, err := Dial(typ, path)
			if err != nil {
				t.Fatalf("dial the first listener: %v", err)
			}
			c.Close()
		})
	}
	t.Run("abstract", func(t *testing.T) {
		addr := abstractName(t, "inuse")
		l, err := Listen(Stream, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := Listen(Stream, addr); !errors.Is(err, ErrInUse) || !errors.Is(err, unix.EADDRINUSE) {
			t.Fatalf("second Listen: %v, want ErrInUse and EADDRINUSE", err)
		}
	})
}

// TestListenReplacesStale: a socket file nobody is bound to (its owner
// closed the fd without unlinking) is replaced, for each socket type. The
// child-killed-by-SIGKILL case is TestStaleSocketAfterKill.
func TestListenReplacesStale(t *testing.T) {
	for _, typ := range []Type{Stream, SeqPacket, Datagram} {
		t.Run(typ.String(), func(t *testing.T) {
			path := sockPath(t, "s.sock")
			makeStale(t, typ, path)
			if typ == Datagram {
				pc, err := ListenPacket(path)
				if err != nil {
					t.Fatal(err)
				}
				pc.Close()
				return
			}
			l, err := Listen(typ, path)
			if err != nil {
				t.Fatalf("Listen over a stale socket: %v", err)
			}
			c, err := Dial(typ, path)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			l.Close()
		})
	}
}

// makeStale leaves a socket file at path with nothing bound to it.
func makeStale(t *testing.T, typ Type, path string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, typ.sotype()|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("stale socket not made: %v", err)
	}
	if _, err := Dial(typ, path); !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("dial a stale socket: %v, want ECONNREFUSED", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	dir := sockDir(t)
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.sock")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.sock")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.sock")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{file: "regular file", fifo: "named pipe", sub: "directory", link: "symlink"} {
		l, err := Listen(Stream, path)
		if !errors.Is(err, ErrNotSocket) {
			if l != nil {
				l.Close()
			}
			t.Fatalf("Listen over a %s: %v, want ErrNotSocket", kind, err)
		}
		if !strings.Contains(err.Error(), kind) || !strings.Contains(err.Error(), path) {
			t.Errorf("message %q lacks %q or the path", err, kind)
		}
		if _, err := ListenPacket(path); !errors.Is(err, ErrNotSocket) {
			t.Fatalf("ListenPacket over a %s: %v, want ErrNotSocket", kind, err)
		}
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("the %s was removed: %v", kind, err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "precious" {
		t.Fatalf("regular file now holds %q, %v", b, err)
	}
}

// TestListenSocketMode checks the socket file is 0600 whatever the umask.
func TestListenSocketMode(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o077} {
		t.Run(fmt.Sprintf("umask%04o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			dir := sockDir(t)
			l, err := Listen(Stream, filepath.Join(dir, "s.sock"))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			pc, err := ListenPacket(filepath.Join(dir, "d.sock"))
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			for _, p := range []string{l.Addr(), pc.Addr()} {
				fi, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want a socket with 0600", p, fi.Mode())
				}
			}
		})
	}
}

func TestListenCloseUnlinks(t *testing.T) {
	path := sockPath(t, "s.sock")
	l, err := Listen(SeqPacket, path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr() != path || l.Type() != SeqPacket {
		t.Errorf("Addr, Type = %q, %v", l.Addr(), l.Type())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Close: %v, want the file gone", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}

	pc, err := ListenPacket(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after PacketConn.Close: %v, want the file gone", err)
	}
}

// TestListenCloseKeepsReplacement: Close removes only its own socket file,
// not one another listener put at the same path meanwhile.
func TestListenCloseKeepsReplacement(t *testing.T) {
	path := sockPath(t, "s.sock")
	l1, err := Listen(Stream, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l2, err := Listen(Stream, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(Stream, path)
	if err != nil {
		t.Fatalf("the replacement's socket file went with the first listener: %v", err)
	}
	c.Close()
}

func TestListenAbstractHasNoFile(t *testing.T) {
	dir := sockDir(t)
	// A relative "@x" would be a file in the working directory if the
	// address were taken as a path.
	t.Chdir(dir)
	addr := abstractName(t, "nofile")
	l, err := Listen(Stream, addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(Stream, addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("abstract listener made files: %v", ents)
	}
}

func TestListenDatagramRefused(t *testing.T) {
	if _, err := Listen(Datagram, sockPath(t, "d.sock")); err == nil || !strings.Contains(err.Error(), "ListenPacket") {
		t.Fatalf("Listen(Datagram): %v, want a pointer to ListenPacket", err)
	}
	if _, err := Listen(Type(0), sockPath(t, "d.sock")); err == nil {
		t.Fatal("Listen(Type(0)) succeeded")
	}
}

func TestEnsurePrivateDir(t *testing.T) {
	t.Run("creates", func(t *testing.T) {
		old := syscall.Umask(0o022)
		defer syscall.Umask(old)
		dir := filepath.Join(sockDir(t), "a", "b", "ipcplay")
		if err := EnsurePrivateDir(dir); err != nil {
			t.Fatal(err)
		}
		checkMode(t, dir, 0o700)
		if err := EnsurePrivateDir(dir); err != nil {
			t.Fatalf("second call: %v", err)
		}
		l, err := Listen(Stream, filepath.Join(dir, "s.sock"))
		if err != nil {
			t.Fatalf("Listen in the new dir: %v", err)
		}
		l.Close()
	})
	t.Run("undoesUmask", func(t *testing.T) {
		old := syscall.Umask(0o077)
		defer syscall.Umask(old)
		dir := filepath.Join(sockDir(t), "ipcplay")
		if err := EnsurePrivateDir(dir); err != nil {
			t.Fatal(err)
		}
		checkMode(t, dir, 0o700)
	})
	t.Run("refusesWide", func(t *testing.T) {
		dir := filepath.Join(sockDir(t), "wide")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		chmod(t, dir, 0o755)
		err := EnsurePrivateDir(dir)
		if !errors.Is(err, ErrInsecureDir) || !strings.Contains(err.Error(), "0755") {
			t.Fatalf("EnsurePrivateDir on 0755: %v, want ErrInsecureDir naming the mode", err)
		}
		checkMode(t, dir, 0o755) // never changed
	})
	t.Run("refusesSymlink", func(t *testing.T) {
		d := sockDir(t)
		link := filepath.Join(d, "link")
		if err := os.Symlink(d, link); err != nil {
			t.Fatal(err)
		}
		if err := EnsurePrivateDir(link); !errors.Is(err, ErrInsecureDir) {
			t.Fatalf("EnsurePrivateDir on a symlink: %v, want ErrInsecureDir", err)
		}
	})
	t.Run("refusesFile", func(t *testing.T) {
		f := filepath.Join(sockDir(t), "file")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := EnsurePrivateDir(f); !errors.Is(err, ErrInsecureDir) {
			t.Fatalf("EnsurePrivateDir on a file: %v, want ErrInsecureDir", err)
		}
	})
	t.Run("refusesOtherOwner", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown a directory to another uid")
		}
		dir := filepath.Join(sockDir(t), "theirs")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		err := EnsurePrivateDir(dir)
		if !errors.Is(err, ErrInsecureDir) || !strings.Contains(err.Error(), "uid 65534") {
			t.Fatalf("EnsurePrivateDir on another uid's dir: %v, want ErrInsecureDir naming uid 65534", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if err := EnsurePrivateDir(""); err == nil {
			t.Fatal("EnsurePrivateDir(\"\") succeeded")
		}
	})
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != want {
		t.Fatalf("%s: mode %v, want a directory with %v", path, fi.Mode(), want)
	}
}
