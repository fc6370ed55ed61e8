package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is the protocol version this package speaks.
const Version = 1

// Frame size limits.
const (
	MaxRequestSize  = 1 << 20  // 1 MiB
	MaxResponseSize = 16 << 20 // 16 MiB: results of long benchmarks
)

// Ops.
const (
	OpPing    = "ping"
	OpStatus  = "status"
	OpRun     = "run"
	OpRuns    = "runs"
	OpShow    = "show"
	OpCancel  = "cancel"
	OpObjects = "objects"
	OpClean   = "clean"
)

// Ops lists every op, in the order of the documentation.
var Ops = []string{OpPing, OpStatus, OpRun, OpRuns, OpShow, OpCancel, OpObjects, OpClean}

// Response types.
const (
	TypeEvent  = "event"
	TypeResult = "result"
	TypeError  = "error"
)

// Error codes.
const (
	CodeUsage              = "usage"               // bad input; the CLI exits 2
	CodeFailed             = "failed"              // the operation failed
	CodeBadRequest         = "bad_request"         // malformed frame or request
	CodeUnsupportedVersion = "unsupported_version" // another protocol version
	CodeDenied             = "denied"              // the peer may not use this daemon
	CodeInternal           = "internal"            // a bug in the daemon
)

// Longest experiment name and run id a request may carry.
const maxNameLen = 128

// Request is one request of a client.
type Request struct {
	V          int             `json:"v"`
	ID         uint64          `json:"id"`
	Op         string          `json:"op"`
	Experiment string          `json:"experiment,omitempty"` // run
	Params     json.RawMessage `json:"params,omitempty"`     // run
	RunID      string          `json:"run_id,omitempty"`     // show, cancel
	All        bool            `json:"all,omitempty"`        // objects
	DryRun     bool            `json:"dry_run,omitempty"`    // clean
}

// Response is one response of the daemon to the request with the same ID.
type Response struct {
	V      int             `json:"v"`
	ID     uint64          `json:"id"`
	Type   string          `json:"type"`
	Event  json.RawMessage `json:"event,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Error is the body of an error response. It is also the error this
// package returns for a request or response that breaks the protocol.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorResponse is the response carrying err for request id. An *Error in
// err's chain keeps its code; anything else becomes code.
func ErrorResponse(id uint64, code string, err error) Response {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: code, Message: err.Error()}
	}
	return Response{V: Version, ID: id, Type: TypeError, Error: e}
}

// DecodeRequest parses and checks one request document. On error (always
// an *Error, of code bad_request or unsupported_version) the returned
// Request still carries the id when one could be read, for the reply. It
// never panics, whatever b holds.
func DecodeRequest(b []byte) (Request, error) {
	var head struct {
		V  json.RawMessage `json:"v"`
		ID json.RawMessage `json:"id"`
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Request{}, Errorf(CodeBadRequest, "malformed request: not a JSON object")
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Request{}, Errorf(CodeBadRequest, "malformed request: %v", err)
	}
	var r Request
	if id, err := strconv.ParseUint(string(head.ID), 10, 64); err == nil {
		r.ID = id
	}
	if len(head.V) == 0 || string(head.V) == "null" {
		return r, Errorf(CodeBadRequest, `malformed request: no protocol version "v" (this daemon speaks version %d)`, Version)
	}
	if v, err := strconv.Atoi(string(head.V)); err != nil || v != Version {
		return r, Errorf(CodeUnsupportedVersion, "protocol version %s is not supported: this daemon speaks version %d (update the ipcplay client or the daemon so they match)", clip(string(head.V), 32), Version)
	}
	id := r.ID
	if err := json.Unmarshal(b, &r); err != nil {
		return Request{ID: id}, Errorf(CodeBadRequest, "malformed request: %v", err)
	}
	if err := r.check(); err != nil {
		return r, err
	}
	return r, nil
}

// check validates the op and its fields.
func (r *Request) check() error {
	known := false
	for _, op := range Ops {
		if r.Op == op {
			known = true
		}
	}
	switch {
	case !known:
		return Errorf(CodeBadRequest, "unknown op %q: known are %s", clip(r.Op, 32), strings.Join(Ops, ", "))
	case r.Op == OpRun && r.Experiment == "":
		return Errorf(CodeBadRequest, "op run: no experiment")
	case len(r.Experiment) > maxNameLen:
		return Errorf(CodeBadRequest, "op %s: experiment name of %d bytes (at most %d)", r.Op, len(r.Experiment), maxNameLen)
	case (r.Op == OpShow || r.Op == OpCancel) && r.RunID == "":
		return Errorf(CodeBadRequest, "op %s: no run_id", r.Op)
	case len(r.RunID) > maxNameLen:
		return Errorf(CodeBadRequest, "op %s: run_id of %d bytes (at most %d)", r.Op, len(r.RunID), maxNameLen)
	}
	if len(r.Params) > 0 {
		p := bytes.TrimSpace(r.Params)
		if len(p) > 0 && p[0] != '{' && string(p) != "null" {
			return Errorf(CodeBadRequest, "op %s: params must be a JSON object", r.Op)
		}
	}
	return nil
}

// DecodeResponse parses and checks one response document.
func DecodeResponse(b []byte) (Response, error) {
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return r, Errorf(CodeBadRequest, "malformed response from the daemon: %v", err)
	}
	if r.V != Version {
		if r.Type == TypeError && r.Error != nil {
			// An older or newer daemon refusing us says so in words.
			return r, nil
		}
		return r, Errorf(CodeUnsupportedVersion, "the daemon answered with protocol version %d; this client speaks version %d", r.V, Version)
	}
	switch r.Type {
	case TypeEvent, TypeResult:
	case TypeError:
		if r.Error == nil {
			return r, Errorf(CodeBadRequest, "malformed response from the daemon: error without a body")
		}
	default:
		return r, Errorf(CodeBadRequest, "malformed response from the daemon: unknown type %q", clip(r.Type, 32))
	}
	return r, nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
