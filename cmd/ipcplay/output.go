package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// writeJSON writes v as the one JSON document of a --json run.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// outWriter is the app's stdout. It remembers whether anything was
// written, so that a --json command that fails before printing its
// document still prints exactly one: the error document (report). With
// hold (--json, a command that does not stream: runApp), it keeps what is
// written until release: a run interrupted by a signal then prints the
// error document alone (code "interrupted"), never a partial result that
// looks like a finished one (report drops it).
type outWriter struct {
	*os.File
	wrote atomic.Bool

	hold bool
	mu   sync.Mutex
	held bytes.Buffer
}

func (w *outWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.wrote.Store(true)
	}
	if w.hold {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.held.Write(p)
	}
	return w.File.Write(p)
}

// release writes what was held to the file (keep), or drops it, and
// stops holding.
func (w *outWriter) release(keep bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hold = false
	if keep {
		_, _ = w.File.Write(w.held.Bytes())
	} else {
		w.wrote.Store(false)
	}
	w.held.Reset()
}

// outFile returns the file under the app's writer w (stdout), or nil when
// w is not a file (tests, the page's form): for terminal checks.
func outFile(w io.Writer) *os.File {
	switch f := w.(type) {
	case *outWriter:
		return f.File
	case *os.File:
		return f
	}
	return nil
}

// errorDoc is the document a --json command prints on stdout when it ends
// without its own (bad input, a run that could not start, an interrupt):
// scripts that parse stdout always get exactly one document. Its error
// is the message stderr shows, without the "ipcplay: " prefix.
type errorDoc struct {
	docHead
	Command  string `json:"command"`   // "race", "demo deadlock"; "" before one was chosen
	ExitCode int    `json:"exit_code"` // as the process exits: 1, 2, 130, 143
	Code     string `json:"code"`      // "usage" (exit 2), "failed" (exit 1), "interrupted" (128+signal)
	Error    string `json:"error"`
}
