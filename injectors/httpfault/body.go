package httpfault

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// maxBody bounds a body read whole for a replace or patch.
const maxBody = 16 << 20

// readBody reads a whole body (for a patch), at most maxBody bytes.
func readBody(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("body over %d bytes: too large to patch", maxBody)
	}
	return b, nil
}

// setRequestBody replaces req's body; the old one is drained first so that
// the next request on the connection is read from the right place.
func setRequestBody(req *http.Request, b []byte) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
	}
	req.Body, req.ContentLength, req.TransferEncoding = io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	if len(b) == 0 {
		req.Body = http.NoBody
	}
}

// setResponseBody replaces resp's body, draining the old one.
func setResponseBody(resp *http.Response, b []byte) {
	if resp.Body != nil {
		io.Copy(io.Discard, resp.Body)
	}
	resp.Body, resp.ContentLength, resp.TransferEncoding = io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}
