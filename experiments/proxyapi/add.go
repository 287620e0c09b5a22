package proxyapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// maxBody bounds a POST body; a fault block is a few hundred bytes.
const maxBody = 64 << 10

// add serves POST /faults. Every check runs before the fault is set, so a
// 400 changes nothing.
func (a *API) add(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body is larger than %d bytes; send one fault block", maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("reading body: %w", err))
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := a.check(data)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	lease := f.Duration.Duration
	switch f.Kind() {
	case experiments.KindNetwork:
		err = a.tcp.Add(f.Name, f.network, lease)
	case experiments.KindHTTP:
		err = a.http.Add(f.Name, f.http, lease)
	case experiments.KindGRPC:
		err = a.http.Calls().Add(f.Name, f.grpc, lease)
	}
	if err != nil {
		// Checked above under a.mu; only a closed proxy gets here.
		writeError(w, statusOf(err), fmt.Errorf("setting fault %q: %w", f.Name, err))
		return
	}
	var block bytes.Buffer
	_ = json.Compact(&block, data) // valid JSON: checked
	a.blocks[f.Name] = block.Bytes()
	delete(a.toxics, f.Name) // a toxic of that name whose lease ran out
	for _, active := range a.active() {
		if active.Name == f.Name {
			w.Header().Set("Location", "/faults/"+f.Name)
			writeJSON(w, http.StatusCreated, active)
			return
		}
	}
	// A lease shorter than this request ran out already.
	writeJSON(w, http.StatusCreated, Fault{Name: f.Name, Kind: f.Kind(), Block: a.blocks[f.Name]})
}

// problem returns one problem at path as the Problems a 400 carries.
func problem(path string, allowed []string, format string, args ...any) error {
	return experiments.Problems{{File: "body", Path: path, Detail: fmt.Sprintf(format, args...), Allowed: allowed}}
}

// names lists the faults set, network, HTTP and gRPC: a name is unique
// across them, so that DELETE /faults/NAME means one fault.
func (a *API) names() []string {
	var out []string
	for _, f := range a.tcp.Faults() {
		out = append(out, f.Name)
	}
	if a.http != nil {
		for _, f := range a.http.Faults() {
			out = append(out, f.Name)
		}
		for _, f := range a.http.Calls().Faults() {
			out = append(out, f.Name)
		}
	}
	return out
}

// fault is a checked block with the proxy fault it maps onto.
type fault struct {
	*experiments.Fault
	network proxy.Fault
	http    httpfault.Fault
	grpc    httpfault.GRPCFault
}

// check validates a body as a fault of this proxy: the Drill file's strict
// loader first, then what only the proxy knows.
func (a *API) check(data []byte) (*fault, error) {
	// Another engine is refused as such, before the loader says how that
	// engine would want its upstream.
	var peek struct {
		Engine experiments.Engine `json:"engine"`
	}
	if json.Unmarshal(data, &peek) == nil && peek.Engine != "" && peek.Engine != experiments.EngineProxy {
		return nil, problem("engine", []string{string(experiments.EngineProxy)}, "engine %q is not this proxy; leave engine out", peek.Engine)
	}
	up := experiments.Upstream{Listen: a.info.Listen, Forward: a.info.Forward, Protocol: a.info.Protocol, Engine: experiments.EngineProxy}
	f, err := experiments.ParseFaultJSON("body", data, up)
	if err != nil {
		return nil, err
	}
	kinds := []string{"networkChaos"}
	if a.http != nil {
		kinds = append(kinds, "httpChaos")
	}
	if a.info.Protocol == experiments.ProtocolGRPC {
		kinds = append(kinds, "grpcChaos")
	}
	switch {
	case f.Kind() == experiments.KindStall:
		return nil, problem("stalledClients", kinds, "stalled clients are clients of the service under test, not a fault of this proxy; run them in a drill (aftershock drill)")
	case f.Engine != experiments.EngineProxy:
		return nil, problem("engine", []string{string(experiments.EngineProxy)}, "engine %q is not this proxy; leave engine out", f.Engine)
	case slices.Contains(a.names(), f.Name):
		return nil, problem("name", nil, "fault name %q is already in use; DELETE /faults/%s first, or choose another name", f.Name, f.Name)
	}
	out := &fault{Fault: f}
	switch f.Kind() {
	case experiments.KindNetwork:
		np, err := f.Network()
		if err != nil {
			return nil, problem("networkChaos", nil, "%s", err)
		}
		if out.network, err = experiments.ProxyFault(np); err != nil {
			return nil, problem("networkChaos", nil, "%s", err)
		}
	case experiments.KindHTTP:
		hp, err := f.HTTP()
		if err != nil {
			return nil, problem("httpChaos", nil, "%s", err)
		}
		out.http = experiments.HTTPFault(hp)
		if err := out.http.Validate(); err != nil {
			return nil, problem("httpChaos", nil, "%s", err)
		}
	case experiments.KindGRPC:
		if out.grpc, err = experiments.GRPCFault(f.GRPCChaos); err != nil {
			return nil, problem("grpcChaos", nil, "%s", err)
		}
	}
	return out, nil
}
