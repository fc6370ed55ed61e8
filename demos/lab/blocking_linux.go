package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/demos/conduct"
	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/sockets"
)

// BlockingParams are the blocking lab's parameters.
type BlockingParams struct {
	Delay   time.Duration `json:"delay_ns"` // how long the writer waits before writing
	Sockets int           `json:"sockets"`  // sockets watched with epoll
}

// BlockingRow is one call and how long it took.
type BlockingRow struct {
	Call     string `json:"call"`
	Result   string `json:"result"`
	TimeNs   int64  `json:"time_ns"`
	Expected string `json:"expected"`
	Matches  bool   `json:"matches"`
	// Slept: the calling thread slept in the kernel during the call: its
	// voluntary context switches (getrusage RUSAGE_THREAD) went up.
	Slept bool `json:"slept"`
	// SeenAsleep names what the parent saw in /proc before the writer
	// wrote: "read(2) on fd 3, thread 1234 (kernel: ...)"; "" when the
	// row does not wait for it, or /proc does not show it (ptrace access).
	SeenAsleep string `json:"seen_asleep,omitempty"`
}

// BlockingResult is the blocking lab's document.
type BlockingResult struct {
	Header
	DelayNs   int64         `json:"delay_ns"`
	Sockets   int           `json:"sockets"`
	Written   []int         `json:"written"` // epoll sockets the writer wrote to
	Ready     []int         `json:"ready"`   // epoll sockets reported ready
	ReaderPID int           `json:"reader_pid"`
	WriterPID int           `json:"writer_pid"`
	Rows      []BlockingRow `json:"rows"`
}

var blockingLab = Info{
	Name:    "blocking",
	Summary: "a blocking read waits, a non-blocking read says EAGAIN at once, epoll waits on many sockets",
	Example: "ipcplay demo blocking --delay 200ms --sockets 4",
	Flags: []Flag{
		{Name: "delay", Usage: "how long the writer process waits before each write, once the reader is seen asleep in the call", Default: 200 * time.Millisecond},
		{Name: "sockets", Usage: "sockets watched with epoll (the writer writes to every other one)", Default: 4},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "blocking", Validate: validateBlocking, Run: runBlocking},
}

type blockingSpec struct {
	Delay   time.Duration `json:"delay_ns"`
	Sockets int           `json:"sockets"`
	Chosen  []int         `json:"chosen"` // epoll sockets the writer writes to
	// CtlFD is the worker's end of its control socket to the parent: the
	// reader says there which epoll descriptor it will sleep on, the
	// writer is told there when the reader is seen asleep.
	CtlFD int `json:"ctl_fd"`
	// Lag delays the reader before each of its sleeping calls (tests: a
	// reader scheduled late must not change the verdict).
	Lag time.Duration `json:"lag_ns,omitempty"`
}

// blockReaderLag is blockingSpec.Lag of the next runs; tests set it.
var blockReaderLag time.Duration

type blockingOut struct {
	BlockingNs    int64  `json:"blocking_ns"`
	BlockingGot   int    `json:"blocking_got"`
	BlockingErr   string `json:"blocking_err,omitempty"`
	BlockingSlept bool   `json:"blocking_slept"`
	NonblockNs    int64  `json:"nonblock_ns"`
	NonblockErr   string `json:"nonblock_err"` // the errno's name, "EAGAIN"
	NonblockSlept bool   `json:"nonblock_slept"`
	EpollNs       int64  `json:"epoll_ns"` // until the first wake-up
	EpollSlept    bool   `json:"epoll_slept"`
	FirstWake     []int  `json:"first_wake"`
	Ready         []int  `json:"ready"` // ready at the end (level-triggered)
}

// Descriptors of the socket ends in both workers: the sync socket first,
// then the non-blocking one, then the epoll set.
const (
	blockSync    = 0
	blockNonblk  = 1
	blockEpoll0  = 2
	blockMaxWait = 10 * time.Second
)

func init() {
	worker.Register("lab-block-reader", blockReader)
	worker.Register("lab-block-writer", blockWriter)
	renderers["blocking"] = renderBlocking
}

func blockingParams(raw json.RawMessage) (BlockingParams, error) {
	p := BlockingParams{Delay: 200 * time.Millisecond, Sockets: 4}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	if err := checkDur("delay", p.Delay, time.Millisecond, 10*time.Second); err != nil {
		return p, err
	}
	return p, checkInt("sockets", p.Sockets, 2, 64)
}

func validateBlocking(raw json.RawMessage, lim ipc.Limits) error {
	_, err := blockingParams(raw)
	return err
}

func runBlocking(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := blockingParams(raw)
	if err != nil {
		return nil, err
	}
	res := &BlockingResult{
		Header: newHeader("blocking", "A blocking read puts the process to sleep in the kernel until data arrives, so it lasts as long as the writer takes. "+
			"With O_NONBLOCK the same read returns at once with EAGAIN (\"try again\") when there is nothing to read, and the program must come back later. "+
			"epoll lets one thread sleep on many descriptors at once and tells it which became ready: the basis of every event loop, Go's netpoller included."),
		DelayNs: p.Delay.Nanoseconds(), Sockets: p.Sockets,
	}
	for i := 1; i < p.Sockets; i += 2 {
		res.Written = append(res.Written, i)
	}
	var readerFiles, writerFiles, mine []*os.File
	defer func() {
		for _, f := range append(append(readerFiles, writerFiles...), mine...) {
			f.Close()
		}
	}()
	for i := 0; i < blockEpoll0+p.Sockets; i++ {
		a, b, err := sockets.Pair(sockets.Stream)
		if err != nil {
			return nil, err
		}
		readerFiles, writerFiles = append(readerFiles, a), append(writerFiles, b)
	}
	// One control socket per worker, the parent's end in mine.
	for _, fs := range []*[]*os.File{&readerFiles, &writerFiles} {
		a, b, err := sockets.Pair(sockets.Stream)
		if err != nil {
			return nil, err
		}
		mine, *fs = append(mine, a), append(*fs, b)
	}
	spec := blockingSpec{Delay: p.Delay, Sockets: p.Sockets, Chosen: res.Written, CtlFD: worker.FileFD(blockEpoll0 + p.Sockets), Lag: blockReaderLag}
	bctx, cancel := phase(ctx, 3*blockMaxWait+2*p.Delay)
	defer cancel()
	g, err := env.StartWorkers(bctx, []worker.Spec{
		{Kind: "lab-block-reader", Name: "reader", Spec: spec, Files: readerFiles},
		{Kind: "lab-block-writer", Name: "writer", Spec: spec, Files: writerFiles},
	})
	if err != nil {
		return nil, fmt.Errorf("demo blocking: %w", err)
	}
	g.Go()
	seen, rerr := blockReferee(bctx, g.Pids()[0], mine[0], mine[1])
	if rerr != nil {
		g.Kill()
	}
	rs, err := g.Wait(bctx)
	if err := errors.Join(rerr, err); err != nil {
		return nil, fmt.Errorf("demo blocking: %w", err)
	}
	var out blockingOut
	if err := rs[0].Decode(&out); err != nil {
		return nil, err
	}
	res.ReaderPID, res.WriterPID, res.Ready = rs[0].Pid, rs[1].Pid, out.Ready
	delay := p.Delay.Nanoseconds()

	// Each expectation holds by cause, not by luck: the writer wrote only
	// after the parent had seen the reader asleep in the call, and then
	// waited the delay; a call that slept shows a voluntary context
	// switch of its thread, one that did not shows none.
	got := fmt.Sprintf("%d byte, after sleeping in the kernel", out.BlockingGot)
	if !out.BlockingSlept {
		got = fmt.Sprintf("%d byte, without sleeping (it was there already)", out.BlockingGot)
	}
	if out.BlockingErr != "" {
		got = out.BlockingErr
	}
	res.Rows = append(res.Rows, BlockingRow{Call: "read(2), blocking", Result: got, TimeNs: out.BlockingNs,
		Expected: "sleeps until the writer writes, at least its delay (" + dur(delay) + ")",
		Matches:  out.BlockingGot == 1 && out.BlockingSlept && out.BlockingNs >= delay,
		Slept:    out.BlockingSlept, SeenAsleep: seen[0]})
	res.Rows = append(res.Rows, BlockingRow{Call: "read(2), O_NONBLOCK, nothing written", Result: out.NonblockErr, TimeNs: out.NonblockNs,
		Expected: "EAGAIN at once, without sleeping", Matches: out.NonblockErr == "EAGAIN" && !out.NonblockSlept,
		Slept: out.NonblockSlept})
	res.Rows = append(res.Rows, BlockingRow{Call: fmt.Sprintf("epoll_wait(2) on %d sockets", p.Sockets),
		Result:   "woke with " + socketList(out.FirstWake) + " ready; in the end " + socketList(out.Ready),
		TimeNs:   out.EpollNs,
		Expected: "sleeps until the writer writes, at least its delay; ready: " + socketList(res.Written),
		Matches:  slices.Equal(out.Ready, res.Written) && out.EpollSlept && out.EpollNs >= delay,
		Slept:    out.EpollSlept, SeenAsleep: seen[1]})

	var problems []string
	for _, r := range res.Rows {
		if !r.Matches {
			slept := "did not sleep"
			if r.Slept {
				slept = "slept"
			}
			problems = append(problems, fmt.Sprintf("%s: %s in %s (%s), expected %s", r.Call, r.Result, dur(r.TimeNs), slept, r.Expected))
		}
	}
	return res, res.verdict(problems)
}

// blockReferee lets the writer write only once the reader sleeps where the
// lab says: first in read(2) on its end of the sync socket, then in
// epoll_wait(2) on the descriptor the reader names on its control socket.
// Each time it waits (conduct.WaitAsleep: /proc, seen twice) and then
// tells the writer, which waits its delay and writes. It returns what it
// saw, for the rows.
func blockReferee(ctx context.Context, reader int, readerCtl, writerCtl *os.File) (seen [2]string, err error) {
	syncFD := int64(sockFD(blockSync))
	if seen[0], err = waitAsleep(ctx, reader, conduct.SyscallsRead, syncFD, "read(2)"); err != nil {
		return seen, fmt.Errorf("the reader's blocking read: %w", err)
	}
	if _, err := writerCtl.Write([]byte{'r'}); err != nil {
		return seen, fmt.Errorf("tell the writer: %w", err)
	}
	// The reader names its epoll descriptor, then sleeps on it.
	line, err := readLine(int(readerCtl.Fd()), blockMaxWait)
	if err != nil {
		return seen, fmt.Errorf("the reader's epoll descriptor: %w", err)
	}
	epfd, err := strconv.ParseInt(strings.TrimSpace(line), 10, 32)
	if err != nil {
		return seen, fmt.Errorf("the reader's epoll descriptor %q: %w", line, err)
	}
	if seen[1], err = waitAsleep(ctx, reader, conduct.SyscallsEpoll, epfd, "epoll_wait(2)"); err != nil {
		return seen, fmt.Errorf("the reader's epoll_wait: %w", err)
	}
	if _, err := writerCtl.Write([]byte{'e'}); err != nil {
		return seen, fmt.Errorf("tell the writer: %w", err)
	}
	return seen, nil
}

// readLine reads one short line from the blocking socket fd, giving up
// after d (SO_RCVTIMEO).
func readLine(fd int, d time.Duration) (string, error) {
	if err := readTimeout(fd, d); err != nil {
		return "", err
	}
	var line []byte
	for len(line) < 64 {
		var b [1]byte
		n, err := unix.Read(fd, b[:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return "", fmt.Errorf("no line within %s", d)
		case err != nil:
			return "", os.NewSyscallError("read", err)
		case n == 0:
			return "", io.EOF
		case b[0] == '\n':
			return string(line), nil
		}
		line = append(line, b[0])
	}
	return "", fmt.Errorf("line longer than 64 bytes: %q", line)
}

// waitAsleep is conduct.WaitAsleep, described for the row. Where the
// kernel refuses to show the reader's system calls (ptrace access: Yama's
// ptrace_scope 2 or more, some sandboxes) nothing can be seen: it returns
// "" and the writer's delay alone orders the write after the read, as
// before the lab looked. The verdict stands either way: whether the call
// slept comes from the reader's own rusage.
func waitAsleep(ctx context.Context, reader int, nrs []int, fd int64, call string) (string, error) {
	t, err := conduct.WaitAsleep(ctx, reader, nrs, fd, blockMaxWait)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "", nil
	case err != nil:
		return "", err
	}
	return describeAsleep(call, fd, t), nil
}

func describeAsleep(call string, fd int64, t sysobj.Thread) string {
	s := fmt.Sprintf("%s on fd %d, thread %d, state %c", call, fd, t.TID, t.State)
	if t.Wchan != "" && t.Wchan != "0" {
		s += " (kernel: " + t.Wchan + ")"
	}
	return s
}

// voluntarySwitches is the calling thread's count of voluntary context
// switches (getrusage RUSAGE_THREAD, ru_nvcsw): it goes up each time the
// thread sleeps in the kernel, and only then. The caller holds its OS
// thread.
func voluntarySwitches() (int64, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, os.NewSyscallError("getrusage", err)
	}
	return ru.Nvcsw, nil
}

func socketList(ix []int) string {
	if len(ix) == 0 {
		return "none"
	}
	s := make([]string, len(ix))
	for i, x := range ix {
		s[i] = "#" + strconv.Itoa(x)
	}
	return "sockets " + strings.Join(s, ",")
}

// sockFD is the descriptor of the i-th socket end in a blocking worker.
func sockFD(i int) int { return worker.FileFD(i) }

// readTimeout makes blocking reads on fd give up (EAGAIN) after d.
func readTimeout(fd int, d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return os.NewSyscallError("setsockopt", unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
}

// readByte reads one byte from the blocking socket fd, giving up after d.
func readByte(fd int, d time.Duration) error {
	if err := readTimeout(fd, d); err != nil {
		return err
	}
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return fmt.Errorf("no byte within %s", d)
		case err != nil:
			return os.NewSyscallError("read", err)
		case n == 0:
			return io.EOF
		}
		return nil
	}
}

// errnoName is "EAGAIN" for an error wrapping that errno, else the error's text.
func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
	}
	return err.Error()
}

func writeByte(fd int, b byte) error {
	_, err := unix.Write(fd, []byte{b})
	return os.NewSyscallError("write", err)
}

// wakeOnStop shuts down the worker's sockets when ctx ends, so that a
// read or epoll_wait blocked on them returns at once (end of file).
func wakeOnStop(ctx context.Context, sockets int) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		for i := 0; i < blockEpoll0+sockets; i++ {
			_ = unix.Shutdown(sockFD(i), unix.SHUT_RDWR)
		}
	})
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func blockWriter(ctx context.Context, c *worker.Child) (any, error) {
	var s blockingSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	defer wakeOnStop(ctx, s.Sockets)()
	syncFD := sockFD(blockSync)
	// 1: the parent says when the reader sleeps in read; answer after the
	// delay.
	if err := readByte(s.CtlFD, 2*blockMaxWait); err != nil {
		return nil, fmt.Errorf("wait for the reader's read: %w", errors.Join(ctx.Err(), err))
	}
	if err := sleepCtx(ctx, s.Delay); err != nil {
		return nil, err
	}
	if err := writeByte(syncFD, 'x'); err != nil {
		return nil, err
	}
	// 3: the parent says when the reader sleeps in epoll_wait.
	if err := readByte(s.CtlFD, 2*blockMaxWait+s.Delay); err != nil {
		return nil, fmt.Errorf("wait for the reader's epoll: %w", errors.Join(ctx.Err(), err))
	}
	if err := sleepCtx(ctx, s.Delay); err != nil {
		return nil, err
	}
	for _, i := range s.Chosen {
		if err := writeByte(sockFD(blockEpoll0+i), 'y'); err != nil {
			return nil, err
		}
	}
	// Keep every end open until the reader has looked: a closed end would
	// make its peer readable (end of file) too.
	if err := readByte(syncFD, blockMaxWait+s.Delay); err != nil {
		return nil, fmt.Errorf("wait for the reader to finish: %w", errors.Join(ctx.Err(), err))
	}
	return os.Getpid(), nil
}

func blockReader(ctx context.Context, c *worker.Child) (any, error) {
	var s blockingSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	syncFD := sockFD(blockSync)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	defer unix.Close(epfd)
	for i := 0; i < s.Sockets; i++ {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, sockFD(blockEpoll0+i), &ev); err != nil {
			return nil, os.NewSyscallError("epoll_ctl", err)
		}
	}
	if err := readTimeout(syncFD, 2*blockMaxWait+s.Delay); err != nil {
		return nil, err
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	defer wakeOnStop(ctx, s.Sockets)()
	var out blockingOut
	// One OS thread for the calls and their context-switch counts.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// 1: a blocking read: the thread sleeps in the kernel until the writer
	// writes (SO_RCVTIMEO bounds it).
	var buf [16]byte
	if err := sleepCtx(ctx, s.Lag); err != nil {
		return nil, err
	}
	sw, err := voluntarySwitches()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := unix.Read(syncFD, buf[:])
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Read(syncFD, buf[:])
	}
	out.BlockingNs, out.BlockingGot = since(start), n
	if sw2, serr := voluntarySwitches(); serr == nil {
		out.BlockingSlept = sw2 > sw
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		out.BlockingErr = errnoName(err)
	}

	// 2: the same read on a non-blocking socket nobody wrote to. A raw
	// system call, so that the Go runtime cannot park the thread around
	// it: a voluntary switch here could only be the kernel's.
	nb := sockFD(blockNonblk)
	if err := unix.SetNonblock(nb, true); err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	if sw, err = voluntarySwitches(); err != nil {
		return nil, err
	}
	start = time.Now()
	_, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(nb), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	out.NonblockNs = since(start)
	if sw2, serr := voluntarySwitches(); serr == nil {
		out.NonblockSlept = sw2 > sw
	}
	out.NonblockErr = "data (unexpected)"
	if errno != 0 {
		out.NonblockErr = errnoName(errno)
	}

	// 3: epoll_wait on the whole set; tell the parent which descriptor we
	// are about to sleep on.
	if _, err := unix.Write(s.CtlFD, []byte(strconv.Itoa(epfd)+"\n")); err != nil {
		return nil, os.NewSyscallError("write", err)
	}
	events := make([]unix.EpollEvent, s.Sockets)
	seen := map[int]bool{}
	if err := sleepCtx(ctx, s.Lag); err != nil {
		return nil, err
	}
	if sw, err = voluntarySwitches(); err != nil {
		return nil, err
	}
	start = time.Now()
	deadline := start.Add(2*blockMaxWait + s.Delay)
	for len(seen) < len(s.Chosen) && time.Now().Before(deadline) {
		ms := int(time.Until(deadline).Milliseconds()) + 1
		n, err := unix.EpollWait(epfd, events, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("epoll_wait", err)
		}
		if n > 0 && out.FirstWake == nil {
			out.EpollNs = since(start)
			if sw2, serr := voluntarySwitches(); serr == nil {
				out.EpollSlept = sw2 > sw
			}
			for _, ev := range events[:n] {
				out.FirstWake = append(out.FirstWake, int(ev.Fd))
			}
			slices.Sort(out.FirstWake)
		}
		for _, ev := range events[:n] {
			seen[int(ev.Fd)] = true
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Level-triggered: what is still readable now, without waiting.
	n, err = unix.EpollWait(epfd, events, 0)
	if err != nil && !errors.Is(err, unix.EINTR) {
		return nil, os.NewSyscallError("epoll_wait", err)
	}
	for _, ev := range events[:max(n, 0)] {
		out.Ready = append(out.Ready, int(ev.Fd))
	}
	slices.Sort(out.Ready)
	return out, writeByte(syncFD, 'd')
}

func renderBlocking(w io.Writer, doc json.RawMessage) error {
	var r BlockingResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	fmt.Fprint(w, wrap(fmt.Sprintf("A reader process (pid %d) and a writer process (pid %d) share %d socketpairs. Before each write the writer waits until the reader is seen asleep in the call (/proc/PID/task/TID: state S and the system call on that descriptor, twice), then %s more.",
		r.ReaderPID, r.WriterPID, r.Sockets+blockEpoll0, dur(r.DelayNs)), 78))
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(r.Rows))
	for _, row := range r.Rows {
		slept := "no" // a fact, not a failure: the non-blocking read must not sleep
		if row.Slept {
			slept = "yes"
		}
		rows = append(rows, []string{row.Call, row.Result, dur(row.TimeNs), slept, row.Expected, yesNo(row.Matches)})
	}
	table(w, []string{"CALL", "RESULT", "TIME", "SLEPT", "EXPECTED", "MATCHES"}, rows)
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		if row.SeenAsleep != "" {
			fmt.Fprint(w, wrap(row.Call+": seen asleep in "+row.SeenAsleep+" before the writer wrote.", 78))
		}
	}
	fmt.Fprintln(w, "(SLEPT: the reader's thread made a voluntary context switch during the call, getrusage RUSAGE_THREAD.)")
	return nil
}
