package httpfault

import (
	"fmt"
	"net/http"
	"strings"
)

// Replace overwrites parts of a message, as Chaos Mesh's
// PodHttpChaosReplaceActions. Empty fields leave their part alone.
type Replace struct {
	// Path and Method replace a request's; Request target only.
	Path   string
	Method string
	// Code replaces a response's status; Response target only.
	Code int
	// Body replaces the body when not nil.
	Body []byte
	// Queries sets URI query parameters; Request target only.
	Queries map[string]string
	// Headers sets headers.
	Headers map[string]string
}

func (r *Replace) validate(t Target) []error {
	var errs []error
	if t != Request && (r.Path != "" || r.Method != "" || len(r.Queries) > 0) {
		errs = append(errs, fmt.Errorf("replace: path, method and queries need target Request"))
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		errs = append(errs, fmt.Errorf("replace.path: %q does not start with /", r.Path))
	}
	if r.Method != "" && !validMethod(r.Method) {
		errs = append(errs, fmt.Errorf("replace.method: %q is not an HTTP method", r.Method))
	}
	if r.Code != 0 && (t != Response || !validCode(r.Code)) {
		errs = append(errs, fmt.Errorf("replace.code: %d needs target Response and a code 100..999", r.Code))
	}
	return errs
}

func (r *Replace) describe() string {
	var b strings.Builder
	if r.Code != 0 {
		fmt.Fprintf(&b, " code %d", r.Code)
	}
	if r.Path != "" {
		b.WriteString(" path " + r.Path)
	}
	if r.Method != "" {
		b.WriteString(" method " + r.Method)
	}
	if r.Body != nil {
		fmt.Fprintf(&b, " body (%d B)", len(r.Body))
	}
	return b.String()
}

// request rewrites req.
func (r *Replace) request(req *http.Request) {
	if r.Path != "" {
		req.URL.Path, req.URL.RawPath = r.Path, ""
	}
	if r.Method != "" {
		req.Method = r.Method
	}
	if len(r.Queries) > 0 {
		q := req.URL.Query()
		for k, v := range r.Queries {
			q.Set(k, v)
		}
		req.URL.RawQuery = q.Encode()
	}
	setHeaders(req.Header, r.Headers)
	if r.Body != nil {
		setRequestBody(req, r.Body)
	}
}

// response rewrites resp.
func (r *Replace) response(resp *http.Response) {
	if r.Code != 0 {
		resp.StatusCode = r.Code
		resp.Status = fmt.Sprintf("%d %s", r.Code, http.StatusText(r.Code))
	}
	setHeaders(resp.Header, r.Headers)
	if r.Body != nil {
		setResponseBody(resp, r.Body)
	}
}

func setHeaders(h http.Header, set map[string]string) {
	for k, v := range set {
		h.Set(k, v)
	}
}
