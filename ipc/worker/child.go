package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Child is a worker's view of its parent: the spec, the handed-over files,
// the start barrier, progress events and a logger.
type Child struct {
	kind    string
	spec    json.RawMessage
	control *os.File
	enc     *json.Encoder
	encMu   sync.Mutex
	barrier *os.File
	log     hclog.Logger
	ready   bool
}

// Dispatch runs the worker role when this process was started as
// `ipcplay worker KIND` and never returns in that case; otherwise it returns
// at once. Call it first in main, before flag parsing.
func Dispatch() {
	if len(os.Args) < 3 || os.Args[1] != "worker" {
		return
	}
	os.Exit(runChild(os.Args[2]))
}

// IsWorker reports whether this process is a worker child.
func IsWorker() bool { return len(os.Args) >= 3 && os.Args[1] == "worker" }

func runChild(kind string) int {
	log := hclog.New(&hclog.LoggerOptions{
		Name:       kind,
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      hclog.LevelFromString(envOr("IPCPLAY_WORKER_LOG_LEVEL", "info")),
	})
	fn, ok := lookup(kind)
	if !ok {
		log.Error("unknown worker kind", "kind", kind, "known", strings.Join(Kinds(), ","))
		return 2
	}
	control := os.NewFile(fdControl, "control")
	barrier := os.NewFile(fdBarrier, "barrier")
	c := &Child{kind: kind, control: control, enc: json.NewEncoder(control), barrier: barrier, log: log}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	r := bufio.NewReader(control)
	first, err := readMessage(r)
	if err != nil || first.Type != msgSpec {
		log.Error("no spec from parent", "error", err)
		return 2
	}
	c.spec = first.Data
	// The control socket also tells us when the parent dies: EOF. A worker
	// must never outlive the run that owns its objects.
	go func() {
		for {
			m, err := readMessage(r)
			if err != nil {
				os.Exit(3)
			}
			if m.Type == msgStop {
				cancel()
			}
		}
	}()

	res, err := fn(ctx, c)
	if err != nil {
		var u interface{ UsageError() bool }
		usage := errors.As(err, &u) && u.UsageError()
		c.send(message{Type: msgError, Error: err.Error(), Usage: usage})
		return 1
	}
	data, err := json.Marshal(res)
	if err != nil {
		c.send(message{Type: msgError, Error: fmt.Sprintf("encode result: %v", err)})
		return 1
	}
	c.send(message{Type: msgResult, Data: data})
	return 0
}

// Spec decodes the spec the parent gave this worker into v.
func (c *Child) Spec(v any) error {
	if err := json.Unmarshal(c.spec, v); err != nil {
		return fmt.Errorf("worker %s: decode spec: %w", c.kind, err)
	}
	return nil
}

// File returns the i-th file of the worker's Spec.Files, or nil.
func (c *Child) File(i int) *os.File {
	fd := FileFD(i)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "file"+strconv.Itoa(i))
}

// Logger is the worker's logger; the parent re-logs its lines.
func (c *Child) Logger() hclog.Logger { return c.log }

// Ready tells the parent this worker is prepared, then blocks at the start
// barrier until the parent releases all workers of the group at once.
func (c *Child) Ready(ctx context.Context) error {
	if c.ready {
		return nil
	}
	c.ready = true
	if err := c.send(message{Type: msgReady}); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := c.barrier.Read(b[:])
		if errors.Is(err, io.EOF) {
			err = nil
		}
		done <- err
	}()
	select {
	case err := <-done:
		c.barrier.Close()
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Event sends a progress event (any JSON-able value) to the parent.
func (c *Child) Event(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.send(message{Type: msgEvent, Data: data})
}

func (c *Child) send(m message) error {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	return c.enc.Encode(m)
}

// errBadMessage is a control line that is not a JSON message.
var errBadMessage = errors.New("worker: bad control message")

// readMessage reads one control line. Its error matches errBadMessage when
// the line was read but is not a message; other errors end the stream.
func readMessage(r *bufio.Reader) (message, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return message{}, fmt.Errorf("%w: %w", errBadMessage, err)
	}
	return m, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
