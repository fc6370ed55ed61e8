package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc"
)

// A lab stopped by the run timeout (or a cancel, or a dead worker) is not
// judged: before, its partial rows were printed with "Behaved as
// explained: NO" and no problem listed.
func TestStoppedLabIsNotJudged(t *testing.T) {
	type result struct {
		Header
		Rows []string `json:"rows"`
	}
	stop := errors.New("context deadline exceeded")
	for _, tc := range []struct {
		name        string
		res         any
		err         error
		wantStopped bool
	}{
		{"stopped with rows", &result{Header: newHeader("parallelism", "why"), Rows: []string{"a"}}, stop, true},
		{"its own verdict", &result{Header: newHeader("parallelism", "why")}, fmt.Errorf("demo parallelism %w: slow", ErrUnexpected), false},
		{"finished", &result{Header: newHeader("parallelism", "why")}, nil, false},
		{"no document", (*result)(nil), stop, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := markStopped(func(context.Context, *ipc.Env, json.RawMessage) (any, error) { return tc.res, tc.err })
			res, err := run(context.Background(), nil, nil)
			if err != tc.err {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			r, _ := res.(*result)
			if r == nil {
				return
			}
			if got := r.Stopped != ""; got != tc.wantStopped {
				t.Fatalf("stopped %q, want stopped %v", r.Stopped, tc.wantStopped)
			}
			if !tc.wantStopped {
				return
			}
			doc, _ := json.Marshal(r)
			real := renderers["parallelism"]
			defer func() { renderers["parallelism"] = real }()
			renderers["parallelism"] = func(io.Writer, json.RawMessage) error { return nil }
			var b bytes.Buffer
			if err := Render(&b, doc); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "Behaved as explained: not judged") || strings.Contains(b.String(), "Behaved as explained: NO") {
				t.Errorf("a stopped lab rendered as\n%s", b.String())
			}
		})
	}
}
