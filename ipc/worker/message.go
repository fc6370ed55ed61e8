package worker

import "encoding/json"

// message is one line on the control socket.
type message struct {
	Type  string          `json:"type"` // spec, ready, event, result, error, stop
	Data  json.RawMessage `json:"data,omitempty"`
	Error string          `json:"error,omitempty"`
	Usage bool            `json:"usage,omitempty"` // the error is bad input (exit 2)
}

const (
	msgSpec   = "spec"
	msgReady  = "ready"
	msgEvent  = "event"
	msgResult = "result"
	msgError  = "error"
	msgStop   = "stop"
)

// Descriptor numbers in the child.
const (
	fdControl   = 3
	fdBarrier   = 4
	fdFirstFile = 5
)

// FileFD is the descriptor number under which a child sees the i-th file of
// its Spec: use it to build handles such as a memfd region's "memfd:fd=N".
func FileFD(i int) int { return fdFirstFile + i }
