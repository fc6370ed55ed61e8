package proto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/sockets"
)

func TestMain(m *testing.M) { ipctest.Main(m, nil) }

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, in string
		code     string // "" for success
		id       uint64
		want     string // substring of the message
	}{
		{"ping", `{"v":1,"id":3,"op":"ping"}`, "", 3, ""},
		{"run", `{"v":1,"id":4,"op":"run","experiment":"race","params":{"procs":2}}`, "", 4, ""},
		{"show", `{"v":1,"id":5,"op":"show","run_id":"r-1"}`, "", 5, ""},
		{"unknown fields ignored", `{"v":1,"id":6,"op":"status","future":true}`, "", 6, ""},
		{"empty", ``, CodeBadRequest, 0, "not a JSON object"},
		{"garbage", `\x00\x01hello`, CodeBadRequest, 0, "not a JSON object"},
		{"array", `[1,2]`, CodeBadRequest, 0, "not a JSON object"},
		{"truncated", `{"v":1,"id":3,"op":"pi`, CodeBadRequest, 0, "malformed"},
		{"no version", `{"id":9,"op":"ping"}`, CodeBadRequest, 9, `"v"`},
		{"version 2", `{"v":2,"id":9,"op":"ping"}`, CodeUnsupportedVersion, 9, "speaks version 1"},
		{"version string", `{"v":"one","id":9,"op":"ping"}`, CodeUnsupportedVersion, 9, "speaks version 1"},
		{"unknown op", `{"v":1,"id":2,"op":"reboot"}`, CodeBadRequest, 2, "unknown op"},
		{"run without experiment", `{"v":1,"id":2,"op":"run"}`, CodeBadRequest, 2, "no experiment"},
		{"cancel without run", `{"v":1,"id":2,"op":"cancel"}`, CodeBadRequest, 2, "no run_id"},
		{"params not object", `{"v":1,"id":2,"op":"run","experiment":"x","params":[1]}`, CodeBadRequest, 2, "params"},
		{"wrong field type", `{"v":1,"id":2,"op":"objects","all":"yes"}`, CodeBadRequest, 2, "malformed"},
		{"long run id", `{"v":1,"id":2,"op":"show","run_id":"` + strings.Repeat("x", 200) + `"}`, CodeBadRequest, 2, "run_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRequest([]byte(tt.in))
			if r.ID != tt.id {
				t.Errorf("id %d, want %d", r.ID, tt.id)
			}
			if tt.code == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tt.code || !strings.Contains(pe.Message, tt.want) {
				t.Fatalf("error %#v, want code %s containing %q", err, tt.code, tt.want)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":1,"op":"ping"}`,
		`{"v":1,"id":2,"op":"run","experiment":"race","params":{"procs":4}}`,
		`{"v":1,"id":3,"op":"objects","all":true}`,
		`{"v":1,"id":4,"op":"clean","dry_run":true}`,
		`{"v":1,"id":5,"op":"cancel","run_id":"r-0011223344"}`,
		`{"v":2,"id":6,"op":"ping"}`,
		`{"v":1e400}`,
		`{"id":18446744073709551616}`,
		``, `null`, `{`, `{"v":1,"op":"run","params":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || (pe.Code != CodeBadRequest && pe.Code != CodeUnsupportedVersion) || pe.Message == "" {
				t.Fatalf("error %#v is not a protocol error", err)
			}
			// The reply must encode.
			if _, err := json.Marshal(ErrorResponse(r.ID, CodeBadRequest, err)); err != nil {
				t.Fatal(err)
			}
			return
		}
		if r.V != Version {
			t.Fatalf("accepted version %d", r.V)
		}
		// A request that decodes survives a round trip unchanged.
		b2, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeRequest(b2)
		if err != nil {
			t.Fatalf("re-decode %s: %v", b2, err)
		}
		if !reflect.DeepEqual(norm(r), norm(r2)) {
			t.Fatalf("round trip changed %+v to %+v", r, r2)
		}
	})
}

func norm(r Request) Request {
	if len(r.Params) > 0 {
		var v any
		_ = json.Unmarshal(r.Params, &v)
		r.Params, _ = json.Marshal(v)
	}
	return r
}

func TestDecodeResponse(t *testing.T) {
	if _, err := DecodeResponse([]byte(`{"v":1,"id":1,"type":"result","result":{}}`)); err != nil {
		t.Fatal(err)
	}
	r, err := DecodeResponse([]byte(`{"v":7,"id":1,"type":"error","error":{"code":"unsupported_version","message":"speaks 7"}}`))
	if err != nil || r.Error.Code != CodeUnsupportedVersion {
		t.Fatalf("a refusal of another version must come through: %+v %v", r, err)
	}
	for _, in := range []string{`{"v":2,"type":"result"}`, `{"v":1,"type":"bogus"}`, `{"v":1,"type":"error"}`, `nope`} {
		if _, err := DecodeResponse([]byte(in)); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

func pipe(t *testing.T) (server, client *Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return NewServerConn(a), NewClientConn(b)
}

func TestConnRoundTrip(t *testing.T) {
	s, c := pipe(t)
	go func() {
		_ = c.WriteRequest(Request{ID: 1, Op: OpRun, Experiment: "x", Params: json.RawMessage(`{"a":1}`)})
	}()
	req, err := s.ReadRequest()
	if err != nil || req.V != Version || req.Experiment != "x" {
		t.Fatalf("%+v %v", req, err)
	}
	go func() {
		_ = s.WriteResponse(Response{ID: 1, Type: TypeEvent, Event: json.RawMessage(`{"type":"state"}`)})
		_ = s.WriteResponse(ErrorResponse(1, CodeFailed, errors.New("boom")))
	}()
	if r, err := c.ReadResponse(); err != nil || r.Type != TypeEvent {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := c.ReadResponse(); err != nil || r.Error.Code != CodeFailed || r.Error.Message != "boom" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestConnOversizedRequest(t *testing.T) {
	s, c := pipe(t)
	go func() {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], MaxRequestSize+1)
		c.c.Write(hdr[:])
	}()
	_, err := s.ReadRequest()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeBadRequest || !strings.Contains(pe.Message, "exceeds the maximum") {
		t.Fatalf("err %v", err)
	}
}

func TestConnEOF(t *testing.T) {
	s, c := pipe(t)
	c.Close()
	if _, err := s.ReadRequest(); err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
}

func TestConnWriteTimeout(t *testing.T) {
	s, _ := pipe(t) // nobody reads the client side
	s.WriteTimeout = 50 * time.Millisecond
	err := s.WriteResponse(Response{ID: 1, Type: TypeResult})
	if err == nil {
		t.Fatal("write to a peer that never reads did not time out")
	}
}

func TestRequestTooLargeToSend(t *testing.T) {
	_, c := pipe(t)
	err := c.WriteRequest(Request{ID: 1, Op: OpRun, Experiment: "x", Params: json.RawMessage(`{"a":"` + strings.Repeat("y", MaxRequestSize) + `"}`)})
	if !errors.Is(err, sockets.ErrFrameTooLarge) {
		t.Fatalf("err %v", err)
	}
}
