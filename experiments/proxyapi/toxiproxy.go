package proxyapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/injectors/proxy"
)

// A Toxiproxy-compatible API beside the native one, so that Toxiproxy's own
// clients (github.com/Shopify/toxiproxy/v2/client) and scripts drive this
// proxy unchanged. It serves the routes of Toxiproxy 2.12 with its
// statuses and its error body ({"error": "...", "status": N}):
//
//	GET    /version
//	GET    /proxies                       this proxy, under its name
//	POST   /proxies                       201 if it describes this proxy; 409 otherwise
//	POST   /populate                      201 if every entry describes this proxy; 409 otherwise
//	GET    /proxies/NAME
//	POST   /proxies/NAME (or PATCH)       enabled false: down (see proxy.Down); true: up again
//	DELETE /proxies/NAME                  clears every fault (the proxy stays)
//	GET    /proxies/NAME/toxics[/TOXIC]
//	POST   /proxies/NAME/toxics           add a toxic (200)
//	POST   /proxies/NAME/toxics/TOXIC     update it (or PATCH): attributes merged, toxicity
//	DELETE /proxies/NAME/toxics/TOXIC
//	POST   /reset                         clears every fault, enables the proxy
//
// The proxy is fixed: it is one listener, which appears as one Toxiproxy
// proxy, named "aftershock" until a POST /proxies or /populate that
// describes it (its listen and upstream addresses) names it. A request for
// any other proxy is refused (409), since this process cannot open another
// listener.
//
// Toxics map onto the proxy's faults and share the fault names of /faults.
// Like Toxiproxy's, they and a disabled proxy hold until undone: no lease.
// A toxicity below 1 applies the toxic to that share of the connections,
// each connection drawing once per toxic (proxy.Sometimes), as Toxiproxy's
// streams do.

// Toxic is a Toxiproxy toxic.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// ToxiproxyProxy is a Toxiproxy proxy, as /proxies lists it.
type ToxiproxyProxy struct {
	Name     string  `json:"name"`
	Listen   string  `json:"listen"`
	Upstream string  `json:"upstream"`
	Enabled  bool    `json:"enabled"`
	Toxics   []Toxic `json:"toxics"`
}

// defaultToxiproxyName is the proxy's name until a POST /proxies names it.
const defaultToxiproxyName = "aftershock"

// disabledFault is the name of the fault a disabled proxy is (proxy.Down).
const disabledFault = "proxy-disabled"

// toxicAttributes are the toxics this proxy acts out, with their attributes
// (all whole numbers, in Toxiproxy's units).
var toxicAttributes = map[string][]string{
	"latency":    {"latency", "jitter"},
	"bandwidth":  {"rate"},
	"slow_close": {"delay"},
	"timeout":    {"timeout"},
	"reset_peer": {"timeout"},
	"slicer":     {"average_size", "size_variation", "delay"},
	"limit_data": {"bytes"},
}

// toxicTypes lists the toxic types, sorted, for error messages.
func toxicTypes() []string {
	var out []string
	for t := range toxicAttributes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Toxiproxy's errors, with its statuses and messages (clients may match
// on the message); the rest of each message says what this proxy is.
var (
	errBadBody       = apiError{http.StatusBadRequest, "bad request body"}
	errMissingField  = apiError{http.StatusBadRequest, "missing required field"}
	errProxyNotFound = apiError{http.StatusNotFound, "proxy not found"}
	errProxyExists   = apiError{http.StatusConflict, "proxy already exists"}
	errBadStream     = apiError{http.StatusBadRequest, "stream was invalid, can be either upstream or downstream"}
	errBadToxicType  = apiError{http.StatusBadRequest, "invalid toxic type"}
	errToxicExists   = apiError{http.StatusConflict, "toxic already exists"}
	errToxicNotFound = apiError{http.StatusNotFound, "toxic not found"}
	errOneListener   = apiError{http.StatusConflict, "this aftershock proxy is one listener"}
)

// apiError is an error of the Toxiproxy API: its status and message.
type apiError struct {
	status int
	msg    string
}

func (e apiError) Error() string { return e.msg }

// with returns the error with detail appended to its message.
func (e apiError) with(format string, args ...any) error {
	return fmt.Errorf("%w: %s", e, fmt.Sprintf(format, args...))
}

// writeToxiError answers err with the status of the apiError it wraps, or
// 500.
func writeToxiError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae apiError
	if errors.As(err, &ae) {
		status = ae.status
	} else if errors.Is(err, proxy.ErrClosed) {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, Error{Error: err.Error(), Status: status})
}

func (a *API) routeToxiproxy() {
	a.mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "aftershock"})
	})
	a.mux.HandleFunc("GET /proxies", func(w http.ResponseWriter, _ *http.Request) {
		p := a.toxiproxy()
		writeJSON(w, http.StatusOK, map[string]ToxiproxyProxy{p.Name: p})
	})
	a.mux.HandleFunc("POST /proxies", a.createProxy)
	a.mux.HandleFunc("POST /populate", a.populate)
	a.mux.HandleFunc("GET /proxies/{proxy}", a.withProxy(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.toxiproxy())
	}))
	a.mux.HandleFunc("POST /proxies/{proxy}", a.withProxy(a.updateProxy))
	a.mux.HandleFunc("PATCH /proxies/{proxy}", a.withProxy(a.updateProxy))
	a.mux.HandleFunc("GET /proxies/{proxy}/toxics", a.withProxy(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.toxiproxy().Toxics)
	}))
	a.mux.HandleFunc("GET /proxies/{proxy}/toxics/{toxic}", a.withProxy(func(w http.ResponseWriter, r *http.Request) {
		for _, t := range a.toxiproxy().Toxics {
			if t.Name == r.PathValue("toxic") {
				writeJSON(w, http.StatusOK, t)
				return
			}
		}
		writeToxiError(w, errToxicNotFound.with("%s", r.PathValue("toxic")))
	}))
	a.mux.HandleFunc("POST /proxies/{proxy}/toxics", a.withProxy(a.addToxic))
	a.mux.HandleFunc("POST /proxies/{proxy}/toxics/{toxic}", a.withProxy(a.updateToxic))
	a.mux.HandleFunc("PATCH /proxies/{proxy}/toxics/{toxic}", a.withProxy(a.updateToxic))
	a.mux.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", a.withProxy(a.removeToxic))
	a.mux.HandleFunc("DELETE /proxies/{proxy}", a.withProxy(func(w http.ResponseWriter, _ *http.Request) {
		// The proxy itself outlives this: it clears its faults (a disabled
		// proxy listens again) and forgets the name it was given.
		a.mu.Lock()
		defer a.mu.Unlock()
		if err := a.removeAllLocked(); err != nil {
			writeToxiError(w, err)
			return
		}
		a.toxiproxyName = defaultToxiproxyName
		w.WriteHeader(http.StatusNoContent)
	}))
	a.mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if err := a.removeAllLocked(); err != nil {
			writeToxiError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// withProxy answers 404 for a proxy name that is not this proxy's.
func (a *API) withProxy(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		name := a.toxiproxyName
		a.mu.Unlock()
		if r.PathValue("proxy") != name {
			writeToxiError(w, errProxyNotFound.with("%s (this aftershock proxy is %s, %s → %s)", r.PathValue("proxy"), name, a.info.Listen, a.info.Forward))
			return
		}
		h(w, r)
	}
}

// readBody reads a request body of at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, errBadBody.with("%v", err)
	}
	return data, nil
}

// proxyInput is a proxy as POST /proxies and /populate describe it; Enabled
// is nil when left out (true, as in Toxiproxy).
type proxyInput struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  *bool  `json:"enabled"`
	Toxics   any    `json:"toxics"` // sent back by clients; ignored, as Toxiproxy does
}

// describes reports whether p describes this proxy; otherwise the error
// says why not.
func (a *API) describes(p proxyInput) error {
	switch {
	case p.Name == "":
		return errMissingField.with("name")
	case p.Upstream == "":
		return errMissingField.with("upstream")
	case !sameAddr(p.Listen, a.info.Listen) || !sameAddr(p.Upstream, a.info.Forward):
		return errOneListener.with("it listens on %s and forwards to %s, and cannot create %s (%s → %s); run one aftershock proxy per upstream",
			a.info.Listen, a.info.Forward, p.Name, p.Listen, p.Upstream)
	}
	return nil
}

// createProxy accepts a proxy that describes this one and adopts its name.
func (a *API) createProxy(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(w, r)
	if err != nil {
		writeToxiError(w, err)
		return
	}
	var p proxyInput
	if err := json.Unmarshal(data, &p); err != nil {
		writeToxiError(w, errBadBody.with("%v", err))
		return
	}
	if err := a.describes(p); err != nil {
		writeToxiError(w, err)
		return
	}
	a.mu.Lock()
	if a.toxiproxyName != defaultToxiproxyName {
		name := a.toxiproxyName
		a.mu.Unlock()
		if p.Name == name {
			writeToxiError(w, errProxyExists.with("%s", name))
		} else {
			writeToxiError(w, errOneListener.with("it is proxy %s already; DELETE /proxies/%s first to name it %s", name, name, p.Name))
		}
		return
	}
	err = a.adoptLocked(p)
	a.mu.Unlock()
	if err != nil {
		writeToxiError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.toxiproxy())
}

// adoptLocked names the proxy after p and enables or disables it as p
// says. a.mu is held.
func (a *API) adoptLocked(p proxyInput) error {
	a.toxiproxyName = p.Name
	return a.enableLocked(p.Enabled == nil || *p.Enabled)
}

// populate serves POST /populate: the proxies of a Toxiproxy config. Each
// must be this proxy; one named as this proxy is already is kept as it is
// (its toxics too), as Toxiproxy keeps a proxy that does not differ.
func (a *API) populate(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, err error) {
		body := struct {
			Error   string           `json:"error,omitempty"`
			Status  int              `json:"status,omitempty"`
			Proxies []ToxiproxyProxy `json:"proxies"`
		}{Proxies: []ToxiproxyProxy{}}
		if err != nil {
			body.Error, body.Status = err.Error(), status
		} else {
			body.Proxies = append(body.Proxies, a.toxiproxy())
		}
		writeJSON(w, status, body)
	}
	data, err := readBody(w, r)
	if err != nil {
		answer(http.StatusBadRequest, err)
		return
	}
	var ps []proxyInput
	if err := json.Unmarshal(data, &ps); err != nil {
		answer(http.StatusBadRequest, errBadBody.with("want a JSON list of proxies: %v", err))
		return
	}
	// Every entry is checked before anything changes.
	for i, p := range ps {
		if err := a.describes(p); err != nil {
			var ae apiError
			errors.As(err, &ae)
			answer(ae.status, fmt.Errorf("proxy %d (%s): %w", i+1, p.Name, err))
			return
		}
		if i > 0 && p.Name != ps[0].Name {
			answer(errOneListener.status, errOneListener.with("proxies %s and %s both name it; run one aftershock proxy per upstream", ps[0].Name, p.Name))
			return
		}
	}
	if len(ps) == 0 {
		writeJSON(w, http.StatusCreated, map[string][]ToxiproxyProxy{"proxies": {}})
		return
	}
	p := ps[len(ps)-1]
	a.mu.Lock()
	switch a.toxiproxyName {
	case p.Name: // as it is
	case defaultToxiproxyName:
		err = a.adoptLocked(p)
	default:
		err = errOneListener.with("it is proxy %s already; DELETE /proxies/%s first to name it %s", a.toxiproxyName, a.toxiproxyName, p.Name)
	}
	a.mu.Unlock()
	if err != nil {
		status := http.StatusInternalServerError
		var ae apiError
		if errors.As(err, &ae) {
			status = ae.status
		}
		answer(status, err)
		return
	}
	answer(http.StatusCreated, nil)
}

// updateProxy serves POST (or PATCH) /proxies/NAME: enabled false takes the
// upstream down, true brings it back. Listen and upstream cannot change.
func (a *API) updateProxy(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(w, r)
	if err != nil {
		writeToxiError(w, err)
		return
	}
	// Left-out fields keep their values, as in Toxiproxy.
	p := proxyInput{Name: r.PathValue("proxy"), Listen: a.info.Listen, Upstream: a.info.Forward}
	if err := json.Unmarshal(data, &p); err != nil {
		writeToxiError(w, errBadBody.with("%v", err))
		return
	}
	if !sameAddr(p.Listen, a.info.Listen) || !sameAddr(p.Upstream, a.info.Forward) {
		writeToxiError(w, errOneListener.with("its listen %s and upstream %s cannot change (asked: %s → %s); run another aftershock proxy",
			a.info.Listen, a.info.Forward, p.Listen, p.Upstream))
		return
	}
	if p.Enabled != nil {
		a.mu.Lock()
		err = a.enableLocked(*p.Enabled)
		a.mu.Unlock()
		if err != nil {
			writeToxiError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, a.toxiproxy())
}

// enableLocked brings the upstream up, or takes it down (proxy.Down: not
// listening, connections closed) until it is enabled again or reset.
// a.mu is held.
func (a *API) enableLocked(enabled bool) error {
	disabled := slices.Contains(a.names(), disabledFault)
	switch {
	case enabled && disabled:
		if err := a.tcp.Remove(disabledFault); err != nil {
			return fmt.Errorf("enabling: %w", err)
		}
		delete(a.blocks, disabledFault)
	case !enabled && !disabled:
		if err := a.tcp.Add(disabledFault, proxy.Down{}, 0); err != nil {
			return fmt.Errorf("disabling: %w", err)
		}
		a.blocks[disabledFault] = json.RawMessage(`{"toxiproxy":{"enabled":false}}`)
	}
	return nil
}

// sameAddr compares host:port addresses, resolving nothing: "localhost"
// and 127.0.0.1 are the same here, since the proxy listens on loopback; an
// empty or unspecified host (":8474", "0.0.0.0:8474") matches any host and
// port 0 (pick one) any port, since the proxy has one listener.
func sameAddr(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	norm := func(h string) string {
		switch h {
		case "localhost", "::1", "[::1]":
			return "127.0.0.1"
		case "", "0.0.0.0", "::":
			return "*"
		}
		return h
	}
	ah, bh = norm(ah), norm(bh)
	return err1 == nil && err2 == nil && (ap == bp || ap == "0" || bp == "0") && (ah == bh || ah == "*" || bh == "*")
}

// toxiproxy describes the proxy and its toxics as Toxiproxy does.
func (a *API) toxiproxy() ToxiproxyProxy {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := ToxiproxyProxy{Name: a.toxiproxyName, Listen: a.info.Listen, Upstream: a.info.Forward, Enabled: true, Toxics: []Toxic{}}
	for _, f := range a.active() {
		if t, ok := a.toxics[f.Name]; ok {
			p.Toxics = append(p.Toxics, t)
		}
		if f.Name == disabledFault {
			p.Enabled = false
		}
	}
	return p
}

func (a *API) addToxic(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(w, r)
	if err != nil {
		writeToxiError(w, err)
		return
	}
	t := Toxic{Stream: "downstream", Toxicity: 1}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		writeToxiError(w, errBadBody.with("%v", err))
		return
	}
	if t.Stream == "" {
		t.Stream = "downstream"
	}
	if t.Name == "" {
		t.Name = t.Type + "_" + t.Stream
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if slices.Contains(a.names(), t.Name) {
		writeToxiError(w, errToxicExists.with("%s", t.Name))
		return
	}
	t, f, err := toxicFault(t)
	if err != nil {
		writeToxiError(w, err)
		return
	}
	// Toxics have no lease in Toxiproxy; they stay until deleted.
	if err := a.tcp.Add(t.Name, f, 0); err != nil {
		writeToxiError(w, fmt.Errorf("setting toxic %q: %w", t.Name, err))
		return
	}
	var block bytes.Buffer
	_ = json.Compact(&block, data)
	a.blocks[t.Name] = block.Bytes()
	a.toxics[t.Name] = t
	writeJSON(w, http.StatusOK, t)
}

// updateToxic serves POST (or PATCH) /proxies/NAME/toxics/TOXIC: the
// attributes given replace those of the toxic, the others stay; toxicity
// changes if given. Every connection draws again, as in Toxiproxy.
func (a *API) updateToxic(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(w, r)
	if err != nil {
		writeToxiError(w, err)
		return
	}
	var in struct {
		Name, Type, Stream string
		Toxicity           *float64       `json:"toxicity"`
		Attributes         map[string]any `json:"attributes"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeToxiError(w, errBadBody.with("%v", err))
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	name := r.PathValue("toxic")
	old, ok := a.toxics[name]
	if !ok || !slices.Contains(a.names(), name) {
		writeToxiError(w, errToxicNotFound.with("%s", name))
		return
	}
	switch {
	case in.Name != "" && in.Name != old.Name, in.Type != "" && in.Type != old.Type, in.Stream != "" && !strings.EqualFold(in.Stream, old.Stream):
		writeToxiError(w, errBadBody.with("a toxic's name, type and stream cannot change (toxic %s is %s, %s); delete it and add another", old.Name, old.Type, old.Stream))
		return
	}
	t := old
	t.Attributes = map[string]any{}
	for k, v := range old.Attributes {
		t.Attributes[k] = v
	}
	for k, v := range in.Attributes {
		t.Attributes[k] = v
	}
	if in.Toxicity != nil {
		t.Toxicity = *in.Toxicity
	}
	t, f, err := toxicFault(t)
	if err != nil {
		writeToxiError(w, err)
		return
	}
	if err := a.tcp.Replace(name, f, 0); err != nil {
		writeToxiError(w, fmt.Errorf("updating toxic %q: %w", name, err))
		return
	}
	a.toxics[name] = t
	writeJSON(w, http.StatusOK, t)
}

func (a *API) removeToxic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("toxic")
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.toxics[name]; !ok {
		writeToxiError(w, errToxicNotFound.with("%s", name))
		return
	}
	if err := a.tcp.Remove(name); err != nil {
		if errors.Is(err, proxy.ErrNotFound) {
			err = errToxicNotFound.with("%s", name)
		}
		writeToxiError(w, err)
		return
	}
	delete(a.blocks, name)
	delete(a.toxics, name)
	w.WriteHeader(http.StatusNoContent)
}

// toxicFault checks a toxic and maps it onto a proxy fault. The toxic comes
// back with its attributes complete (0 for those left out), as Toxiproxy
// shows them.
func toxicFault(t Toxic) (Toxic, proxy.Fault, error) {
	var dir proxy.Direction
	switch strings.ToLower(t.Stream) {
	case "downstream":
		dir = proxy.To // upstream → client, as Toxiproxy reads it
	case "upstream":
		dir = proxy.From
	default:
		return t, nil, errBadStream.with("%q", t.Stream)
	}
	keys, ok := toxicAttributes[t.Type]
	if !ok {
		return t, nil, errBadToxicType.with("%q; this proxy acts out %s", t.Type, strings.Join(toxicTypes(), ", "))
	}
	if !(t.Toxicity >= 0 && t.Toxicity <= 1) {
		return t, nil, errBadBody.with("toxicity %v is outside [0, 1]: the share of connections the toxic applies to", t.Toxicity)
	}
	var errs []error
	for k := range t.Attributes {
		if !slices.Contains(keys, k) {
			errs = append(errs, fmt.Errorf("attributes.%s: unknown for %s (allowed: %s)", k, t.Type, strings.Join(keys, ", ")))
		}
	}
	attrs := map[string]any{}
	num := func(key string) int64 {
		v, ok := t.Attributes[key]
		if !ok {
			attrs[key] = int64(0)
			return 0
		}
		var n float64
		switch v := v.(type) {
		case float64: // from JSON
			n = v
		case int64: // kept from an earlier toxic, by an update
			n = float64(v)
		default:
			ok = false
		}
		if !ok || n < 0 || n != float64(int64(n)) {
			errs = append(errs, fmt.Errorf("attributes.%s: %v is not a whole number >= 0", key, v))
			return 0
		}
		attrs[key] = int64(n)
		return int64(n)
	}
	ms := func(key string) time.Duration { return time.Duration(num(key)) * time.Millisecond }
	var f proxy.Fault
	switch t.Type {
	case "latency":
		f = proxy.Delay{Direction: dir, Latency: ms("latency"), Jitter: ms("jitter")}
	case "bandwidth":
		f = proxy.Bandwidth{Direction: dir, Rate: num("rate") * 1000} // KB/s
	case "slow_close":
		f = proxy.SlowClose{Direction: dir, Delay: ms("delay")}
	case "timeout":
		f = proxy.Timeout{Direction: dir, After: ms("timeout")}
	case "reset_peer":
		f = proxy.ResetPeer{Direction: dir, After: ms("timeout")}
	case "slicer":
		f = proxy.Slicer{Direction: dir, AverageSize: int(num("average_size")), SizeVariation: int(num("size_variation")),
			Delay: time.Duration(num("delay")) * time.Microsecond}
	case "limit_data":
		f = proxy.DataLimit{Direction: dir, Bytes: num("bytes")}
	}
	if err := errors.Join(errs...); err != nil {
		return t, nil, errBadBody.with("%v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if err := f.Validate(); err != nil {
		return t, nil, errBadBody.with("attributes: %v", err)
	}
	if t.Toxicity < 1 {
		f = proxy.Sometimes{Fault: f, Toxicity: t.Toxicity}
	}
	t.Attributes = attrs
	return t, f, nil
}
