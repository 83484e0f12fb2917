package imager

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// ResultError is a record's result after a crash (CONVENTIONS §4: "error",
// with the error text in errors[]).
const ResultError = "error"

// PanicError is a panic turned into an error by Recover: PID 1 parses
// untrusted disks, and a parser that panics must end the job (or the
// screen) it ran in, not the appliance. Error() is one line — what
// crashed, the panic value and the frame that panicked — fit for a
// record's errors[]; Stack holds the trimmed stack for the console.
type PanicError struct {
	What  string // what was running: "reader of /dev/sda", "console UI"
	Value any    // what panic was called with
	Where string // the function and file:line that panicked
	Stack string // runtime/debug.Stack from the panicking frame on, trimmed
}

func (e *PanicError) Error() string {
	s := fmt.Sprintf("%s crashed: panic: %v", e.What, e.Value)
	if e.Where != "" {
		s += " [at " + e.Where + "]"
	}
	return s
}

// Unwrap gives the panic value when it was an error (a runtime.Error for
// an index out of range or a nil dereference).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// AsPanic returns the PanicError in err's chain, or nil.
func AsPanic(err error) *PanicError {
	var pe *PanicError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// Recover, deferred, turns a panic of the function that deferred it into
// a *PanicError in *errp (replacing what was there):
//
//	func (e *engine) read(…) (err error) {
//		defer Recover(&err, "reader of "+name)
//
// It must be deferred directly (recover only works there). Without a
// panic it leaves *errp alone.
func Recover(errp *error, what string) {
	p := recover()
	if p == nil {
		return
	}
	*errp = NewPanicError(what, p)
}

// NewPanicError describes a recovered panic value; call it from the
// deferred function that recovered, so the stack still shows the panic.
func NewPanicError(what string, p any) *PanicError {
	if pe, ok := p.(*PanicError); ok {
		return pe // re-raised: keep the first description
	}
	return &PanicError{What: what, Value: p, Where: panicFrame(), Stack: trimStack(debug.Stack())}
}

// Safely runs fn and returns its error, or the PanicError of its panic.
func Safely(what string, fn func() error) (err error) {
	defer Recover(&err, what)
	return fn()
}

// Go runs fn on a goroutine of its own behind Recover: done (when set)
// gets fn's error or the panic as a *PanicError, so a goroutine that
// touches disk data can never take the process down.
func Go(what string, fn func() error, done func(error)) {
	go func() {
		err := Safely(what, fn)
		if done != nil {
			done(err)
		}
	}()
}

// maxStackLines keeps a stack short enough for a console (two lines a frame).
const maxStackLines = 40

// trimStack keeps the frames from the one that panicked on: the lines of
// debug.Stack, Recover and runtime's panic machinery are dropped.
func trimStack(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	head := ""
	if len(lines) > 0 && strings.HasPrefix(lines[0], "goroutine ") {
		head, lines = lines[0], lines[1:]
	}
	// debug.Stack prints "panic(...)" for runtime.gopanic: the frame after
	// it panicked. Without one (no panic in flight) keep everything.
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "panic(") {
			lines = lines[i+2:]
			break
		}
	}
	// Index and nil errors arrive through runtime.panicIndex & co.
	for len(lines) >= 2 && strings.HasPrefix(lines[0], "runtime.") {
		lines = lines[2:]
	}
	if len(lines) > maxStackLines {
		lines = append(lines[:maxStackLines], "\t…")
	}
	if head != "" {
		lines = append([]string{head}, lines...)
	}
	return strings.Join(lines, "\n")
}

// panicFrame names the first frame below runtime's panic machinery: the
// function that panicked (or the one that made the runtime panic).
func panicFrame() string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	seenPanic := false
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			seenPanic = true
		} else if seenPanic && !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s %s:%d", shortFunc(f.Function), filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

// shortFunc drops the module path: imager.(*engine).read.
func shortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
