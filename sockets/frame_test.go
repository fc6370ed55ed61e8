package sockets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	cases := []struct {
		size, max int
	}{
		{0, 0}, {1, 0}, {255, 0}, {256, 0}, {65535, 0},
		{readChunk, 0}, {readChunk + 1, 0}, {200_000, 0},
		{DefaultMaxFrame, 0}, {10, 10}, {3 << 20, 4 << 20},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d_max%d", tc.size, tc.max), func(t *testing.T) {
			payload := pattern(tc.size, 7)
			var buf bytes.Buffer
			if err := WriteFrame(&buf, payload, tc.max); err != nil {
				t.Fatal(err)
			}
			raw := buf.Bytes()
			if len(raw) != 4+tc.size || binary.BigEndian.Uint32(raw) != uint32(tc.size) {
				t.Fatalf("encoded %d bytes with header % x, want %d with length %d", len(raw), raw[:4], 4+tc.size, tc.size)
			}
			got, err := ReadFrame(&buf, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "payload", got, payload)
			if _, err := ReadFrame(&buf, tc.max); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestFrameSequence(t *testing.T) {
	var buf bytes.Buffer
	f := NewFramer(&buf, 0)
	for i := range 100 {
		if err := f.Write(pattern(i*37, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		got, err := f.Read()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		mustEqual(t, fmt.Sprint("frame ", i), got, pattern(i*37, byte(i)))
	}
	if _, err := f.Read(); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

func TestWriteFrameTooLarge(t *testing.T) {
	var buf bytes.Buffer
	err := WriteFrame(&buf, make([]byte, 2_000_000), 0)
	checkTooLarge(t, err, "write", 2_000_000, DefaultMaxFrame)
	if want := "frame of 2000000 bytes exceeds maximum 1048576"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("message %q lacks %q", err, want)
	}
	err = NewFramer(&buf, 100).Write(make([]byte, 101))
	checkTooLarge(t, err, "write", 101, 100)
	if buf.Len() != 0 {
		t.Fatalf("an oversize frame wrote %d bytes", buf.Len())
	}
}

func checkTooLarge(t *testing.T, err error, op string, size, max int) {
	t.Helper()
	var fe *FrameError
	if !errors.Is(err, ErrFrameTooLarge) || !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *FrameError matching ErrFrameTooLarge", err)
	}
	if fe.Op != op || fe.Size != size || fe.Max != max {
		t.Fatalf("FrameError = %+v, want op %s size %d max %d", fe, op, size, max)
	}
	if errors.Is(err, ErrTruncated) {
		t.Fatalf("%v also matches ErrTruncated", err)
	}
}

// strictReader yields data, then fails the test if read further.
type strictReader struct {
	t    *testing.T
	data []byte
}

func (r *strictReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		r.t.Fatalf("read past the header")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadFrameTooLarge: an oversize header is refused from the header
// alone: no body read, no body allocated.
func TestReadFrameTooLarge(t *testing.T) {
	for _, size := range []uint32{DefaultMaxFrame + 1, 1 << 31, 0xFFFFFFFF} {
		hdr := binary.BigEndian.AppendUint32(nil, size)
		var err error
		alloc := allocated(func() { _, err = ReadFrame(&strictReader{t, hdr}, 0) })
		checkTooLarge(t, err, "read", int(size), DefaultMaxFrame)
		if alloc > 64<<10 {
			t.Errorf("refusing a %d-byte frame allocated %d bytes", size, alloc)
		}
	}
	hdr := binary.BigEndian.AppendUint32(nil, 11)
	_, err := NewFramer(&strictReaderRW{strictReader{t, hdr}}, 10).Read()
	checkTooLarge(t, err, "read", 11, 10)
}

type strictReaderRW struct{ strictReader }

func (*strictReaderRW) Write(p []byte) (int, error) { return len(p), nil }

// allocated returns the bytes allocated while fn runs.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadFrameLargeAnnounced: a peer announcing a large frame and sending
// little costs memory in proportion to what it sent, not what it announced.
func TestReadFrameLargeAnnounced(t *testing.T) {
	data := binary.BigEndian.AppendUint32(nil, DefaultMaxFrame)
	data = append(data, make([]byte, 1000)...)
	var err error
	alloc := allocated(func() { _, err = ReadFrame(bytes.NewReader(data), 0) })
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if alloc > 4*readChunk {
		t.Errorf("a 1 MiB frame cut after 1000 bytes allocated %d bytes", alloc)
	}
}

func TestReadFrameTruncated(t *testing.T) {
	full := binary.BigEndian.AppendUint32(nil, 10)
	full = append(full, "0123456789"...)
	big := binary.BigEndian.AppendUint32(nil, 200_000)
	big = append(big, make([]byte, 150_000)...)
	cases := []struct {
		name string
		data []byte
		size int
	}{
		{"header1", full[:1], -1},
		{"header3", full[:3], -1},
		{"headerOnly", full[:4], 10},
		{"bodyPart", full[:9], 10},
		{"bigBodyPart", big, 200_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.data), 0)
			var fe *FrameError
			if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FrameError matching ErrTruncated and io.ErrUnexpectedEOF", err)
			}
			if fe.Op != "read" || fe.Size != tc.size || errors.Is(err, ErrFrameTooLarge) || errors.Is(err, io.EOF) {
				t.Fatalf("FrameError = %+v (%v)", fe, err)
			}
		})
	}
}

func TestReadFrameEOF(t *testing.T) {
	if _, err := ReadFrame(bytes.NewReader(nil), 0); err != io.EOF {
		t.Fatalf("empty stream: %v, want exactly io.EOF", err)
	}
}

// errReader returns data, then err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestFrameIOErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, data := range [][]byte{nil, {0, 0}, {0, 0, 0, 5, 1}} {
		_, err := ReadFrame(&errReader{data, boom}, 0)
		if !errors.Is(err, boom) || errors.Is(err, ErrTruncated) {
			t.Errorf("read error after %d bytes: %v, want boom only", len(data), err)
		}
	}
	if err := WriteFrame(writerFunc(func(p []byte) (int, error) { return 0, boom }), []byte("x"), 0); !errors.Is(err, boom) {
		t.Errorf("write error: %v", err)
	}
	short := writerFunc(func(p []byte) (int, error) { return len(p) - 1, nil })
	if err := WriteFrame(short, []byte("x"), 0); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short write: %v, want io.ErrShortWrite", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestWriteFrameOneWrite: header and payload go out in one Write call, so a
// frame is one message on a message socket.
func TestWriteFrameOneWrite(t *testing.T) {
	for _, size := range []int{0, 10, readChunk + 10} {
		calls := 0
		w := writerFunc(func(p []byte) (int, error) { calls++; return len(p), nil })
		if err := WriteFrame(w, make([]byte, size), 0); err != nil {
			t.Fatal(err)
		}
		if err := NewFramer(struct {
			io.Reader
			io.Writer
		}{nil, w}, 0).Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Fatalf("%d-byte frames took %d Write calls for 2 frames", size, calls)
		}
	}
	// On a seqpacket socket a frame is exactly one packet.
	a, b := pairConns(t, SeqPacket)
	if err := WriteFrame(a, []byte("packet"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := b.Read(buf)
	if err != nil || n != 10 {
		t.Fatalf("read %d bytes (%v), want one 10-byte packet", n, err)
	}
}

// TestFramerConcurrentWriters: frames written by many goroutines through one
// Framer arrive whole over a stream socket.
func TestFramerConcurrentWriters(t *testing.T) {
	a, b := pairConns(t, Stream)
	w := NewFramer(a, 0)
	const writers, frames = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			for i := range frames {
				// Every byte of a frame is its writer's id.
				if err := w.Write(bytes.Repeat([]byte{byte(g)}, 1+(i*97)%5000)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	r := NewFramer(b, 0)
	counts := make([]int, writers)
	for range writers * frames {
		p, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 || bytes.Count(p, p[:1]) != len(p) || int(p[0]) >= writers {
			t.Fatalf("mixed frame of %d bytes: interleaved writes", len(p))
		}
		counts[p[0]]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for g, c := range counts {
		if c != frames {
			t.Fatalf("writer %d: %d frames, want %d", g, c, frames)
		}
	}
}

// FuzzReadFrame: arbitrary input never panics, every error is one of the
// documented ones, and every frame read re-encodes to the bytes it came from.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 1, 'd'})
	f.Add([]byte{0, 0, 0, 5, 'a'})
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Add([]byte{0, 0, 0x10, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4096
		r := bytes.NewReader(data)
		off := 0
		for {
			p, err := ReadFrame(r, max)
			consumed := len(data) - r.Len()
			switch {
			case err == nil:
				var buf bytes.Buffer
				if werr := WriteFrame(&buf, p, max); werr != nil {
					t.Fatalf("re-encode a %d-byte frame: %v", len(p), werr)
				}
				if !bytes.Equal(buf.Bytes(), data[off:consumed]) {
					t.Fatalf("frame at %d re-encodes to % x, input was % x", off, buf.Bytes(), data[off:consumed])
				}
				off = consumed
				continue
			case err == io.EOF:
				if off != len(data) {
					t.Fatalf("io.EOF with %d bytes left", len(data)-off)
				}
			case errors.Is(err, ErrFrameTooLarge):
				if consumed != off+4 || binary.BigEndian.Uint32(data[off:]) <= max {
					t.Fatalf("too large: consumed %d bytes of a frame at %d (header % x)", consumed-off, off, data[off:off+4])
				}
			case errors.Is(err, ErrTruncated):
				if consumed != len(data) {
					t.Fatalf("truncated with %d bytes unread", len(data)-consumed)
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
	})
}
