package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/sockets"
)

// FDPassingParams are the fd-passing lab's parameters.
type FDPassingParams struct {
	Source string `json:"source"` // "file", "memfd" or "both"
}

// FDPassingRow is one descriptor's journey.
type FDPassingRow struct {
	Source       string `json:"source"` // "file" or "memfd"
	SenderPID    int    `json:"sender_pid"`
	SenderFD     int    `json:"sender_fd"`
	SenderLink   string `json:"sender_link"` // readlink /proc/self/fd/N in the sender
	ReceiverPID  int    `json:"receiver_pid"`
	ReceiverFD   int    `json:"receiver_fd"`
	ReceiverLink string `json:"receiver_link"`
	SameInode    bool   `json:"same_inode"` // fstat in both: the same file
	Inode        uint64 `json:"inode"`
	Written      string `json:"written"`   // by the sender
	Read         string `json:"read"`      // by the receiver, through its descriptor
	Appended     string `json:"appended"`  // by the receiver
	ReadBack     string `json:"read_back"` // by the sender afterwards, through its own
	Matches      bool   `json:"matches"`
}

// FDPassingResult is the fd-passing lab's document.
type FDPassingResult struct {
	Header
	Rows []FDPassingRow `json:"rows"`
}

var fdPassingLab = Info{
	Name:    "fd-passing",
	Summary: "a process sends an open file or memfd to another over SCM_RIGHTS",
	Example: "ipcplay demo fd-passing --source memfd",
	Flags: []Flag{
		{Name: "source", Usage: "what the sender opens: file (in the run's directory), memfd or both", Default: "both"},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "fd-passing", Validate: validateFDPassing, Run: runFDPassing},
}

type fdSenderSpec struct {
	Sources []string `json:"sources"`
	Dir     string   `json:"dir"`
}

type fdSide struct {
	PID     int    `json:"pid"`
	FD      int    `json:"fd"`
	Link    string `json:"link"`
	Inode   uint64 `json:"inode"`
	Written string `json:"written,omitempty"`
	Read    string `json:"read,omitempty"`
	Append  string `json:"append,omitempty"`
	Back    string `json:"back,omitempty"`
}

const fdPassTimeout = 10 * time.Second

func init() {
	worker.Register("lab-fd-sender", fdSender)
	worker.Register("lab-fd-receiver", fdReceiver)
	renderers["fd-passing"] = renderFDPassing
}

func fdPassingParams(raw json.RawMessage) ([]string, error) {
	p := FDPassingParams{Source: "both"}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	switch p.Source {
	case "file", "memfd":
		return []string{p.Source}, nil
	case "both":
		return []string{"file", "memfd"}, nil
	}
	return nil, ipc.Usagef("--source %q: must be file, memfd or both", p.Source)
}

func validateFDPassing(raw json.RawMessage, lim ipc.Limits) error {
	_, err := fdPassingParams(raw)
	return err
}

func runFDPassing(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	sources, err := fdPassingParams(raw)
	if err != nil {
		return nil, err
	}
	res := &FDPassingResult{Header: newHeader("fd-passing",
		"A descriptor number is only an index into one process's table, so sending the number would mean nothing to another process. "+
			"SCM_RIGHTS makes the kernel install a new descriptor in the receiver that points to the same open file: another number, the same inode. "+
			"A memfd has no name at all, so passing its descriptor (or inheriting it) is the only way to share it; what one process writes through its descriptor, the other reads through its own.")}
	dir, err := env.TempDir()
	if err != nil {
		return nil, err
	}
	a, b, err := sockets.Pair(sockets.Stream)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	defer b.Close()
	fctx, cancel := phase(ctx, 30*time.Second+2*fdPassTimeout)
	defer cancel()
	rs, err := env.RunWorkers(fctx, []worker.Spec{
		{Kind: "lab-fd-sender", Name: "sender", Spec: fdSenderSpec{Sources: sources, Dir: dir}, Files: []*os.File{a}},
		{Kind: "lab-fd-receiver", Name: "receiver", Spec: len(sources), Files: []*os.File{b}},
	})
	if err != nil {
		return nil, fmt.Errorf("demo fd-passing: %w", err)
	}
	var sent, got []fdSide
	if err := errors.Join(rs[0].Decode(&sent), rs[1].Decode(&got)); err != nil {
		return nil, err
	}
	if len(sent) != len(sources) || len(got) != len(sources) {
		return nil, fmt.Errorf("demo fd-passing: %d sent and %d received, want %d", len(sent), len(got), len(sources))
	}
	var problems []string
	for i, src := range sources {
		s, r := sent[i], got[i]
		row := FDPassingRow{Source: src, SenderPID: s.PID, SenderFD: s.FD, SenderLink: s.Link,
			ReceiverPID: r.PID, ReceiverFD: r.FD, ReceiverLink: r.Link, Inode: s.Inode, SameInode: s.Inode == r.Inode,
			Written: s.Written, Read: r.Read, Appended: r.Append, ReadBack: s.Back}
		row.Matches = row.SameInode && row.Read == row.Written && row.ReadBack == row.Written+row.Appended && row.SenderPID != row.ReceiverPID
		if !row.Matches {
			problems = append(problems, fmt.Sprintf("%s: same inode %v, receiver read %q (sent %q), sender read back %q", src, row.SameInode, row.Read, row.Written, row.ReadBack))
		}
		res.Rows = append(res.Rows, row)
	}
	return res, res.verdict(problems)
}

func fdInfo(f *os.File) (fd int, link string, ino uint64, err error) {
	fd = int(f.Fd())
	link, _ = os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fd, link, 0, os.NewSyscallError("fstat", err)
	}
	return fd, link, st.Ino, nil
}

func fdConn(c *worker.Child) (*sockets.Conn, error) {
	f := c.File(0)
	if f == nil {
		return nil, errors.New("no socket")
	}
	conn, err := sockets.FileConn(f)
	if err != nil {
		return nil, err
	}
	return conn, conn.SetDeadline(time.Now().Add(fdPassTimeout))
}

// fdSender opens each source and writes to it before the start (so its
// descriptors are its own business), then sends each over the socket,
// waits until the receiver has read and appended, and reads it back.
func fdSender(ctx context.Context, c *worker.Child) (any, error) {
	var s fdSenderSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	conn, err := fdConn(c)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	out := make([]fdSide, len(s.Sources))
	for i, src := range s.Sources {
		var f *os.File
		if src == "memfd" {
			fd, err := unix.MemfdCreate("ipcplay-lab", unix.MFD_CLOEXEC)
			if err != nil {
				return nil, os.NewSyscallError("memfd_create", err)
			}
			f = os.NewFile(uintptr(fd), "memfd")
		} else {
			f, err = os.OpenFile(filepath.Join(s.Dir, "fd-passing.txt"), os.O_CREATE|os.O_EXCL|os.O_RDWR|unix.O_NOFOLLOW, 0o600)
			if err != nil {
				return nil, err
			}
		}
		files = append(files, f)
		side := &out[i]
		side.PID = os.Getpid()
		if side.FD, side.Link, side.Inode, err = fdInfo(f); err != nil {
			return nil, err
		}
		side.Written = fmt.Sprintf("written by pid %d through its fd %d. ", side.PID, side.FD)
		if _, err := f.WriteAt([]byte(side.Written), 0); err != nil {
			return nil, err
		}
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	for i, f := range files {
		if err := conn.SendFDs([]byte(s.Sources[i]), f); err != nil {
			return nil, err
		}
		var ack [1]byte
		if _, err := io.ReadFull(conn, ack[:]); err != nil {
			return nil, fmt.Errorf("wait for the receiver: %w", err)
		}
		buf := make([]byte, 512)
		n, err := f.ReadAt(buf, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		out[i].Back = string(buf[:n])
	}
	return out, nil
}

// fdReceiver receives n descriptors, reads each through its own new
// descriptor, appends a line and tells the sender.
func fdReceiver(ctx context.Context, c *worker.Child) (any, error) {
	var n int
	if err := c.Spec(&n); err != nil {
		return nil, err
	}
	conn, err := fdConn(c)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	out := make([]fdSide, n)
	for i := range out {
		buf := make([]byte, 16)
		_, files, err := conn.RecvFDs(buf, 1)
		if err != nil {
			return nil, err
		}
		if len(files) != 1 {
			return nil, fmt.Errorf("received %d descriptors, want 1", len(files))
		}
		f := files[0]
		side := &out[i]
		side.PID = os.Getpid()
		if side.FD, side.Link, side.Inode, err = fdInfo(f); err != nil {
			f.Close()
			return nil, err
		}
		data := make([]byte, 512)
		m, err := f.ReadAt(data, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			return nil, err
		}
		side.Read = string(data[:m])
		side.Append = fmt.Sprintf("Read and appended to by pid %d through its fd %d.", side.PID, side.FD)
		_, err = f.WriteAt([]byte(side.Append), int64(m))
		f.Close()
		if err != nil {
			return nil, err
		}
		if _, err := conn.Write([]byte{'k'}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func renderFDPassing(w io.Writer, doc json.RawMessage) error {
	var r FDPassingResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	rows := [][]string{}
	for _, row := range r.Rows {
		rows = append(rows,
			[]string{row.Source, "sender", strconv.Itoa(row.SenderPID), strconv.Itoa(row.SenderFD), row.SenderLink, strconv.FormatUint(row.Inode, 10)},
			[]string{"", "receiver", strconv.Itoa(row.ReceiverPID), strconv.Itoa(row.ReceiverFD), row.ReceiverLink, yesNoSame(row.SameInode)})
	}
	table(w, []string{"SOURCE", "SIDE", "PID", "FD", "/proc/PID/fd/FD", "INODE"}, rows)
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		fmt.Fprintf(w, "%s: the receiver read %q\n", row.Source, row.Read)
		fmt.Fprint(w, wrap(fmt.Sprintf("%s: the sender then read back %q (matches: %s)", row.Source, row.ReadBack, yesNo(row.Matches)), 78))
	}
	return nil
}

func yesNoSame(same bool) string {
	if same {
		return "same"
	}
	return "DIFFERENT"
}
