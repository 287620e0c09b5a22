package httpfault

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Selector picks the messages a fault acts on, as Chaos Mesh's
// PodHttpChaosSelector: every field that is set must match. Method, Path and
// RequestHeaders are read from the request (for a Response target, the
// request the response answers); Code and ResponseHeaders from the response.
type Selector struct {
	Method string
	// Path is a glob on the request's URI path: * matches any run of
	// characters (/ included), ? one character, [...] a class.
	Path string
	// Code is a response status code; only for the Response target.
	Code int
	// RequestHeaders maps header names to exact values.
	RequestHeaders map[string]string
	// ResponseHeaders maps header names to exact values; only for the
	// Response target.
	ResponseHeaders map[string]string
}

func (s Selector) validate(t Target) []error {
	var errs []error
	if s.Method != "" && !validMethod(s.Method) {
		errs = append(errs, fmt.Errorf("selector.method: %q is not an HTTP method", s.Method))
	}
	if _, err := compileGlob(s.Path); err != nil {
		errs = append(errs, fmt.Errorf("selector.path: %w", err))
	}
	if s.Code != 0 && (t != Response || !validCode(s.Code)) {
		errs = append(errs, fmt.Errorf("selector.code: %d needs target Response and a code 100..999", s.Code))
	}
	if len(s.ResponseHeaders) > 0 && t != Response {
		errs = append(errs, fmt.Errorf("selector.response_headers: need target Response"))
	}
	return errs
}

func (s Selector) String() string {
	var b strings.Builder
	b.WriteString(or(s.Method, "*"))
	b.WriteString(" ")
	b.WriteString(or(s.Path, "*"))
	if s.Code != 0 {
		fmt.Fprintf(&b, " code %d", s.Code)
	}
	return b.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// matcher is a Selector compiled once, when its fault is added.
type matcher struct {
	s    Selector
	path *regexp.Regexp // nil: any path
}

func newMatcher(s Selector) matcher {
	re, _ := compileGlob(s.Path) // validated before
	return matcher{s: s, path: re}
}

// request reports whether req matches the request half of the selector.
func (m matcher) request(req *http.Request) bool {
	if m.s.Method != "" && m.s.Method != req.Method {
		return false
	}
	if m.path != nil && !m.path.MatchString(req.URL.Path) {
		return false
	}
	return headersMatch(req.Header, m.s.RequestHeaders)
}

// response reports whether resp, answering req, matches the selector.
func (m matcher) response(req *http.Request, resp *http.Response) bool {
	if req != nil && !m.request(req) || req == nil && (m.s.Method != "" || m.s.Path != "" || len(m.s.RequestHeaders) > 0) {
		return false
	}
	if m.s.Code != 0 && m.s.Code != resp.StatusCode {
		return false
	}
	return headersMatch(resp.Header, m.s.ResponseHeaders)
}

func headersMatch(h http.Header, want map[string]string) bool {
	for k, v := range want {
		if !containsValue(h.Values(k), v) {
			return false
		}
	}
	return true
}

func containsValue(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// compileGlob turns a path glob into an anchored regular expression; ""
// gives nil (any path).
func compileGlob(g string) (*regexp.Regexp, error) {
	if g == "" {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(g[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("%q: unterminated [", g)
			}
			class := g[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("%q: %w", g, err)
	}
	return re, nil
}
