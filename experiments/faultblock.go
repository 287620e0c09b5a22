package experiments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ParseFaultJSON checks one fault block of a Drill file, written as a JSON
// object, exactly as Parse checks it inside a drill whose only upstream is
// u: the same strict decoding, defaults and validation, so that a control
// API (aftershock proxy) and a Drill file give the same messages.
//
// The block may leave its upstream out: it then acts on u. When it names
// one, u takes that name, so a block copied from a Drill file (upstream:
// payments) is accepted as it is; a name that is not a DNS-1123 label is
// reported at the block's upstream field.
//
// Bad input yields Problems whose paths are relative to the block
// ("networkChaos.action"), whose positions are lines and columns of data,
// and whose File is name.
func ParseFaultJSON(name string, data []byte, u Upstream) (*Fault, error) {
	body := bytes.TrimSpace(data)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		detail := "expected a JSON object (one fault block of a Drill file)"
		if err != nil {
			detail = fmt.Sprintf("bad JSON: %v; %s", err, detail)
		}
		return nil, Problems{{File: name, Pos: Pos{Line: 1}, Detail: detail}}
	}
	// The block keeps its own lines and columns: it starts a line of its
	// own after a one-line prefix, and the upstream, when added, goes
	// before its closing brace. Only the few JSON escapes YAML spells
	// otherwise shift the columns after them.
	body = yamlEscapes(body)
	u.Name = "proxy"
	_, network := fields["networkChaos"]
	_, http := fields["httpChaos"]
	_, grpc := fields["grpcChaos"]
	if raw, ok := fields["upstream"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil && len(validation.IsDNS1123Label(s)) == 0 {
			u.Name = s
		}
	} else if network || http || grpc {
		// stalledClients name no upstream; the others act on u.
		sep := ","
		if len(fields) == 0 {
			sep = ""
		}
		add := fmt.Sprintf(`%s"upstream":%q}`, sep, u.Name)
		body = append(body[:len(body)-1:len(body)-1], add...)
	}
	up, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("encoding upstream %s: %w", u.Name, err)
	}
	// The target is never contacted: Parse only needs one to accept the
	// document, and stalledClients blocks are checked against it.
	prefix := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":"fault-block"},"spec":{"target":{"url":"http://127.0.0.1:1"},"upstreams":[%s],"faults":[`,
		APIVersion, Kind, up)
	doc := make([]byte, 0, len(prefix)+len(body)+8)
	doc = append(append(append(doc, prefix...), '\n'), body...)
	doc = append(doc, "\n]}}"...)

	d, err := Parse(name, doc)
	if err == nil {
		return &d.Spec.Faults[0], nil
	}
	ps, ok := AsProblems(err)
	if !ok {
		return nil, err
	}
	out := make(Problems, 0, len(ps))
	for _, p := range ps {
		q := *p
		q.Path = blockPath(p.Path)
		if q.Pos.Line > 1 {
			q.Pos.Line--
		} else {
			q.Pos = Pos{}
		}
		out = append(out, &q)
	}
	return nil, out
}

// blockPath makes a drill's field path relative to its first fault block.
func blockPath(path string) string {
	const f = "spec.faults[0]"
	switch {
	case path == f:
		return ""
	case strings.HasPrefix(path, f+"."):
		return path[len(f)+1:]
	}
	return path
}

// yamlEscapes rewrites the string escapes of valid JSON that YAML's
// double-quoted scalars do not read: \/ (written as /) and UTF-16
// surrogates (a pair becomes one \U escape, a lone one U+FFFD, as
// encoding/json reads it).
func yamlEscapes(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\/`)) && !bytes.Contains(b, []byte(`\ud`)) && !bytes.Contains(b, []byte(`\uD`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			switch b[i+1] {
			case '/':
				out = append(out, '/')
				i++
				continue
			case 'u':
				r1 := hex4(b[i+2:])
				if !utf16.IsSurrogate(r1) {
					break
				}
				if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if r := utf16.DecodeRune(r1, hex4(b[i+8:])); r != unicode.ReplacementChar {
						out = fmt.Appendf(out, `\U%08X`, r)
						i += 11
						continue
					}
				}
				out = append(out, `\uFFFD`...)
				i += 5
				continue
			}
			out = append(out, c, b[i+1])
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

// hex4 reads four hex digits (valid JSON guarantees them after \u); -1
// when b is short.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}
