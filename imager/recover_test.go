package imager

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestRecover: every kind of panic becomes a *PanicError naming what
// crashed, the value and the frame that panicked, with a stack that starts
// there; without a panic the error is left alone.
func TestRecover(t *testing.T) {
	var nilMap map[string]int
	var nilPtr *Piece
	earlier := errors.New("earlier")
	for _, c := range []struct {
		name      string
		fn        func() error
		want      string // in Error(); "" for no panic
		wantErr   error  // without a panic: the error left
		runtimeEr bool   // Unwrap gives a runtime.Error
	}{
		{"no panic", func() error { return nil }, "", nil, false},
		{"no panic keeps the error", func() error { return earlier }, "", earlier, false},
		{"string", func() error { panic("malformed metadata") }, "parser crashed: panic: malformed metadata", nil, false},
		{"error value", func() error { panic(errors.New("bad geometry")) }, "parser crashed: panic: bad geometry", nil, false},
		{"index out of range", func() error { b := []byte{1}; i := 5; _ = b[i]; return nil }, "parser crashed: panic: runtime error: index out of range [5] with length 1", nil, true},
		{"nil map write", func() error { nilMap["x"] = 1; return nil }, "parser crashed: panic: assignment to entry in nil map", nil, true},
		{"nil dereference", func() error { return errors.New(nilPtr.Alg) }, "parser crashed: panic: runtime error: invalid memory address or nil pointer dereference", nil, true},
		{"re-raised keeps the first", func() error { panic(&PanicError{What: "member reader", Value: "first"}) }, "member reader crashed: panic: first", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := func() (err error) {
				defer Recover(&err, "parser")
				return c.fn()
			}()
			pe := AsPanic(err)
			if c.want == "" {
				if pe != nil || err != c.wantErr {
					t.Fatalf("got %v, want %v", err, c.wantErr)
				}
				return
			}
			if pe == nil {
				t.Fatalf("got %v, want a *PanicError", err)
			}
			if !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Error() = %q, want one line starting %q", err.Error(), c.want)
			}
			var re runtime.Error
			if errors.As(err, &re) != c.runtimeEr {
				t.Errorf("errors.As runtime.Error = %v, want %v", !c.runtimeEr, c.runtimeEr)
			}
			if pe.What == "member reader" {
				return // re-raised as built above: no frame, no stack
			}
			if !strings.Contains(pe.Where, "recover_test.go:") || !strings.Contains(err.Error(), "[at imager.TestRecover") {
				t.Errorf("Where = %q (Error %q), want the test's panicking func in recover_test.go", pe.Where, err)
			}
			lines := strings.Split(pe.Stack, "\n")
			if len(lines) < 3 || !strings.HasPrefix(lines[0], "goroutine ") || !strings.Contains(lines[1], "TestRecover") {
				t.Errorf("stack does not start at the panicking frame:\n%s", pe.Stack)
			}
			for _, drop := range []string{"runtime/debug.Stack", "imager.Recover", "imager.NewPanicError", "panic("} {
				if strings.Contains(pe.Stack, drop) {
					t.Errorf("stack keeps %q:\n%s", drop, pe.Stack)
				}
			}
		})
	}
}

func TestSafelyAndGo(t *testing.T) {
	if err := Safely("x", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	err := Safely("hasher", func() error { panic(42) })
	if pe := AsPanic(err); pe == nil || pe.Value != 42 || pe.What != "hasher" {
		t.Fatalf("Safely: %v", err)
	}
	done := make(chan error, 1)
	Go("member reader", func() error { var p *int; return errors.New(string(rune(*p))) }, func(err error) { done <- err })
	select {
	case err := <-done:
		if AsPanic(err) == nil || !strings.Contains(err.Error(), "member reader crashed: panic: runtime error: invalid memory address") {
			t.Fatalf("Go: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Go's done was not called")
	}
	if len(strings.Split(trimStack(bytes.Repeat([]byte("f()\n\tx.go:1\n"), 100)), "\n")) > maxStackLines+1 {
		t.Error("trimStack keeps too many lines")
	}
}

// panicSource panics when a read reaches byte at.
type panicSource struct {
	data []byte
	at   int64
}

func (p *panicSource) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > p.at {
		var geometry []int
		_ = geometry[off] // a parser indexing past what the metadata promised
	}
	return copy(b, p.data[off:]), nil
}

// panicSink panics in Write from byte at on; it records Abort.
type panicSink struct {
	n, at   int64
	aborted bool
}

func (s *panicSink) Write(p []byte) (int, error) {
	if s.n+int64(len(p)) > s.at {
		panic("sink writer bug")
	}
	s.n += int64(len(p))
	return len(p), nil
}
func (s *panicSink) Finish(Final) error { return nil }
func (s *panicSink) Abort() error       { s.aborted = true; return nil }
func (s *panicSink) Files() []string    { return nil }

// TestEnginePanics: a panic in the reader (the source's parser), in a sink
// or in the progress display ends the pass with a *PanicError naming it;
// the sinks are aborted, the hashes cover what was handed out, and the
// pass never hangs on a buffer a crashed goroutine held.
func TestEnginePanics(t *testing.T) {
	data := testData(9, 4<<20)
	for _, c := range []struct {
		name string
		src  func() *panicSource
		sink *panicSink
		emit Emitter
		want string
	}{
		{"reader", func() *panicSource { return &panicSource{data, 3 << 20} }, &panicSink{at: 1 << 40}, nil, "reader of src crashed: panic: runtime error: index out of range"},
		{"sink", func() *panicSource { return &panicSource{data, 1 << 40} }, &panicSink{at: 1 << 20}, nil, "image writer of src crashed: panic: sink writer bug"},
		{"progress", func() *panicSource { return &panicSource{data, 1 << 40} }, &panicSink{at: 1 << 40}, func(ev Event) {
			if ev.Kind == EventProgress {
				panic("progress display bug")
			}
		}, "crashed: panic: progress display bug"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var src io.ReaderAt = c.src()
			if c.emit != nil {
				src = slowSource{src} // the progress ticker gets time to fire
			}
			done := make(chan struct{})
			var res *Result
			var err error
			go func() {
				defer close(done)
				o := Options{Name: "src", Source: src, Size: int64(len(data)), Sinks: []Sink{c.sink}, Hashes: []string{"sha256"},
					BufferSize: 256 << 10, PieceSize: 1 << 20, Emit: c.emit, ProgressEvery: time.Millisecond}
				res, err = Run(context.Background(), o)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the pass hangs after the panic")
			}
			if AsPanic(err) == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run: %v, want a *PanicError with %q", err, c.want)
			}
			if !c.sink.aborted {
				t.Error("the sink was not aborted")
			}
			if res == nil || res.Size > int64(len(data)) || res.Hashes["sha256"] == "" {
				t.Errorf("result %+v: the hashes must cover the bytes read", res)
			}
		})
	}
}

// slowSource gives the progress ticker time to fire.
type slowSource struct{ r io.ReaderAt }

func (s slowSource) ReadAt(b []byte, off int64) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return s.r.ReadAt(b, off)
}
