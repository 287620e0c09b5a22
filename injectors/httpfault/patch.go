package httpfault

import (
	"fmt"
	"net/http"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// Patch adds to parts of a message, as Chaos Mesh's
// PodHttpChaosPatchActions.
type Patch struct {
	// Body is merged into a JSON body.
	Body *PatchBody
	// Queries are appended to the URI query, as [name, value] pairs;
	// Request target only.
	Queries [][]string
	// Headers are appended, as [name, value] pairs.
	Headers [][]string
}

// PatchBody is a body patch; Type must be "JSON" (a JSON merge patch, RFC
// 7396), the only kind Chaos Mesh knows.
type PatchBody struct {
	Type  string
	Value string
}

func (p *Patch) validate(t Target) []error {
	var errs []error
	if p.Body != nil {
		if p.Body.Type != "JSON" {
			errs = append(errs, fmt.Errorf("patch.body.type: %q is not JSON", p.Body.Type))
		}
		if _, err := jsonpatch.MergePatch([]byte("{}"), []byte(p.Body.Value)); err != nil {
			errs = append(errs, fmt.Errorf("patch.body.value: not a JSON merge patch: %w", err))
		}
	}
	if len(p.Queries) > 0 && t != Request {
		errs = append(errs, fmt.Errorf("patch.queries: need target Request"))
	}
	for i, kv := range p.Queries {
		if len(kv) != 2 {
			errs = append(errs, fmt.Errorf("patch.queries[%d]: want [name, value], got %d items", i, len(kv)))
		}
	}
	for i, kv := range p.Headers {
		if len(kv) != 2 || kv[0] == "" {
			errs = append(errs, fmt.Errorf("patch.headers[%d]: want [name, value]", i))
		}
	}
	return errs
}

func (p *Patch) request(req *http.Request) error {
	if len(p.Queries) > 0 {
		q := req.URL.Query()
		for _, kv := range p.Queries {
			q.Add(kv[0], kv[1])
		}
		req.URL.RawQuery = q.Encode()
	}
	addHeaders(req.Header, p.Headers)
	if p.Body != nil {
		b, err := readBody(req.Body)
		if err != nil {
			return err
		}
		setRequestBody(req, mergeJSON(b, p.Body.Value))
	}
	return nil
}

func (p *Patch) response(resp *http.Response) error {
	addHeaders(resp.Header, p.Headers)
	if p.Body != nil {
		b, err := readBody(resp.Body)
		if err != nil {
			return err
		}
		setResponseBody(resp, mergeJSON(b, p.Body.Value))
	}
	return nil
}

// mergeJSON applies a merge patch; a body that is not JSON is left as it is.
func mergeJSON(body []byte, patch string) []byte {
	out, err := jsonpatch.MergePatch(body, []byte(patch))
	if err != nil {
		return body
	}
	return out
}

func addHeaders(h http.Header, kvs [][]string) {
	for _, kv := range kvs {
		h.Add(kv[0], kv[1])
	}
}
