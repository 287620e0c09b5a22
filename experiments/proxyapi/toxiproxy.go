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
	"time"

	"github.com/aftershock/aftershock/injectors/proxy"
)

// A Toxiproxy-compatible API beside the native one, so that Toxiproxy
// clients and scripts drive this proxy as they are. The proxy is fixed:
// it appears as one Toxiproxy proxy, named after the first POST /proxies
// that describes it (listen and upstream as this proxy's) or "aftershock".
// Toxics map onto the proxy's faults; they share the fault names of
// /faults, and toxicity must be 1 (every connection), since the proxy's
// faults act on every connection.
//
//	GET    /version
//	GET    /proxies, /proxies/NAME
//	POST   /proxies                      201 if it describes this proxy, else 409
//	GET    /proxies/NAME/toxics[/TOXIC]
//	POST   /proxies/NAME/toxics          latency, bandwidth, slow_close, timeout, reset_peer, limit_data
//	DELETE /proxies/NAME/toxics/TOXIC
//	DELETE /proxies/NAME                 clears every fault (the proxy stays)
//	POST   /reset                        clears every fault

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

// toxicTypes are the toxics this proxy can act out.
var toxicTypes = []string{"latency", "bandwidth", "slow_close", "timeout", "reset_peer", "limit_data"}

func (a *API) routeToxiproxy() {
	a.mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "aftershock"})
	})
	a.mux.HandleFunc("GET /proxies", func(w http.ResponseWriter, _ *http.Request) {
		p := a.toxiproxy()
		writeJSON(w, http.StatusOK, map[string]ToxiproxyProxy{p.Name: p})
	})
	a.mux.HandleFunc("POST /proxies", a.createProxy)
	a.mux.HandleFunc("GET /proxies/{proxy}", a.withProxy(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.toxiproxy())
	}))
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
		writeError(w, http.StatusNotFound, fmt.Errorf("toxic not found: %s", r.PathValue("toxic")))
	}))
	a.mux.HandleFunc("POST /proxies/{proxy}/toxics", a.withProxy(a.addToxic))
	a.mux.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", a.withProxy(func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("name", r.PathValue("toxic"))
		a.remove(w, r)
	}))
	a.mux.HandleFunc("DELETE /proxies/{proxy}", a.withProxy(func(w http.ResponseWriter, r *http.Request) {
		// The proxy itself outlives this: it clears its faults and
		// forgets the name it was given.
		a.removeAll(w, r)
		a.mu.Lock()
		a.toxiproxyName = defaultToxiproxyName
		a.mu.Unlock()
	}))
	a.mux.HandleFunc("POST /reset", a.removeAll)
}

// withProxy answers 404 for a proxy name that is not this proxy's.
func (a *API) withProxy(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if name := a.toxiName(); r.PathValue("proxy") != name {
			writeError(w, http.StatusNotFound, fmt.Errorf("proxy not found: %s (this proxy is %s)", r.PathValue("proxy"), name))
			return
		}
		h(w, r)
	}
}

func (a *API) toxiName() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.toxiproxyName
}

// createProxy accepts a proxy that describes this one and adopts its name.
func (a *API) createProxy(w http.ResponseWriter, r *http.Request) {
	var p ToxiproxyProxy
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&p); err != nil || p.Name == "" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad proxy: want {name, listen, upstream}: %v", err))
		return
	}
	if !sameAddr(p.Listen, a.info.Listen) || !sameAddr(p.Upstream, a.info.Forward) {
		writeError(w, http.StatusConflict, fmt.Errorf("this aftershock proxy is fixed at listen %s, upstream %s; it cannot create %s (%s → %s)",
			a.info.Listen, a.info.Forward, p.Name, p.Listen, p.Upstream))
		return
	}
	a.mu.Lock()
	a.toxiproxyName = p.Name
	a.mu.Unlock()
	writeJSON(w, http.StatusCreated, a.toxiproxy())
}

// sameAddr compares host:port addresses, resolving nothing: "localhost"
// and 127.0.0.1 are the same here, since the proxy listens on loopback.
func sameAddr(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	norm := func(h string) string {
		if h == "localhost" {
			return "127.0.0.1"
		}
		return h
	}
	return err1 == nil && err2 == nil && ap == bp && norm(ah) == norm(bh)
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
	}
	return p
}

func (a *API) addToxic(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("reading body: %w", err))
		return
	}
	t, f, err := parseToxic(data)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if slices.Contains(a.names(), t.Name) {
		writeError(w, http.StatusConflict, fmt.Errorf("toxic already exists: %s", t.Name))
		return
	}
	// Toxics have no lease in Toxiproxy; they stay until deleted.
	if err := a.tcp.Add(t.Name, f, 0); err != nil {
		writeError(w, statusOf(err), fmt.Errorf("setting toxic %q: %w", t.Name, err))
		return
	}
	var block bytes.Buffer
	_ = json.Compact(&block, data)
	a.blocks[t.Name] = block.Bytes()
	a.toxics[t.Name] = t
	writeJSON(w, http.StatusOK, t)
}

// parseToxic reads a toxic and maps it onto a proxy fault.
func parseToxic(data []byte) (Toxic, proxy.Fault, error) {
	t := Toxic{Stream: "downstream", Toxicity: 1}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, nil, fmt.Errorf("bad toxic: %w", err)
	}
	var dir proxy.Direction
	switch t.Stream {
	case "downstream":
		dir = proxy.To // upstream → client, as Toxiproxy reads it
	case "upstream":
		dir = proxy.From
	default:
		return t, nil, fmt.Errorf("stream: unknown stream %q; allowed: upstream, downstream", t.Stream)
	}
	if t.Toxicity != 1 {
		return t, nil, fmt.Errorf("toxicity: %v is not supported; this proxy's faults act on every connection (toxicity 1)", t.Toxicity)
	}
	if t.Name == "" {
		t.Name = t.Type + "_" + t.Stream
	}
	if t.Attributes == nil {
		t.Attributes = map[string]any{}
	}
	var errs []error
	num := func(key string) int64 {
		v, ok := t.Attributes[key]
		if !ok {
			return 0
		}
		n, ok := v.(float64)
		if !ok || n < 0 || n != float64(int64(n)) {
			errs = append(errs, fmt.Errorf("attributes.%s: %v is not a whole number >= 0", key, v))
		}
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
		if ms("timeout") != 0 {
			errs = append(errs, errors.New("attributes.timeout: reset_peer after a timeout is not supported; use 0"))
		}
		f = proxy.Reset{Direction: proxy.Both}
	case "limit_data":
		f = proxy.DataLimit{Direction: dir, Bytes: num("bytes")}
	default:
		return t, nil, fmt.Errorf("type: unknown toxic type %q; allowed: %v", t.Type, toxicTypes)
	}
	if err := errors.Join(errs...); err != nil {
		return t, nil, err
	}
	if err := f.Validate(); err != nil {
		return t, nil, fmt.Errorf("attributes: %w", err)
	}
	return t, f, nil
}
