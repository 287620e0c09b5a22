package proxyapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// API is the control API of one fault proxy; it is an http.Handler.
type API struct {
	tcp  *proxy.Proxy
	http *httpfault.Proxy // nil for a tcp proxy
	info Info
	mux  *http.ServeMux

	// mu makes each change (check, then set) atomic, so that two POSTs of
	// one name cannot both pass the duplicate check.
	mu sync.Mutex
	// blocks holds each fault's block as submitted, by name. A fault whose
	// lease ran out leaves its block behind until the next listing or a
	// new fault of that name.
	blocks map[string]json.RawMessage
	// toxics holds the faults set through the Toxiproxy API, as toxics.
	toxics map[string]Toxic
	// toxiproxyName is the name the proxy has in the Toxiproxy API.
	toxiproxyName string
}

// New returns the API of a TCP fault proxy: networkChaos faults only.
func New(p *proxy.Proxy) *API {
	return newAPI(p, nil, experiments.ProtocolTCP)
}

// NewHTTP returns the API of an HTTP fault proxy: httpChaos faults, and
// networkChaos faults on its network proxy.
func NewHTTP(p *httpfault.Proxy) *API {
	return newAPI(p.Network(), p, experiments.ProtocolHTTP)
}

// NewH2 returns the API of an HTTP/2 fault proxy (httpfault.NewH2) of
// protocol h2c or grpc: httpChaos faults per stream, grpcChaos faults per
// call on a grpc one, and networkChaos faults on its upstream leg.
func NewH2(p *httpfault.Proxy, protocol experiments.Protocol) *API {
	return newAPI(p.Network(), p, protocol)
}

func newAPI(tcp *proxy.Proxy, hp *httpfault.Proxy, protocol experiments.Protocol) *API {
	listen := tcp.Addr().String()
	if hp != nil {
		listen = hp.Addr().String() // an HTTP/2 proxy's network leg listens elsewhere
	}
	a := &API{
		tcp:    tcp,
		http:   hp,
		info:   Info{Listen: listen, Forward: tcp.Forward(), Protocol: protocol},
		mux:    http.NewServeMux(),
		blocks: map[string]json.RawMessage{},
		toxics: map[string]Toxic{},

		toxiproxyName: defaultToxiproxyName,
	}
	a.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, a.info) })
	a.mux.HandleFunc("GET /faults", a.list)
	a.mux.HandleFunc("GET /faults/{name}", a.get)
	a.mux.HandleFunc("POST /faults", a.add)
	a.mux.HandleFunc("DELETE /faults/{name}", a.remove)
	a.mux.HandleFunc("DELETE /faults", a.removeAll)
	a.routeToxiproxy()
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint %s %s; see GET /faults, POST /faults, DELETE /faults/NAME, DELETE /faults, or Toxiproxy's /proxies", r.Method, r.URL.Path))
	})
	return a
}

// Info describes the proxy the API controls.
func (a *API) Info() Info { return a.info }

// ServeHTTP serves the control API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Faults lists the active faults, oldest first.
func (a *API) Faults() []Fault {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active()
}

// active lists the faults the proxies hold (they drop the expired ones
// themselves) and forgets the blocks of faults gone. a.mu is held.
func (a *API) active() []Fault {
	var out []Fault
	for _, f := range a.tcp.Faults() {
		out = append(out, Fault{Name: f.Name, Kind: experiments.KindNetwork, Description: f.Fault.String(),
			Block: a.blocks[f.Name], Added: f.Added, Expires: f.Expires})
	}
	if a.http != nil {
		for _, f := range a.http.Faults() {
			out = append(out, Fault{Name: f.Name, Kind: experiments.KindHTTP, Description: f.Fault.String(),
				Block: a.blocks[f.Name], Added: f.Added, Expires: f.Expires})
		}
		for _, f := range a.http.Calls().Faults() {
			out = append(out, Fault{Name: f.Name, Kind: experiments.KindGRPC, Description: f.Fault.String(),
				Block: a.blocks[f.Name], Added: f.Added, Expires: f.Expires})
		}
	}
	slices.SortStableFunc(out, func(x, y Fault) int { return cmp.Or(x.Added.Compare(y.Added), cmp.Compare(x.Name, y.Name)) })
	for name := range a.blocks {
		if !slices.ContainsFunc(out, func(f Fault) bool { return f.Name == name }) {
			delete(a.blocks, name)
			delete(a.toxics, name)
		}
	}
	if out == nil {
		out = []Fault{} // [] rather than null
	}
	return out
}

func (a *API) list(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.Faults())
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	for _, f := range a.Faults() {
		if f.Name == name {
			writeJSON(w, http.StatusOK, f)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("no fault named %q", name))
}

func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.tcp.Remove(name)
	if errors.Is(err, proxy.ErrNotFound) && a.http != nil {
		err = a.http.Remove(name)
		if errors.Is(err, proxy.ErrNotFound) {
			err = a.http.Calls().Remove(name)
		}
	}
	switch {
	case errors.Is(err, proxy.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Errorf("no fault named %q", name))
	case err != nil:
		writeError(w, statusOf(err), fmt.Errorf("clearing fault %q: %w", name, err))
	default:
		delete(a.blocks, name)
		delete(a.toxics, name)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *API) removeAll(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.removeAllLocked(); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeAllLocked clears every fault. Its only error is a disabled proxy
// (Toxiproxy's API) that could not listen again. a.mu is held.
func (a *API) removeAllLocked() error {
	err := a.tcp.RemoveAll()
	if a.http != nil {
		a.http.RemoveAll()
	}
	clear(a.blocks)
	clear(a.toxics)
	return err
}

// statusOf maps an error of the proxy to a status: a closed proxy is
// unavailable, anything else is the server's fault.
func statusOf(err error) int {
	if errors.Is(err, proxy.ErrClosed) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

// writeError answers with an Error; Problems in err become its problems.
func writeError(w http.ResponseWriter, status int, err error) {
	body := Error{Error: err.Error(), Status: status}
	if ps, ok := experiments.AsProblems(err); ok {
		lines := make([]string, len(ps))
		for i, p := range ps {
			body.Problems = append(body.Problems, Problem{Path: p.Path, Line: p.Pos.Line, Column: p.Pos.Column, Detail: p.Detail, Allowed: p.Allowed})
			lines[i] = p.Error()
		}
		body.Error = strings.Join(lines, "; ")
	}
	writeJSON(w, status, body)
}
