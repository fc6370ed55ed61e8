package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
)

// Kind is the "kind" of every lab's JSON document.
const Kind = "demo"

// ExperimentPrefix starts the experiment name of every lab: "demo-crash".
const ExperimentPrefix = "demo-"

// ErrUnexpected marks a lab that ran but did not behave as its explanation
// says (SEM_UNDO did not recover, no deadlock was seen...). The run's
// document is returned with it, and the CLI exits 1.
var ErrUnexpected = errors.New("did not behave as explained")

// Header starts every lab's JSON document.
type Header struct {
	Kind        string `json:"kind"` // always "demo"
	Lab         string `json:"lab"`  // "crash"
	OK          bool   `json:"ok"`   // the lab behaved as the explanation says
	Explanation string `json:"explanation"`
	// Problems lists what did not behave as explained (empty when OK).
	Problems []string `json:"problems,omitempty"`
	// Stopped says why the lab ended before it could judge itself (the
	// run timeout, a cancel, a failed worker): its rows are partial and OK
	// means nothing. Empty when the lab ran to its verdict.
	Stopped string `json:"stopped,omitempty"`
}

// labHeader is implemented by every lab's result, which embeds Header.
type labHeader interface{ header() *Header }

func (h *Header) header() *Header { return h }

// Flag is one parameter of a lab, for the command line: `--timeout 300ms`.
// Its type is the type of Default: int, time.Duration, string or bool.
type Flag struct {
	Name    string // without dashes: "timeout"
	Usage   string
	Default any
}

// Key is the flag's name in the lab's JSON parameters: dashes become
// underscores and a duration gets "_ns" (it travels as nanoseconds).
func (f Flag) Key() string {
	k := strings.ReplaceAll(f.Name, "-", "_")
	if _, ok := f.Default.(time.Duration); ok {
		k += "_ns"
	}
	return k
}

// Info describes a lab.
type Info struct {
	Name       string // "crash"
	Summary    string // one line, for `ipcplay demo`
	Example    string // a command line, for --help
	Flags      []Flag
	Experiment ipc.Experiment // named ExperimentPrefix + Name
}

// Labs lists every lab, in the order a course would take them.
func Labs() []Info {
	return []Info{
		crashLab, deadlockLab, threadsLab, poolLab, parallelismLab, gilLab,
		blockingLab, syncAsyncLab, fdPassingLab, peerCredLab,
		namespacesLab,
	}
}

// Names lists the labs' names, in order.
func Names() []string {
	labs := Labs()
	out := make([]string, len(labs))
	for i, l := range labs {
		out[i] = l.Name
	}
	return out
}

// Lookup finds a lab by name.
func Lookup(name string) (Info, bool) {
	for _, l := range Labs() {
		if l.Name == name {
			return l, true
		}
	}
	return Info{}, false
}

// Experiments returns every lab as an engine experiment.
func Experiments() []ipc.Experiment {
	labs := Labs()
	out := make([]ipc.Experiment, len(labs))
	for i, l := range labs {
		out[i] = l.Experiment
		out[i].Run = markStopped(l.Experiment.Run)
	}
	return out
}

// markStopped wraps a lab's Run: a document returned with an error other
// than the lab's own verdict (ErrUnexpected) is marked Stopped, so that it
// is rendered as not judged rather than as a lab that misbehaved.
func markStopped(run func(context.Context, *ipc.Env, json.RawMessage) (any, error)) func(context.Context, *ipc.Env, json.RawMessage) (any, error) {
	return func(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
		res, err := run(ctx, env, raw)
		if err == nil || errors.Is(err, ErrUnexpected) {
			return res, err
		}
		if h, ok := res.(labHeader); ok {
			if v := reflect.ValueOf(res); v.Kind() != reflect.Pointer || !v.IsNil() {
				h.header().OK = false
				h.header().Stopped = err.Error()
			}
		}
		return res, err
	}
}

// decodeParams fills p (holding the defaults) from raw, refusing unknown
// keys so that a misspelt parameter is not silently ignored.
func decodeParams(raw json.RawMessage, p any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return ipc.Usagef("bad parameters: %v", err)
	}
	return nil
}

// checkInt refuses v outside [lo, hi], naming the flag.
func checkInt(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return ipc.Usagef("--%s %d: must be between %d and %d", flag, v, lo, hi)
	}
	return nil
}

// checkDur refuses d outside [lo, hi], naming the flag.
func checkDur(flag string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return ipc.Usagef("--%s %s: must be between %s and %s", flag, d, lo, hi)
	}
	return nil
}

// verdict fills h.OK from the problems found and returns the error a lab
// returns with its document: nil, or one wrapping ErrUnexpected.
func (h *Header) verdict(problems []string) error {
	h.Problems = problems
	h.OK = len(problems) == 0
	if h.OK {
		return nil
	}
	return fmt.Errorf("demo %s %w: %s", h.Lab, ErrUnexpected, strings.Join(problems, "; "))
}

func newHeader(lab, explanation string) Header {
	return Header{Kind: Kind, Lab: lab, Explanation: explanation}
}

// phase bounds one step of a lab: no wait of a lab may hang, whatever the
// run's own timeout.
func phase(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

func since(t time.Time) int64 { return time.Since(t).Nanoseconds() }
