package httpfault

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Target is what a fault acts on, as in Chaos Mesh: the request the service
// sends, or the response it gets.
type Target string

const (
	// Request targets the requests from the service to the upstream.
	Request Target = "Request"
	// Response targets the responses from the upstream to the service.
	Response Target = "Response"
)

// Fault is one HTTP fault: which messages it selects and what it does to
// them. It mirrors Chaos Mesh's PodHttpChaos rule (target, selector,
// actions) with time.Duration for the delay.
type Fault struct {
	Target   Target
	Selector Selector
	// Abort closes the connection instead of passing the message on.
	Abort bool
	// Delay holds the message before passing it on.
	Delay time.Duration
	// Replace overwrites parts of the message.
	Replace *Replace
	// Patch adds to parts of the message.
	Patch *Patch
}

// Validate reports every problem of the fault, each naming its field.
func (f Fault) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch f.Target {
	case Request, Response:
	default:
		bad("target: %q is not Request or Response", f.Target)
	}
	if !f.Abort && f.Delay == 0 && f.Replace == nil && f.Patch == nil {
		bad("no action: set abort, delay, replace or patch")
	}
	if f.Delay < 0 {
		bad("delay: %v is negative", f.Delay)
	}
	errs = append(errs, f.Selector.validate(f.Target)...)
	if f.Replace != nil {
		errs = append(errs, f.Replace.validate(f.Target)...)
	}
	if f.Patch != nil {
		errs = append(errs, f.Patch.validate(f.Target)...)
	}
	return errors.Join(errs...)
}

// String describes the fault, e.g. "Response GET /api/* → replace code 503".
func (f Fault) String() string {
	var acts []string
	if f.Delay > 0 {
		acts = append(acts, "delay "+f.Delay.String())
	}
	if f.Abort {
		acts = append(acts, "abort")
	}
	if f.Replace != nil {
		acts = append(acts, "replace"+f.Replace.describe())
	}
	if f.Patch != nil {
		acts = append(acts, "patch")
	}
	return fmt.Sprintf("%s %s → %s", f.Target, f.Selector, strings.Join(acts, ", "))
}

// validMethod reports whether m is a token, as an HTTP method must be.
func validMethod(m string) bool {
	return m != "" && strings.IndexFunc(m, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r)
	}) < 0
}

// validCode reports an HTTP status code that can be written.
func validCode(c int) bool { return c >= 100 && c <= 999 }
