package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/shm"
)

// objects are what the parent made for one cell: the files each worker
// inherits, the spec fields naming the rest, and how to let go of them.
// The parent closes its descriptors once the workers hold theirs (so that
// a worker that dies is seen as EOF by its peer) and removes the cell's
// named objects when the cell ends; everything is also in the run's
// ledger, so the Env removes what a failure or Ctrl-C left.
type objects struct {
	senderFiles, receiverFiles []*os.File
	spec                       workerSpec // Region, RingBytes, QueueID, Paths
	closers                    []func() error
	removers                   []func() error
}

func (o *objects) closeFiles() error {
	var errs []error
	for _, c := range o.closers {
		errs = append(errs, c())
	}
	o.closers = nil
	return errors.Join(errs...)
}

func (o *objects) release() error {
	err := o.closeFiles()
	var errs []error
	for i := len(o.removers) - 1; i >= 0; i-- {
		errs = append(errs, o.removers[i]())
	}
	o.removers = nil
	return errors.Join(err, errors.Join(errs...))
}

func (o *objects) addFiles(fs ...*os.File) {
	for _, f := range fs {
		o.closers = append(o.closers, f.Close)
	}
}

// runState is what the cells of one run share: the shared memory region
// of the shm transports (one, sized for the largest ring and laid out
// again for each cell) and a counter for unique names.
type runState struct {
	env         *ipc.Env
	region      *shm.Region
	regionBytes int // the size region is made with: the largest cell's rings
	seq         int
}

func (st *runState) name(kind string) string {
	st.seq++
	return kind + strconv.Itoa(st.seq)
}

// setup makes the objects of cell c.
func (st *runState) setup(c cell) (_ *objects, retErr error) {
	o := &objects{}
	defer func() {
		if retErr != nil {
			_ = o.release()
		}
	}()
	if err := c.t.setup(st, c, o); err != nil {
		return nil, err
	}
	return o, nil
}

// The setup functions of the transport table (transports.go): each makes,
// in the parent, the objects of one cell of its transport.

// setupRings returns the setup of a shm transport: its two rings, laid
// out in mode in the run's shared region.
func setupRings(mode ringMode) func(st *runState, c cell, o *objects) error {
	return func(st *runState, c cell, o *objects) error {
		if st.region == nil {
			r, err := st.env.CreateRegion(shm.Spec{Kind: shm.Memfd, Size: st.regionBytes})
			if err != nil {
				return err
			}
			st.region = r
		}
		half := pairBytes(c.size) / 2
		mem := st.region.Bytes()
		if err := initRing(mem[:half], c.size, mode); err != nil {
			return err
		}
		if err := initRing(mem[half:2*half], c.size, mode); err != nil {
			return err
		}
		o.spec.Region = st.region.HandleAt(worker.FileFD(0))
		o.spec.RingBytes = half
		o.senderFiles = []*os.File{st.region.File()}
		o.receiverFiles = o.senderFiles
		return nil
	}
}

// setupSocketpair returns the setup of an AF_UNIX socketpair of type typ.
func setupSocketpair(typ int) func(st *runState, c cell, o *objects) error {
	return func(_ *runState, _ cell, o *objects) error {
		fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socketpair", err)
		}
		a, b := os.NewFile(uintptr(fds[0]), "bench-a"), os.NewFile(uintptr(fds[1]), "bench-b")
		o.addFiles(a, b)
		o.senderFiles, o.receiverFiles = []*os.File{a}, []*os.File{b}
		return nil
	}
}

func setupPipes(_ *runState, _ cell, o *objects) error {
	abR, abW, err := os.Pipe()
	if err != nil {
		return err
	}
	o.addFiles(abR, abW)
	baR, baW, err := os.Pipe()
	if err != nil {
		return err
	}
	o.addFiles(baR, baW)
	o.senderFiles, o.receiverFiles = []*os.File{abW, baR}, []*os.File{abR, baW}
	return nil
}

func setupFIFOs(st *runState, _ cell, o *objects) error {
	dir, err := st.env.TempDir()
	if err != nil {
		return err
	}
	base := st.name("fifo")
	for _, dirn := range []string{".ab", ".ba"} {
		p := filepath.Join(dir, base+dirn)
		if err := unix.Mkfifo(p, 0o600); err != nil {
			return &os.PathError{Op: "mkfifo", Path: p, Err: err}
		}
		o.removers = append(o.removers, func() error { return ignoreNotExist(os.Remove(p)) })
		o.spec.Paths = append(o.spec.Paths, p)
	}
	return nil
}

func setupTCP(_ *runState, _ cell, o *objects) error {
	a, b, err := tcpPair()
	if err != nil {
		return err
	}
	o.addFiles(a, b)
	o.senderFiles, o.receiverFiles = []*os.File{a}, []*os.File{b}
	return nil
}

func setupEventfds(_ *runState, _ cell, o *objects) error {
	var fs []*os.File
	for range 2 {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			return os.NewSyscallError("eventfd", err)
		}
		f := os.NewFile(uintptr(fd), "eventfd")
		o.addFiles(f)
		fs = append(fs, f)
	}
	o.senderFiles, o.receiverFiles = fs, fs
	return nil
}

func setupSysVQueue(st *runState, _ cell, o *objects) error {
	q, err := mq.CreateSysV()
	if err != nil {
		return fmt.Errorf("%w: %w", errUnavailableIf(err), err)
	}
	if err := st.env.Track(ledger.Entry{Type: ledger.SysVMsg, ID: q.ID()}, q.Remove); err != nil {
		_ = q.Remove()
		return err
	}
	o.removers = append(o.removers, q.Remove)
	o.spec.QueueID = q.ID()
	if onQueue != nil {
		onQueue(ledger.SysVMsg, q.ID(), "")
	}
	return nil
}

func setupPOSIXQueues(st *runState, c cell, o *objects) error {
	depth := posixDepth(c.size)
	var fs []*os.File
	for _, dirn := range []string{".ab", ".ba"} {
		name := st.env.Name(st.name("mq") + dirn)
		remove := func() error { return ignoreNotExist(mq.UnlinkPOSIX(name)) }
		// Recorded before it exists: a crash right after mq_open
		// cannot leak it.
		if err := st.env.Track(ledger.Entry{Type: ledger.POSIXMQ, ID: -1, Name: name}, remove); err != nil {
			return err
		}
		q, err := mq.CreatePOSIX(name, depth, c.size)
		if err != nil {
			return fmt.Errorf("%w: %w", errUnavailableIf(err), err)
		}
		if onQueue != nil {
			onQueue(ledger.POSIXMQ, -1, name)
		}
		o.removers = append(o.removers, remove)
		o.closers = append(o.closers, q.Close)
		fs = append(fs, q.File())
	}
	o.senderFiles, o.receiverFiles = fs, fs
	return nil
}

// onQueue, when set (by tests), hears of every message queue a run
// creates: "sysv-msg" with its id, "posix-mq" with its name.
var onQueue func(typ string, id int, name string)

// errUnavailableIf classifies a failure to create a queue: a kernel or
// sandbox without the feature, or a limit reached, makes the transport
// unavailable (skipped with "all"); anything else is a plain failure.
func errUnavailableIf(err error) error {
	if errors.Is(err, mq.ErrUnsupported) || errors.Is(err, mq.ErrLimit) || errors.Is(err, mq.ErrPermission) || errors.Is(err, mq.ErrTooLarge) {
		return errUnavailable
	}
	return errors.New("cannot create the queue")
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, mq.ErrNotFound) {
		return nil
	}
	return err
}

// tcpPair connects two TCP sockets over 127.0.0.1 (port chosen by the
// kernel) and returns them as files; Go enables TCP_NODELAY, which a
// latency benchmark wants.
func tcpPair() (a, b *os.File, err error) {
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, fmt.Errorf("tcp listen on 127.0.0.1: %w", err)
	}
	defer l.Close()
	type accepted struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.AcceptTCP()
		ch <- accepted{c, err}
	}()
	ca, err := net.DialTCP("tcp4", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, nil, fmt.Errorf("tcp connect: %w", err)
	}
	defer ca.Close()
	acc := <-ch
	if acc.err != nil {
		return nil, nil, fmt.Errorf("tcp accept: %w", acc.err)
	}
	defer acc.c.Close()
	for _, c := range []*net.TCPConn{ca, acc.c} {
		if err := c.SetNoDelay(true); err != nil {
			return nil, nil, err
		}
	}
	if a, err = ca.File(); err != nil {
		return nil, nil, err
	}
	if b, err = acc.c.File(); err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}
