package bench

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/mq"
)

// transport describes one way of moving messages between two processes.
type transport struct {
	name string
	desc string
	// stream is false for transports without a stream pattern; noStream
	// says why.
	stream   bool
	noStream string
	// sized is false when the message size is fixed by the transport
	// (eventfd: an 8-byte counter); wireSize is then that size.
	sized    bool
	wireSize int
	// note is shown with the results (what the numbers mean), of the
	// pattern notePattern only when that is set.
	note        string
	notePattern string
	// limit returns "" when messages of size bytes can be sent, else why
	// not, naming the limit. nil: no limit beyond MaxSize.
	limit func(size int, lim ipc.Limits) string
	// spins: the transport takes --spin budgets, one cell per budget.
	spins bool
	// neverSleeps: the ends poll and never sleep (a context switch is a
	// preemption or a yield, judge.go).
	neverSleeps bool
	// setup makes the objects of a cell in the parent (setup_linux.go);
	// open builds one worker's end from them (open_linux.go). The send
	// and receive loops are the conn open returns (conn.go).
	setup func(st *runState, c cell, o *objects) error
	open  func(s *workerSpec, stop *atomic.Bool) (conn, error)
}

// noteFor is the transport's note for a row of pattern, "" when none
// applies.
func (t *transport) noteFor(pattern string) string {
	if t.notePattern != "" && t.notePattern != pattern {
		return ""
	}
	return t.note
}

func (t *transport) sizeLimit(size int, lim ipc.Limits) string {
	if t.limit == nil {
		return ""
	}
	return t.limit(size, lim)
}

// transports in the order of the tables' ties and of `all`: everything a
// transport is, in one entry. Adding one means adding its entry (and its
// conn, if no existing one fits) and its case in TestEveryTransportEndToEnd.
var transports = []*transport{
	{name: "shm", desc: "SPSC ring in shared memory (memfd), futex wake-ups", stream: true, sized: true, limit: shmLimit,
		setup: setupRings(ringFutex), open: openRings(ringFutex)},
	{name: "shm-spin", desc: "the same ring, busy polling per-slot ready words: no system call, a CPU burnt on each side", stream: true, sized: true, limit: shmLimit,
		setup: setupRings(ringSpin), open: openRings(ringSpin), neverSleeps: true,
		note: "polls each slot's ready word, which shares a cache line with the message: with the ends on two CPUs, one cache-line handover per message and direction"},
	{name: "shm-adaptive", desc: "the same ring, polling up to --spin rounds before sleeping on the futex", stream: true, sized: true, limit: shmLimit, spins: true,
		setup: setupRings(ringAdaptive), open: openRings(ringAdaptive),
		note: "spins up to the budget shown (--spin, polls of the counter), then sleeps on the futex: the budget trades CPU for wake-ups"},
	{name: "shm-sem", desc: "the same ring signalled with POSIX unnamed semaphores (items/spaces)", stream: true, sized: true, limit: shmLimit,
		setup: setupRings(ringSem), open: openRings(ringSem),
		note: "waits and posts glibc-style semaphores through package semaphore, whose futex calls go through Go's scheduler (the other transports make raw system calls)"},
	{name: "unix-stream", desc: "AF_UNIX SOCK_STREAM socketpair", stream: true, sized: true,
		setup: setupSocketpair(unix.SOCK_STREAM), open: openStreamSocket},
	{name: "unix-dgram", desc: "AF_UNIX SOCK_DGRAM socketpair", stream: true, sized: true, limit: dgramLimit,
		setup: setupSocketpair(unix.SOCK_DGRAM), open: openPacketSocket,
		note: "a full receiver blocks the sender on Linux (no drops on a socketpair); any loss would be counted", notePattern: Stream},
	{name: "unix-seqpacket", desc: "AF_UNIX SOCK_SEQPACKET socketpair", stream: true, sized: true, limit: dgramLimit,
		setup: setupSocketpair(unix.SOCK_SEQPACKET), open: openPacketSocket},
	{name: "pipe", desc: "two pipe(2)s, one each way", stream: true, sized: true,
		setup: setupPipes, open: openPipes},
	{name: "fifo", desc: "two named pipes (mkfifo) opened by path", stream: true, sized: true,
		setup: setupFIFOs, open: openFIFOs},
	{name: "tcp", desc: "TCP over loopback 127.0.0.1, TCP_NODELAY", stream: true, sized: true,
		setup: setupTCP, open: openStreamSocket},
	{name: "sysv-msgq", desc: "one System V message queue, message type 1 one way, 2 the other", stream: true, sized: true, limit: sysvLimit,
		setup: setupSysVQueue, open: openSysVQueue},
	{name: "posix-mq", desc: "two POSIX message queues, one each way", stream: true, sized: true, limit: posixLimit,
		setup: setupPOSIXQueues, open: openPOSIXQueues},
	{name: "eventfd", desc: "two eventfds: a notification (8-byte counter), no payload",
		noStream: "eventfd carries no payload, only a counter that adds up: it has a ping-pong latency, no stream throughput",
		sized:    false, wireSize: 8,
		setup: setupEventfds, open: openEventfds,
		note: "notification only: the 8-byte counter carries the sequence number, no payload, no checksum"},
}

func lookupTransport(name string) (*transport, bool) {
	for _, t := range transports {
		if t.name == name {
			return t, true
		}
	}
	return nil, false
}

// TransportNames lists the transports, in table order.
func TransportNames() []string {
	out := make([]string, len(transports))
	for i, t := range transports {
		out[i] = t.name
	}
	return out
}

// TransportHelp is a line per transport, for --help.
func TransportHelp() string {
	var b strings.Builder
	for _, t := range transports {
		fmt.Fprintf(&b, "  %-15s %s\n", t.name, t.desc)
	}
	return b.String()
}

func shmLimit(size int, lim ipc.Limits) string {
	if need := int64(pairBytes(size)); need > lim.MaxShmBytes {
		return fmt.Sprintf("its two rings need %d bytes of shared memory, above the engine's --max-shm (%d)", need, lim.MaxShmBytes)
	}
	return ""
}

// dgramLimit: a Unix datagram (or seqpacket message) must fit the
// sender's socket buffer, which SO_SNDBUF raises to net.core.wmem_max.
func dgramLimit(size int, _ ipc.Limits) string {
	wmem, err := readSysctl("/proc/sys/net/core/wmem_max")
	if err != nil {
		return ""
	}
	if size > wmem {
		return fmt.Sprintf("above the largest datagram a socket may send here: the send buffer limit net.core.wmem_max is %d bytes", wmem)
	}
	return ""
}

func sysvLimit(size int, _ ipc.Limits) string {
	l, err := mq.ReadSysVLimits()
	if err != nil {
		return ""
	}
	switch {
	case size > l.MsgMax:
		return fmt.Sprintf("above the largest System V message, kernel.msgmax = %d bytes", l.MsgMax)
	case size > l.MsgMnb:
		return fmt.Sprintf("above a System V queue's capacity, kernel.msgmnb = %d bytes", l.MsgMnb)
	}
	return ""
}

// posixQueueDepth is the capacity of each POSIX queue, within msg_max.
const posixQueueDepth = 10

func posixLimit(size int, _ ipc.Limits) string {
	l, err := mq.ReadPOSIXLimits()
	if err != nil {
		return "POSIX message queues are unavailable: " + err.Error()
	}
	if size > l.MsgSizeMax {
		return fmt.Sprintf("above the largest POSIX queue message, fs.mqueue.msgsize_max = %d bytes", l.MsgSizeMax)
	}
	if need := 2 * mq.ChargedBytes(1, size); uint64(need) > l.RlimitMsgqueue {
		return fmt.Sprintf("two queues of even one %d-byte message need about %d bytes, above this user's RLIMIT_MSGQUEUE (%d; ulimit -q)", size, need, l.RlimitMsgqueue)
	}
	return ""
}

// posixDepth is how many messages each of the two queues of a cell holds:
// posixQueueDepth, or less to stay within msg_max and RLIMIT_MSGQUEUE.
func posixDepth(size int) int {
	l, err := mq.ReadPOSIXLimits()
	if err != nil {
		return 1
	}
	d := min(posixQueueDepth, l.MsgMax)
	for d > 1 && uint64(2*mq.ChargedBytes(d, size)) > l.RlimitMsgqueue {
		d--
	}
	return max(d, 1)
}

func readSysctl(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// cell is one measurement: a transport, a pattern and a size.
type cell struct {
	t       *transport
	pattern string
	size    int // bytes the workers move per message (with the header)
	rowSize int // bytes reported (the wire size for eventfd)
	spin    int // shm-adaptive: the polling budget
}

func (c cell) String() string {
	s := fmt.Sprintf("%s %s %s", c.t.name, c.pattern, FormatSize(c.rowSize))
	if c.t.spins {
		s += fmt.Sprintf(" spin %d", c.spin)
	}
	return s
}

// Skip is a transport, pattern and size left out, and why.
type Skip struct {
	Transport string `json:"transport"`
	Pattern   string `json:"pattern"`
	Size      int    `json:"size,omitempty"`
	Reason    string `json:"reason"`
}

// plan lists the cells to measure, pattern by pattern and size by size,
// and what is skipped. With explicit transports every limit was checked
// by Validate; with "all", a transport that cannot take a size or pattern
// is skipped with the reason.
func plan(p Params, lim ipc.Limits) ([]cell, []Skip) {
	var names []string
	if p.all() {
		names = TransportNames()
	} else {
		names = p.Transports
	}
	sizes := append([]int(nil), p.Sizes...)
	sort.Ints(sizes)
	var cells []cell
	var skips []Skip
	seen := map[string]bool{}
	for _, pat := range p.patterns() {
		for i, size := range sizes {
			if i > 0 && size == sizes[i-1] {
				continue
			}
			for _, name := range names {
				t, ok := lookupTransport(name)
				if !ok || seen[pat+"/"+name+"/"+strconv.Itoa(size)] {
					continue
				}
				if pat == Stream && !t.stream {
					if i == 0 {
						skips = append(skips, Skip{Transport: name, Pattern: pat, Reason: t.noStream})
					}
					continue
				}
				if !t.sized {
					if i == 0 {
						cells = append(cells, cell{t: t, pattern: pat, size: MinSize, rowSize: t.wireSize})
					}
					continue
				}
				seen[pat+"/"+name+"/"+strconv.Itoa(size)] = true
				if why := t.sizeLimit(size, lim); why != "" {
					skips = append(skips, Skip{Transport: name, Pattern: pat, Size: size, Reason: why})
					continue
				}
				if t.spins {
					for _, b := range p.spinBudgets() {
						cells = append(cells, cell{t: t, pattern: pat, size: size, rowSize: size, spin: b})
					}
					continue
				}
				cells = append(cells, cell{t: t, pattern: pat, size: size, rowSize: size})
			}
		}
	}
	return cells, skips
}

// errUnavailable marks a transport this system cannot offer (a sandbox
// without POSIX message queues): with "all" it is skipped, not failed.
var errUnavailable = errors.New("unavailable on this system")
